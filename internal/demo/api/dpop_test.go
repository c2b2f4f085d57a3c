package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof/dpopprooftest"
)

// dpopToken gets a DPoP-bound token for the orders client, bound to key.
func (e *env) dpopToken(t *testing.T, key *dpopprooftest.Key) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {idp.ScopeOrdersRead}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(idp.OrdersClientID, idp.OrdersClientSecret)
	dpopprooftest.Set(req, key.Proof(t, http.MethodPost, e.tokenURL, ""))
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.TokenType != "DPoP" {
		t.Fatalf("DPoP token request: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// dpopParams parses a DPoP challenge's auth-params.
func (r response) dpopParams(t *testing.T) map[string]string {
	t.Helper()
	h := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(h, `DPoP realm="orders"`) {
		t.Fatalf("WWW-Authenticate %q, want a DPoP challenge", h)
	}
	params := map[string]string{}
	for _, m := range authParam.FindAllStringSubmatch(h, -1) {
		params[m[1]] = m[2]
	}
	return params
}

// The orders API takes a DPoP-bound token only with the DPoP scheme and a
// proof of its key for this request (RFC 9449 §7.1), and says which of
// the two it refused: invalid_token for the token's scheme,
// invalid_dpop_proof for the proof.
func TestDPoPBoundToken(t *testing.T) {
	e := startEnv(t)
	key := dpopprooftest.NewKey(t)
	other := dpopprooftest.NewKey(t)
	tok := e.dpopToken(t, key)
	orders := e.api.URL() + "/orders"
	dpop := func(proof string) map[string]string {
		h := map[string]string{"Authorization": "DPoP " + tok}
		if proof != "" {
			h["DPoP"] = proof
		}
		return h
	}

	r := e.do(t, http.MethodGet, orders, "", dpop(key.Proof(t, http.MethodGet, orders, tok)))
	if r.status != http.StatusOK {
		t.Fatalf("with its proof: %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	replayed := key.Proof(t, http.MethodGet, orders, tok)
	if r := e.do(t, http.MethodGet, orders, "", dpop(replayed)); r.status != http.StatusOK {
		t.Fatalf("a fresh proof: %d", r.status)
	}
	noATH := dpopprooftest.Claims(http.MethodGet, orders, "", time.Now())

	for _, tc := range []struct {
		name   string
		bearer string
		header map[string]string
		code   string
		says   string
	}{
		{"as Bearer", tok, nil, "invalid_token", "DPoP-bound"},
		{"as Bearer with its proof", tok, map[string]string{"DPoP": key.Proof(t, http.MethodGet, orders, tok)}, "invalid_token", "DPoP-bound"},
		{"another key's proof", "", dpop(other.Proof(t, http.MethodGet, orders, tok)), dpopproof.ErrorCode, "another key"},
		{"no proof", "", dpop(""), dpopproof.ErrorCode, "no DPoP proof"},
		{"no ath", "", dpop(key.Sign(t, dpopproof.Type, noATH)), dpopproof.ErrorCode, "no ath"},
		{"ath of another token", "", dpop(key.Proof(t, http.MethodGet, orders, "another-token")), dpopproof.ErrorCode, "ath"},
		{"htu another path", "", dpop(key.Proof(t, http.MethodGet, e.api.URL()+"/admin/export", tok)), dpopproof.ErrorCode, "htu"},
		{"htm POST", "", dpop(key.Proof(t, http.MethodPost, orders, tok)), dpopproof.ErrorCode, "htm"},
		{"replayed proof", "", dpop(replayed), dpopproof.ErrorCode, "jti was used before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, orders, tc.bearer, tc.header)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; %s", r.status, r.body)
			}
			p := r.dpopParams(t)
			if p["error"] != tc.code || !strings.Contains(p["error_description"], tc.says) || !strings.Contains(p["algs"], "ES256") {
				t.Errorf("challenge %v, want error %s saying %q and algs", p, tc.code, tc.says)
			}
		})
	}

	// An unbound token goes with Bearer only.
	t.Run("unbound token as DPoP", func(t *testing.T) {
		plain := e.mustToken(t, idp.OrdersClientID, idp.OrdersClientSecret, idp.ScopeOrdersRead)
		r := e.do(t, http.MethodGet, orders, "", map[string]string{"Authorization": "DPoP " + plain, "DPoP": key.Proof(t, http.MethodGet, orders, plain)})
		if p := r.dpopParams(t); r.status != http.StatusUnauthorized || p["error"] != "invalid_token" || !strings.Contains(p["error_description"], "not DPoP-bound") {
			t.Errorf("%d %v", r.status, p)
		}
	})
	// A bad token with the DPoP scheme gets a DPoP challenge too.
	t.Run("bad token as DPoP", func(t *testing.T) {
		r := e.do(t, http.MethodGet, orders, "", map[string]string{"Authorization": "DPoP not-a-jwt"})
		if p := r.dpopParams(t); r.status != http.StatusUnauthorized || p["error"] != "invalid_token" {
			t.Errorf("%d %v", r.status, p)
		}
	})
}
