package flows_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/flows"
)

// etIssuer serves a discovery document (and a JWKS) whose token endpoint
// is tokenEndpoint, wherever that is.
func etIssuer(t *testing.T, tokenEndpoint string) *httptest.Server {
	t.Helper()
	key := itRsaKey(t)
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		itWriteJSONResp(w, 200, map[string]any{
			"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": tokenEndpoint,
			"jwks_uri": srv.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		itWriteJSONResp(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}}})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestTemplatedTokenURLKeepsTheSecretPolicy: a token_url taken from a
// discovery step's token_endpoint is trusted exactly as issuer: trusts
// discovery: the document, fetched from the issuer, names where the client
// authenticates, even on another host. What the redirect guard promises
// holds for the resolved URL: a redirect from the token endpoint is never
// followed, so its target receives nothing.
// proves: idp_error
func TestTemplatedTokenURLKeepsTheSecretPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, steps string }{
		{"issuer", `
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"`},
		{"token_url from a discovery step", `
  - id: disco
    kind: discovery
    issuer: "{{issuer}}"
  - id: token
    kind: client_credentials
    token_url: ${steps.disco.token_endpoint}`},
	} {
		for _, auth := range []string{"client_secret_basic", "client_secret_post"} {
			t.Run(tc.name+"/"+auth, func(t *testing.T) {
				t.Parallel()
				other, otherGot := hrServer(t, nil)
				tokenSrv, tokenGot := hrServer(t, hrRedirectTo(other.URL, http.StatusTemporaryRedirect))
				// Another host than the issuer's: localhost, not 127.0.0.1.
				issuer := etIssuer(t, hrLocalhost(tokenSrv.URL)+"/token")
				res := itRunYAML(t, hrRunner(), `
name: templated-token-url
every: 1m
steps:`+strings.ReplaceAll(tc.steps, "{{issuer}}", issuer.URL)+`
    client_id: hr-client
    client_secret: ${env:CLIENT_SECRET}
    client_auth: `+auth+`
`)
				f := itMustFail(t, res, "token", flows.ReasonIdPError)
				itSummaryHas(t, f, "the token endpoint answered 307", "never follows a redirect from a token endpoint")
				hrMustNotReceive(t, "the redirect target", otherGot)
				got := tokenGot.all()
				if len(got) != 1 || !strings.Contains(got[0].Header.Get("Authorization")+got[0].Body, etSecretForm(auth)) {
					t.Errorf("the discovered token endpoint received %d request(s), want 1 carrying the client's credentials (%s)", len(got), auth)
				}
				itAssertNoSecrets(t, []string{hrClientSecret}, res)
			})
		}
	}
}

// etSecretForm is how the client secret travels with a client_auth.
func etSecretForm(auth string) string {
	if auth == "client_secret_post" {
		return "client_secret=" + hrClientSecret
	}
	return "Basic "
}

// TestEndpointTemplatesCheckedAtLoad: a reference in an endpoint field to a
// step or output that does not exist is an error at the field's position;
// a literal endpoint is still checked at load.
func TestEndpointTemplatesCheckedAtLoad(t *testing.T) {
	t.Parallel()
	const head = "name: e\nevery: 1m\nsteps:\n  - id: disco\n    kind: discovery\n    issuer: https://idp.example.com\n"
	for _, tc := range []struct{ name, step, want string }{
		{"token_url unknown step", "  - id: t\n    kind: client_credentials\n    token_url: ${steps.nope.token_endpoint}\n    client_id: c\n    client_auth: none\n",
			`e.yaml:9:16: steps[1].token_url: ${steps.nope.token_endpoint}: no step has id "nope"`},
		{"token_url unknown output", "  - id: t\n    kind: client_credentials\n    token_url: ${steps.disco.token_url}\n    client_id: c\n    client_auth: none\n",
			`e.yaml:9:16: steps[1].token_url: ${steps.disco.token_url}: step "disco" (discovery) has no output "token_url"`},
		{"issuer of a later step", "  - id: t\n    kind: token_check\n    token: x\n    issuer: ${steps.later.issuer}\n  - id: later\n    kind: discovery\n    issuer: https://idp.example.com\n",
			`e.yaml:10:13: steps[1].issuer: ${steps.later.issuer}: step "later" comes later (steps[2])`},
		{"authorization_url", "  - id: t\n    kind: login\n    authorization_url: ${steps.disco.authorize}\n    token_url: ${steps.disco.token_endpoint}\n    client_id: c\n    client_auth: none\n    redirect_uri: https://app.example.com/cb\n    username: u\n    password: ${env:P}\n",
			`e.yaml:9:24: steps[1].authorization_url: ${steps.disco.authorize}: step "disco" (discovery) has no output "authorize"`},
		{"device_authorization_url", "  - id: t\n    kind: device_code\n    device_authorization_url: ${steps.disco.device}\n    token_url: ${steps.disco.token_endpoint}\n    client_id: c\n    client_auth: none\n    username: u\n    password: ${env:P}\n",
			`e.yaml:9:31: steps[1].device_authorization_url: ${steps.disco.device}: step "disco" (discovery) has no output "device"`},
		{"jwks_url literal", "  - id: t\n    kind: client_credentials\n    token_url: ${steps.disco.token_endpoint}\n    jwks_url: ftp://x\n    client_id: c\n    client_auth: none\n",
			`e.yaml:10:15: steps[1].jwks_url: must be an absolute http(s) URL, got "ftp://x"`},
		{"discovery issuer literal", "  - id: t\n    kind: discovery\n    issuer: https://idp.example.com/?a=b\n",
			`e.yaml:9:13: steps[1].issuer: an issuer has no query or fragment`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flows.LoadBytes(flows.LoadOptions{}, "e.yaml", []byte(head+tc.step))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestEndpointTemplateResolvedValueChecked: a template that resolves to
// something that is not a URL fails the step as config_invalid, naming the
// field, before anything is sent.
// proves: config_invalid
func TestEndpointTemplateResolvedValueChecked(t *testing.T) {
	t.Parallel()
	r := itNewRunner(itLookupFrom(map[string]string{"TOKEN_URL": "ftp://idp.example.com/token"}, nil))
	res := itRunYAML(t, r, `
name: bad-resolved-url
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: ${env:TOKEN_URL}
    client_id: c
    client_auth: none
`)
	f := itMustFail(t, res, "token", flows.ReasonConfigInvalid)
	itSummaryHas(t, f, "token_url ${env:TOKEN_URL} resolved to a value that is not usable")
	itFactIs(t, f, "field", "token_url")
}
