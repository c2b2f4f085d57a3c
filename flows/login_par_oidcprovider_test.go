package flows_test

// Pushed authorization requests (RFC 9126) against the real oidc-provider:
// one that requires them (PAR=required: discovery says so and plain
// authorization requests are refused), and one without a PAR endpoint.

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// parLoginClients registers a code-flow client that authenticates with
// private_key_jwt, for a pushed request signed with the client's key.
func parLoginClients(t *testing.T, k *caKeys) string {
	t.Helper()
	clients := []map[string]any{{
		"client_id": "pkjwt-login", "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"}, "redirect_uris": []string{lopCallback},
		"scope": "openid profile offline_access api:read", "token_endpoint_auth_method": "private_key_jwt",
		"jwks": map[string]any{"keys": []json.RawMessage{caPublicJWK(t, k.rsa, "rsa-1")}},
	}}
	b, err := json.Marshal(clients)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// parAuthorizationRequests are the requests the login made to the
// authorization endpoint (GET /auth...), first hop only.
func parAuthorizationRequests(t *testing.T, s *flows.StepResult) []url.Values {
	t.Helper()
	var out []url.Values
	for _, ex := range s.Exchanges {
		u, err := url.Parse(ex.URL)
		if err == nil && ex.Method == "GET" && u.Path == "/auth" {
			out = append(out, u.Query())
		}
	}
	return out
}

// proves: redirect_uri_mismatch, invalid_client, discovery_failed
func TestOIDCProviderLoginPAR(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	k := caNewKeys(t)
	p := lopProvider(t, map[string]string{"PAR": "required", "EXTRA_CLIENTS": parLoginClients(t, k), "ERROR_DETAIL": "1"})
	canary := lopNewCanary(t)
	r := lopRunner(t, false)

	// A pushed request leaves the browser only client_id and request_uri:
	// redirect_uri, scope, state, nonce and the PKCE challenge travelled in
	// the authenticated POST.
	pushedOnly := func(t *testing.T, res *flows.Result) {
		t.Helper()
		login := itStep(t, res, "login")
		if !lopExchanged(login, "POST", "/request") {
			t.Fatalf("the login pushed no authorization request to /request:\n%s", lopExchanges(login))
		}
		auths := parAuthorizationRequests(t, login)
		if len(auths) == 0 {
			t.Fatalf("no authorization request:\n%s", lopExchanges(login))
		}
		for _, q := range auths {
			for _, leaked := range []string{"redirect_uri", "scope", "state", "nonce", "code_challenge"} {
				if q.Has(leaked) {
					t.Errorf("the authorization request carries %s besides request_uri: %v", leaked, q)
				}
			}
			if q.Get("client_id") == "" || q.Get("request_uri") == "" {
				t.Errorf("the authorization request lacks client_id or request_uri: %v", q)
			}
		}
	}

	t.Run("required_by_discovery", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("par-auto", p.Issuer, lopAlice))
		itMustPass(t, res)
		pushedOnly(t, res)
	})

	t.Run("private_key_jwt", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("par-pkjwt", p.Issuer, "    client_id: pkjwt-login\n    client_auth: private_key_jwt\n    client_key: "+
			k.file("rsa.pem")+"\n    client_key_id: rsa-1\n    par: true\n    username: alice\n    password: ${env:ALICE_PASSWORD}\n"))
		itMustPass(t, res)
		pushedOnly(t, res)
		itAssertNoSecrets(t, k.secrets(), res)
	})

	t.Run("plain_request_refused", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("par-off-flow", p.Issuer, lopAlice+"    par: false\n"))
		f := itMustFail(t, res, "login", flows.ReasonIdPError)
		itSummaryHas(t, f, "Pushed Authorization Request")
	})

	t.Run("wrong_secret", func(t *testing.T) {
		t.Parallel()
		y := strings.Replace(lopLogin("par-wrong-secret", p.Issuer, lopAlice), "${env:APP_SECRET}", "${env:WRONG_PASSWORD}", 1)
		res := canary.run(t, r, y)
		f := itMustFail(t, res, "login", flows.ReasonInvalidClient)
		itSummaryHas(t, f, "PAR endpoint", "invalid_client", "app-client")
		if lopExchanged(itStep(t, res, "login"), "GET", "/auth") {
			t.Errorf("the login went on to the authorization endpoint after a refused PAR request")
		}
	})

	t.Run("unregistered_redirect_uri", func(t *testing.T) {
		t.Parallel()
		y := strings.Replace(lopLogin("par-unregistered-redirect", p.Issuer, lopAlice), lopCallback, "http://127.0.0.1/not-registered", 1)
		res := canary.run(t, r, y)
		f := itMustFail(t, res, "login", flows.ReasonRedirectURIMismatch)
		itSummaryHas(t, f, "PAR endpoint", "redirect_uri")
	})

	t.Run("no_par_endpoint", func(t *testing.T) {
		t.Parallel()
		off := lopProvider(t, map[string]string{"PAR": "off"})
		res := canary.run(t, r, lopLogin("par-unsupported", off.Issuer, lopAlice+"    par: true\n"))
		f := itMustFail(t, res, "login", flows.ReasonDiscoveryFailed)
		itSummaryHas(t, f, "pushed_authorization_request_endpoint", "par: true")
		// The same IdP without par: the plain request still works.
		itMustPass(t, canary.run(t, r, lopLogin("par-unsupported-plain", off.Issuer, lopAlice)))
	})
}
