package flows_test

// DPoP (RFC 9449) against the real oidc-provider (which binds tokens and
// checks proofs at its token and userinfo endpoints) and a resource server
// that checks proofs as RFC 9449 §7 says, or, misconfigured, does not
// (testenv.DPoPAPI).

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

func dpopFlow(name, issuer, tokenExtra, apiURL, authExtra string) string {
	return fmt.Sprintf(`
name: %[1]s
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "%[2]s"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    scopes: [api:read]
    resource: ["%[5]s"]
    dpop: true
%[3]s  - id: orders
    kind: http
    url: %[4]s/orders
    auth:
%[6]s    expect: {status: 200}
`, name, issuer, tokenExtra, apiURL, itApiResource, authExtra)
}

const dpopAuth = "      dpop: ${steps.token.access_token}\n"

func dpopTokenRequests(t *testing.T, res *flows.Result) int {
	t.Helper()
	n := 0
	for _, ex := range itStep(t, res, "token").Exchanges {
		if ex.Method == "POST" && strings.HasSuffix(ex.URL, "/token") {
			n++
		}
	}
	return n
}

// proves: token_binding_mismatch, dpop_proof_invalid
func TestOIDCProviderDPoP(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	k := caNewKeys(t)
	p := lopProvider(t, nil)
	env := map[string]string{"CC_SECRET": "cc-secret"}
	for n, v := range lopSecretEnv {
		env[n] = v
	}
	r := itTappedRunner(itLookupFrom(env, nil))
	secrets := append(k.secrets(), "cc-secret", "app-secret", "alice-password")
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, yaml)
		itAssertNoSecrets(t, secrets, res)
		return res
	}

	t.Run("bound_token_and_binding_enforced", func(t *testing.T) {
		api := testenv.NewDPoPAPI(t, p.URL+"/jwks", nil)
		res := run(t, dpopFlow("dpop-pass", p.Issuer, "    expect: {access_token: {bound: dpop}}\n", api.URL, dpopAuth+"      check_binding: true\n"))
		itMustPass(t, res)
		accepted, refused := api.Counts()
		if accepted != 1 || len(refused) != 2 {
			t.Errorf("the API accepted %d and refused %v; want the proof accepted once and the Bearer and other-key tries refused", accepted, refused)
		}
		// The step's status is its own answer, not the probes' refusals.
		if api := itStep(t, res, "orders"); api.HTTPStatus != 200 {
			t.Errorf("the api step's status is %d, want its own answer's 200 (the binding probes' 401s came after it)", api.HTTPStatus)
		}
		proofs := 0
		for _, ex := range itStep(t, res, "token").Exchanges {
			if len(ex.RequestHeaders["Dpop"]) > 0 {
				proofs++
			}
			if strings.HasSuffix(ex.URL, "/token") && !strings.Contains(ex.Body, `"token_type":"DPoP"`) {
				t.Errorf("the token answer is not a DPoP token: %s", ex.Body)
			}
		}
		if proofs != 1 {
			t.Errorf("%d token requests carried a DPoP header, want 1", proofs)
		}
	})

	// The IdP's own view of the binding: an opaque DPoP token whose
	// introspection must name the key of the run's proofs.
	t.Run("introspected_binding", func(t *testing.T) {
		res := run(t, `
name: dpop-introspect
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "`+p.Issuer+`"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    scopes: [api:read]
    resource: ["`+irOpaqueResource+`"]
    dpop: true
  - id: introspect
    kind: introspect
    issuer: "`+p.Issuer+`"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    token: ${steps.token.access_token}
    expect: {active: true, cnf: jkt}
`)
		itMustPass(t, res)
	})

	t.Run("configured_key", func(t *testing.T) {
		api := testenv.NewDPoPAPI(t, p.URL+"/jwks", nil)
		itMustPass(t, run(t, dpopFlow("dpop-key", p.Issuer, "    dpop_key: "+k.file("ec.jwk")+"\n", api.URL, dpopAuth)))
	})

	t.Run("nonce_at_idp_and_api", func(t *testing.T) {
		np := lopProvider(t, map[string]string{"DPOP": "nonce", "EXTRA_CLIENTS": caClients(t, k)})
		api := testenv.NewDPoPAPI(t, np.URL+"/jwks", func(a *testenv.DPoPAPI) { a.Nonce = "api-nonce-1" })
		res := run(t, dpopFlow("dpop-nonce", np.Issuer, "", api.URL, dpopAuth))
		itMustPass(t, res)
		if n := dpopTokenRequests(t, res); n != 2 {
			t.Errorf("%d token requests; want 2 (use_dpop_nonce, then the retry with the nonce):\n%s", n, lopExchanges(itStep(t, res, "token")))
		}
		if _, refused := api.Counts(); len(refused) != 1 || !strings.HasPrefix(refused[0], "use_dpop_nonce") {
			t.Errorf("the API refused %v; want one use_dpop_nonce before the retry", refused)
		}
		// A client assertion is single-use (its jti): the retry with the
		// nonce must carry a fresh one, or the IdP refuses the client.
		pk := strings.Replace(dpopFlow("dpop-nonce-pkjwt", np.Issuer, "", api.URL, dpopAuth),
			"    client_id: cc-client\n    client_secret: ${env:CC_SECRET}\n",
			"    client_id: pkjwt-client\n    client_auth: private_key_jwt\n    client_key: "+k.file("rsa.pem")+"\n    client_key_id: rsa-1\n", 1)
		itMustPass(t, run(t, pk))
	})

	// A public client's refresh token is bound to the DPoP key (RFC 9449
	// §5): the refresh signs with that key, whatever the refresh step says.
	t.Run("public_client_refresh_with_bound_key", func(t *testing.T) {
		res := run(t, `
name: dpop-public-refresh
every: 1m
steps:
  - id: login
    kind: login
    issuer: "`+p.Issuer+`"
    redirect_uri: `+lopCallback+`
    client_id: public-client
    client_auth: none
    username: alice
    password: ${env:ALICE_PASSWORD}
    scopes: [openid, offline_access]
    dpop: true
    expect: {refresh_token: true}
  - id: refresh
    kind: refresh
    issuer: "`+p.Issuer+`"
    client_id: public-client
    client_auth: none
    refresh_token: ${steps.login.refresh_token}
  - id: userinfo
    kind: userinfo
    issuer: "`+p.Issuer+`"
    token: ${steps.refresh.access_token}
`)
		itMustPass(t, res)
	})

	t.Run("idp_ignores_dpop", func(t *testing.T) {
		off := lopProvider(t, map[string]string{"DPOP": "off"})
		api := testenv.NewDPoPAPI(t, off.URL+"/jwks", nil)
		res := run(t, dpopFlow("dpop-ignored", off.Issuer, "", api.URL, dpopAuth))
		f := itMustFail(t, res, "token", flows.ReasonTokenBindingMismatch)
		itSummaryHas(t, f, `token_type "Bearer"`, "ignored the proof")
	})

	t.Run("proof_alg_refused_by_idp", func(t *testing.T) {
		api := testenv.NewDPoPAPI(t, p.URL+"/jwks", nil)
		res := run(t, dpopFlow("dpop-rsa", p.Issuer, "    dpop_key: "+k.file("rsa.pem")+"\n", api.URL, dpopAuth))
		f := itMustFail(t, res, "token", flows.ReasonDPoPProofInvalid)
		itSummaryHas(t, f, "invalid_dpop_proof")
	})

	t.Run("api_htu_mismatch", func(t *testing.T) {
		api := testenv.NewDPoPAPI(t, p.URL+"/jwks", func(a *testenv.DPoPAPI) { a.PublicURL = "https://api.example.test" })
		res := run(t, dpopFlow("dpop-htu", p.Issuer, "", api.URL, dpopAuth))
		f := itMustFail(t, res, "orders", flows.ReasonDPoPProofInvalid)
		itSummaryHas(t, f, "htu mismatch")
	})

	t.Run("api_accepts_token_without_proof", func(t *testing.T) {
		api := testenv.NewDPoPAPI(t, p.URL+"/jwks", func(a *testenv.DPoPAPI) { a.Lax = true })
		res := run(t, dpopFlow("dpop-lax", p.Issuer, "", api.URL, dpopAuth+"      check_binding: true\n"))
		f := itMustFail(t, res, "orders", flows.ReasonTokenBindingMismatch)
		itSummaryHas(t, f, "presented as Bearer", "does not enforce the binding")
	})

	t.Run("bearer_to_dpop_api", func(t *testing.T) {
		api := testenv.NewDPoPAPI(t, p.URL+"/jwks", nil)
		res := run(t, dpopFlow("dpop-as-bearer", p.Issuer, "", api.URL, "      bearer: ${steps.token.access_token}\n"))
		f := itMustFail(t, res, "orders", flows.ReasonTokenBindingMismatch)
		itSummaryHas(t, f, "demands the DPoP scheme")
	})

	// oidc-provider's userinfo endpoint is a second, independent verifier
	// of proofs: the login's own userinfo call, and an http step with
	// check_binding against it.
	t.Run("login_userinfo", func(t *testing.T) {
		res := run(t, `
name: dpop-login
every: 1m
steps:
  - id: login
    kind: login
    issuer: "`+p.Issuer+`"
    redirect_uri: `+lopCallback+`
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: alice
    password: ${env:ALICE_PASSWORD}
    dpop: true
    userinfo: true
  - id: userinfo
    kind: http
    url: "`+p.Issuer+`/me"
    auth:
      dpop: ${steps.login.access_token}
      check_binding: true
    expect: {status: 200}
`)
		itMustPass(t, res)
	})
}
