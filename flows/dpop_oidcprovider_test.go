package flows_test

// DPoP (RFC 9449) against the real oidc-provider (which binds tokens and
// checks proofs at its token and userinfo endpoints) and a resource server
// that checks proofs as RFC 9449 §7 says, or, misconfigured, does not.

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// dpopAPI is a resource server for DPoP-bound JWT access tokens.
type dpopAPI struct {
	*httptest.Server
	keys *oidc.RemoteKeySet
	// publicURL is the URL the API believes it is reached at (htu); a
	// wrong one is the misconfiguration of an API behind a proxy.
	publicURL string
	nonce     string // demanded in proofs when set
	lax       bool   // accepts the token as Bearer and ignores proofs

	mu       sync.Mutex
	jtis     map[string]bool
	accepted int
	refused  []string
}

func newDPoPAPI(t *testing.T, p *testenv.NodeIdP, configure func(*dpopAPI)) *dpopAPI {
	t.Helper()
	api := &dpopAPI{keys: oidc.NewRemoteKeySet(context.Background(), p.URL+"/jwks"), jtis: map[string]bool{}}
	if configure != nil {
		configure(api)
	}
	api.Server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.Close)
	if api.publicURL == "" {
		api.publicURL = api.URL
	}
	return api
}

func (a *dpopAPI) refuse(w http.ResponseWriter, errCode, desc string) {
	a.mu.Lock()
	a.refused = append(a.refused, errCode+": "+desc)
	a.mu.Unlock()
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error=%q, error_description=%q, algs="ES256 EdDSA"`, errCode, desc))
	if errCode == "use_dpop_nonce" {
		w.Header().Set("DPoP-Nonce", a.nonce)
	}
	w.WriteHeader(http.StatusUnauthorized)
}

func (a *dpopAPI) serve(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	payload, err := a.keys.VerifySignature(r.Context(), token)
	if err != nil {
		a.refuse(w, "invalid_token", "signature: "+err.Error())
		return
	}
	var claims struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	_ = json.Unmarshal(payload, &claims)
	if !a.lax {
		if !strings.EqualFold(scheme, "DPoP") {
			a.refuse(w, "invalid_token", "the token is DPoP-bound: present it with the DPoP scheme and a proof")
			return
		}
		if problem := a.checkProof(r, token, claims.Cnf.JKT); problem != "" {
			if problem == "use_dpop_nonce" {
				a.refuse(w, problem, "a nonce is required")
				return
			}
			a.refuse(w, "invalid_dpop_proof", problem)
			return
		}
	}
	a.mu.Lock()
	a.accepted++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"orders":[]}`))
}

// checkProof is RFC 9449 §4.3 and §7.1: signature by the embedded key,
// typ, htm, htu, iat, jti, ath, the nonce, and the key's thumbprint as the
// token's cnf.jkt.
func (a *dpopAPI) checkProof(r *http.Request, token, jkt string) string {
	sig, err := jose.ParseSignedCompact(r.Header.Get("DPoP"), []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
	if err != nil || len(sig.Signatures) != 1 {
		return "not a DPoP proof JWT"
	}
	h := sig.Signatures[0].Protected
	if h.ExtraHeaders["typ"] != "dpop+jwt" || h.JSONWebKey == nil {
		return "typ or jwk header missing"
	}
	raw, err := sig.Verify(h.JSONWebKey)
	if err != nil {
		return "bad signature"
	}
	var p struct {
		JTI   string `json:"jti"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   int64  `json:"iat"`
		ATH   string `json:"ath"`
		Nonce string `json:"nonce"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return "claims"
	}
	sum := sha256.Sum256([]byte(token))
	thumb, _ := h.JSONWebKey.Thumbprint(crypto.SHA256)
	a.mu.Lock()
	replayed := a.jtis[p.JTI]
	a.jtis[p.JTI] = true
	a.mu.Unlock()
	switch {
	case p.HTM != r.Method:
		return "htm mismatch"
	case p.HTU != a.publicURL+r.URL.Path:
		return "htu mismatch: " + p.HTU
	case time.Since(time.Unix(p.IAT, 0)).Abs() > time.Minute:
		return "iat outside its window"
	case p.JTI == "" || replayed:
		return "jti missing or replayed"
	case p.ATH != base64.RawURLEncoding.EncodeToString(sum[:]):
		return "ath mismatch"
	case a.nonce != "" && p.Nonce != a.nonce:
		return "use_dpop_nonce"
	case base64.RawURLEncoding.EncodeToString(thumb) != jkt:
		return "the proof's key is not the token's cnf.jkt"
	}
	return ""
}

func (a *dpopAPI) counts() (int, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepted, append([]string(nil), a.refused...)
}

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
		api := newDPoPAPI(t, p, nil)
		res := run(t, dpopFlow("dpop-pass", p.Issuer, "    expect: {access_token: {bound: dpop}}\n", api.URL, dpopAuth+"      check_binding: true\n"))
		itMustPass(t, res)
		accepted, refused := api.counts()
		if accepted != 1 || len(refused) != 2 {
			t.Errorf("the API accepted %d and refused %v; want the proof accepted once and the Bearer and other-key tries refused", accepted, refused)
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
		api := newDPoPAPI(t, p, nil)
		itMustPass(t, run(t, dpopFlow("dpop-key", p.Issuer, "    dpop_key: "+k.file("ec.jwk")+"\n", api.URL, dpopAuth)))
	})

	t.Run("nonce_at_idp_and_api", func(t *testing.T) {
		np := lopProvider(t, map[string]string{"DPOP": "nonce", "EXTRA_CLIENTS": caClients(t, k)})
		api := newDPoPAPI(t, np, func(a *dpopAPI) { a.nonce = "api-nonce-1" })
		res := run(t, dpopFlow("dpop-nonce", np.Issuer, "", api.URL, dpopAuth))
		itMustPass(t, res)
		if n := dpopTokenRequests(t, res); n != 2 {
			t.Errorf("%d token requests; want 2 (use_dpop_nonce, then the retry with the nonce):\n%s", n, lopExchanges(itStep(t, res, "token")))
		}
		if _, refused := api.counts(); len(refused) != 1 || !strings.HasPrefix(refused[0], "use_dpop_nonce") {
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
		api := newDPoPAPI(t, off, nil)
		res := run(t, dpopFlow("dpop-ignored", off.Issuer, "", api.URL, dpopAuth))
		f := itMustFail(t, res, "token", flows.ReasonTokenBindingMismatch)
		itSummaryHas(t, f, `token_type "Bearer"`, "ignored the proof")
	})

	t.Run("proof_alg_refused_by_idp", func(t *testing.T) {
		api := newDPoPAPI(t, p, nil)
		res := run(t, dpopFlow("dpop-rsa", p.Issuer, "    dpop_key: "+k.file("rsa.pem")+"\n", api.URL, dpopAuth))
		f := itMustFail(t, res, "token", flows.ReasonDPoPProofInvalid)
		itSummaryHas(t, f, "invalid_dpop_proof")
	})

	t.Run("api_htu_mismatch", func(t *testing.T) {
		api := newDPoPAPI(t, p, func(a *dpopAPI) { a.publicURL = "https://api.example.test" })
		res := run(t, dpopFlow("dpop-htu", p.Issuer, "", api.URL, dpopAuth))
		f := itMustFail(t, res, "orders", flows.ReasonDPoPProofInvalid)
		itSummaryHas(t, f, "htu mismatch")
	})

	t.Run("api_accepts_token_without_proof", func(t *testing.T) {
		api := newDPoPAPI(t, p, func(a *dpopAPI) { a.lax = true })
		res := run(t, dpopFlow("dpop-lax", p.Issuer, "", api.URL, dpopAuth+"      check_binding: true\n"))
		f := itMustFail(t, res, "orders", flows.ReasonTokenBindingMismatch)
		itSummaryHas(t, f, "presented as Bearer", "does not enforce the binding")
	})

	t.Run("bearer_to_dpop_api", func(t *testing.T) {
		api := newDPoPAPI(t, p, nil)
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
