package testenv

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
)

// DPoPAPI is a resource server for DPoP-bound JWT access tokens (RFC 9449
// §7): it verifies the token against the IdP's JWKS and the proof as the RFC
// says, or, misconfigured (Lax), accepts the token however it comes. Every
// path answers {"orders":[]} when the token and proof are accepted.
type DPoPAPI struct {
	*httptest.Server
	// PublicURL is the URL the API believes it is reached at (htu); a
	// wrong one is the misconfiguration of an API behind a proxy.
	// Default: the server's URL.
	PublicURL string
	// Nonce, when set, is demanded in proofs (use_dpop_nonce first).
	Nonce string
	// Lax accepts the token as Bearer and ignores proofs.
	Lax bool

	keys     *oidc.RemoteKeySet
	mu       sync.Mutex
	jtis     map[string]bool
	accepted int
	refused  []string
}

// NewDPoPAPI starts the API for tokens signed by the keys at jwksURL;
// configure, when given, sets PublicURL, Nonce or Lax before it serves.
func NewDPoPAPI(t testing.TB, jwksURL string, configure func(*DPoPAPI)) *DPoPAPI {
	t.Helper()
	api := &DPoPAPI{keys: oidc.NewRemoteKeySet(context.Background(), jwksURL), jtis: map[string]bool{}}
	if configure != nil {
		configure(api)
	}
	api.Server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.Close)
	if api.PublicURL == "" {
		api.PublicURL = api.URL
	}
	return api
}

// Counts returns how many requests were accepted, and why the others were
// refused ("error: description").
func (a *DPoPAPI) Counts() (accepted int, refused []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepted, append([]string(nil), a.refused...)
}

func (a *DPoPAPI) refuse(w http.ResponseWriter, errCode, desc string) {
	a.mu.Lock()
	a.refused = append(a.refused, errCode+": "+desc)
	a.mu.Unlock()
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error=%q, error_description=%q, algs="ES256 EdDSA"`, errCode, desc))
	if errCode == "use_dpop_nonce" {
		w.Header().Set("DPoP-Nonce", a.Nonce)
	}
	w.WriteHeader(http.StatusUnauthorized)
}

func (a *DPoPAPI) serve(w http.ResponseWriter, r *http.Request) {
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
	if !a.Lax {
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
func (a *DPoPAPI) checkProof(r *http.Request, token, jkt string) string {
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
	case p.HTU != a.PublicURL+r.URL.Path:
		return "htu mismatch: " + p.HTU
	case time.Since(time.Unix(p.IAT, 0)).Abs() > time.Minute:
		return "iat outside its window"
	case p.JTI == "" || replayed:
		return "jti missing or replayed"
	case p.ATH != base64.RawURLEncoding.EncodeToString(sum[:]):
		return "ath mismatch"
	case a.Nonce != "" && p.Nonce != a.Nonce:
		return "use_dpop_nonce"
	case base64.RawURLEncoding.EncodeToString(thumb) != jkt:
		return "the proof's key is not the token's cnf.jkt"
	}
	return ""
}
