package flows_test

// The introspect and revoke steps (RFC 7662, RFC 7009) and the revocation
// checks of http and refresh steps, against the real oidc-provider: its
// own endpoints for the passing flows and the real refusals, and
// REVOCATION=ineffective (a revocation endpoint that answers 200 and
// revokes nothing) for revocation_ineffective.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

const irOpaqueResource = "https://opaque.example.test/"

var irSecretEnv = map[string]string{
	"CC_SECRET":      "cc-secret",
	"APP_SECRET":     "app-secret",
	"ALICE_PASSWORD": "alice-password",
	"WRONG_SECRET":   "canary-wrong-introspect-secret-61d3",
	"BOGUS_TOKEN":    "canary-bogus-access-token-0b7e5d",
}

// irCanary checks that no secret, and no token a flow received, shows.
type irCanary struct {
	r       *flows.Runner
	secrets []string
}

func irNewCanary(extra ...string) *irCanary {
	c := &irCanary{r: itTappedRunner(itLookupFrom(irSecretEnv, nil))}
	for _, v := range irSecretEnv {
		c.secrets = append(c.secrets, v)
	}
	c.secrets = append(c.secrets, extra...)
	return c
}

func (c *irCanary) run(t *testing.T, yaml string) *flows.Result {
	t.Helper()
	res := itRunYAML(t, c.r, yaml)
	// A new slice: parallel subtests share c, and appending to c.secrets
	// would write into its spare capacity from each of them.
	itAssertNoSecrets(t, slices.Concat(c.secrets, itReceived(c.r)), res)
	return res
}

// irIntrospectingAPI is an API that checks each bearer token at the IdP's
// introspection endpoint (as cc-client), as APIs with opaque tokens do:
// 200 when active, else 401 invalid_token.
func irIntrospectingAPI(t *testing.T, issuer string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, issuer+"/token/introspection", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("cc-client", "cc-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, "introspection failed", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var in struct {
			Active bool `json:"active"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&in); err != nil || !in.Active {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="the token is not active"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// irClient is the issuer and client lines of a cc-client step.
func irClient(issuer string) string {
	return "    issuer: \"" + issuer + "\"\n    client_id: cc-client\n    client_secret: ${env:CC_SECRET}\n"
}

// irRevokeFlow: a client_credentials token for the opaque API, checked by
// introspection and the API, revoked, then checked dead by introspection
// and by the API; skip leaves out steps by id.
func irRevokeFlow(issuer, api string, skip ...string) string {
	c := irClient(issuer)
	steps := []struct{ id, yaml string }{
		{"token", "    kind: client_credentials\n    scopes: [api:read]\n    resource: [\"" + irOpaqueResource + "\"]\n" + c},
		{"active", "    kind: introspect\n    token: ${steps.token.access_token}\n" + c +
			"    expect: {active: true, scopes: [\"api:read\"], audience: [\"" + irOpaqueResource + "\"], client_id: cc-client, cnf: absent, min_lifetime: 1m}\n"},
		{"api", "    kind: http\n    url: " + api + "\n    auth: {bearer: \"${steps.token.access_token}\"}\n"},
		{"revoke", "    kind: revoke\n    token: ${steps.token.access_token}\n" + c},
		{"gone", "    kind: introspect\n    token: ${steps.token.access_token}\n" + c + "    expect: {revoked: true}\n"},
		{"api_refuses", "    kind: http\n    url: " + api + "\n    auth: {bearer: \"${steps.token.access_token}\"}\n    expect: {revoked: true}\n"},
	}
	var b strings.Builder
	b.WriteString("name: ir-revoke\nevery: 1m\nsteps:\n")
	for _, s := range steps {
		if !slices.Contains(skip, s.id) {
			fmt.Fprintf(&b, "  - id: %s\n%s", s.id, s.yaml)
		}
	}
	return b.String()
}

// irRefreshFlow logs alice in (app-client), revokes the refresh token and
// refreshes with it, which must be refused.
func irRefreshFlow(issuer string) string {
	return fmt.Sprintf(`
name: ir-refresh
every: 1m
steps:
  - id: login
    kind: login
    issuer: "%[1]s"
    redirect_uri: http://127.0.0.1/callback
    timeout: 20s
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: alice
    password: ${env:ALICE_PASSWORD}
    scopes: [openid, offline_access]
  - id: live
    kind: introspect
    issuer: "%[1]s"
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    token: ${steps.login.refresh_token}
    expect: {client_id: app-client}
  - id: revoke
    kind: revoke
    issuer: "%[1]s"
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    token: ${steps.login.refresh_token}
  - id: refresh
    kind: refresh
    issuer: "%[1]s"
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    refresh_token: ${steps.login.refresh_token}
    expect: {error: invalid_grant}
`, issuer)
}

// proves: invalid_token, invalid_client, scope_missing, audience_mismatch, idp_error, assertion_failed, token_binding_mismatch
func TestIntegrationIntrospectRevoke(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
	api := irIntrospectingAPI(t, p.Issuer)
	canary := irNewCanary()

	t.Run("pass: introspect, revoke, introspect and API refuse", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, irRevokeFlow(p.Issuer, api))
		itMustPass(t, res)
		for id, want := range map[string]string{"active": "active=true", "gone": "active=false"} {
			if body := irLastBody(t, res, id); !strings.Contains(body, strings.Split(want, "=")[1]) {
				t.Errorf("step %s: introspection answer %q, want %s", id, body, want)
			}
		}
		if req := irLastRequest(t, res, "revoke"); !strings.Contains(req, "token_type_hint=access_token") || !strings.Contains(req, "token=[redacted") {
			t.Errorf("revocation request body %q: want a redacted token and token_type_hint=access_token", req)
		}
	})
	t.Run("pass: a revoked refresh token is refused", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, canary.run(t, irRefreshFlow(p.Issuer)))
	})

	fail := []struct {
		name, flow, step string
		want             flows.Reason
		summary          []string
	}{
		{"wrong client secret", strings.Replace(irRevokeFlow(p.Issuer, api, "api", "revoke", "gone", "api_refuses"),
			"client_secret: ${env:CC_SECRET}\n    expect", "client_secret: ${env:WRONG_SECRET}\n    expect", 1),
			"active", flows.ReasonInvalidClient, []string{"the introspection endpoint refused the client credentials", "401 invalid_client"}},
		{"scope missing", strings.Replace(irRevokeFlow(p.Issuer, api, "api", "revoke", "gone", "api_refuses"), "scopes: [\"api:read\"], audience", "scopes: [\"api:write\"], audience", 1),
			"active", flows.ReasonScopeMissing, []string{"introspected token lacks [api:write]"}},
		{"audience mismatch", strings.Replace(irRevokeFlow(p.Issuer, api, "api", "revoke", "gone", "api_refuses"), "audience: [\""+irOpaqueResource, "audience: [\"https://billing.example.test/", 1),
			"active", flows.ReasonAudienceMismatch, []string{"introspected token's aud", "billing.example.test"}},
		{"bound token expected", strings.Replace(irRevokeFlow(p.Issuer, api, "api", "revoke", "gone", "api_refuses"), "cnf: absent", "cnf: jkt", 1),
			"active", flows.ReasonTokenBindingMismatch, []string{"no cnf", "bearer token"}},
		{"revoked token expected active", irRevokeFlow(p.Issuer, api, "gone", "api_refuses") + "  - id: again\n    kind: introspect\n    token: ${steps.token.access_token}\n" + irClient(p.Issuer),
			"again", flows.ReasonInvalidToken, []string{"not active", `step "revoke" of this run revoked it`, "expect.revoked"}},
		{"unknown token", "name: ir-bogus\nevery: 1m\nsteps:\n  - id: bogus\n    kind: introspect\n    token: ${env:BOGUS_TOKEN}\n" + irClient(p.Issuer),
			"bogus", flows.ReasonInvalidToken, []string{"not active (RFC 7662 active: false"}},
		{"JWT access token", strings.Replace(irRevokeFlow(p.Issuer, api, "api", "revoke", "gone", "api_refuses"), irOpaqueResource, itApiResource, -1),
			"active", flows.ReasonIdPError, []string{"unsupported_token_type", "cannot introspect this kind of token"}},
	}
	for _, c := range fail {
		t.Run("fail: "+c.name, func(t *testing.T) {
			t.Parallel()
			f := itMustFail(t, canary.run(t, c.flow), c.step, c.want)
			itSummaryHas(t, f, c.summary...)
		})
	}
}

// proves: revocation_ineffective
func TestIntegrationRevocationIneffective(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "REVOCATION": "ineffective"})
	api := irIntrospectingAPI(t, p.Issuer)
	canary := irNewCanary()
	cases := []struct {
		name, flow, step string
		summary          []string
	}{
		{"introspection says active", irRevokeFlow(p.Issuer, api), "gone",
			[]string{"a revoked token is still active", `step "revoke" of this run revoked it`}},
		{"the API still answers", irRevokeFlow(p.Issuer, api, "gone"), "api_refuses",
			[]string{"answered 200 to a revoked token", `step "revoke" of this run revoked it`}},
		{"the refresh token still works", irRefreshFlow(p.Issuer), "refresh",
			[]string{"issued tokens for a refresh token that step \"revoke\" of this run revoked"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := itMustFail(t, canary.run(t, c.flow), c.step, flows.ReasonRevocationIneffective)
			itSummaryHas(t, f, c.summary...)
			itFactIs(t, f, "revoked_by_step", "revoke")
		})
	}
}

// irLastBody is the response body of a step's last exchange.
func irLastBody(t *testing.T, res *flows.Result, id string) string {
	t.Helper()
	ex := itStep(t, res, id).Exchanges
	if len(ex) == 0 {
		t.Fatalf("step %s recorded no exchange", id)
	}
	return ex[len(ex)-1].Body
}

// irLastRequest is the request body of a step's last exchange.
func irLastRequest(t *testing.T, res *flows.Result, id string) string {
	t.Helper()
	ex := itStep(t, res, id).Exchanges
	if len(ex) == 0 {
		t.Fatalf("step %s recorded no exchange", id)
	}
	return ex[len(ex)-1].RequestBody
}

// The introspection and revocation endpoints take the client's assertion
// as the token endpoint does: a private_key_jwt client introspects and
// revokes its own token; a key the IdP does not hold is
// client_assertion_rejected there too.
//
// proves: client_assertion_rejected
func TestIntegrationIntrospectClientAssertion(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	k := caNewKeys(t)
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "EXTRA_CLIENTS": caClients(t, k), "ERROR_DETAIL": "1"})
	canary := irNewCanary(k.secrets()...)
	client := func(key string) string {
		return "    issuer: \"" + p.Issuer + "\"\n    client_id: pkjwt-client\n    client_auth: private_key_jwt\n    client_key: " + k.file(key) + "\n    client_key_id: rsa-1\n"
	}
	flow := func(introspectKey string) string {
		return "name: ir-pkjwt\nevery: 1m\nsteps:\n" +
			"  - id: token\n    kind: client_credentials\n    scopes: [api:read]\n    resource: [\"" + irOpaqueResource + "\"]\n" + client("rsa.pem") +
			"  - id: active\n    kind: introspect\n    token: ${steps.token.access_token}\n    expect: {client_id: pkjwt-client}\n" + client(introspectKey) +
			"  - id: revoke\n    kind: revoke\n    token: ${steps.token.access_token}\n" + client("rsa.pem") +
			"  - id: gone\n    kind: introspect\n    token: ${steps.token.access_token}\n    expect: {revoked: true}\n" + client("rsa.pem")
	}
	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, flow("rsa.pem"))
		itMustPass(t, res)
		for _, id := range []string{"active", "revoke", "gone"} {
			if req := irLastRequest(t, res, id); !strings.Contains(req, "client_assertion=[redacted") || strings.Contains(req, "client_secret=") {
				t.Errorf("step %s request body %q: want a redacted client_assertion and no client_secret", id, req)
			}
		}
	})
	t.Run("key not registered", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, canary.run(t, flow("stray.pem")), "active", flows.ReasonClientAssertionRejected)
		itSummaryHas(t, f, "the introspection endpoint refused the client assertion", `"pkjwt-client"`, "401 invalid_client")
		if aud, _ := itFact(f, "client_assertion_aud"); aud != p.Issuer+"/token/introspection" {
			t.Errorf("client_assertion_aud %q, want the introspection endpoint", aud)
		}
	})
}
