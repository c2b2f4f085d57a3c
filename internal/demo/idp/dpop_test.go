package idp_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof/dpopprooftest"
)

func parseRSAKeyPEM(t *testing.T, text string, err error) *rsa.PrivateKey {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("not a PRIVATE KEY PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*rsa.PrivateKey)
}

// tokenAnswer is a token endpoint's JSON answer, success or error.
type tokenAnswer struct {
	status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// postToken sends a client_credentials request with the given DPoP
// headers (none, one or several).
func postToken(t *testing.T, tokenURL string, form url.Values, basic [2]string, proofs ...string) tokenAnswer {
	t.Helper()
	form.Set("grant_type", "client_credentials")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic[0] != "" {
		req.SetBasicAuth(basic[0], basic[1])
	}
	for _, p := range proofs {
		req.Header.Add(dpopproof.HeaderName, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("token answer %d is not JSON: %s", resp.StatusCode, body)
	}
	return a
}

// dpopClientForm authenticates DPoPClientID with a fresh assertion.
func dpopClientForm(t *testing.T, d discovery) url.Values {
	text, err := idp.DPoPClientPrivateKeyPEM()
	key := parseRSAKeyPEM(t, text, err)
	return url.Values{
		"client_id":             {idp.DPoPClientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion(t, key, jose.RS256, idp.DPoPClientKeyID, idp.DPoPClientID, d.TokenEndpoint, time.Now())},
		"scope":                 {idp.ScopeOrdersRead},
	}
}

func cnfJKT(claims map[string]any) string {
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// A token request with a good proof gets a DPoP token bound to the proof's
// key: token_type DPoP and cnf.jkt, for the DPoP client and for any other
// service client that sends a proof.
func TestDPoPTokenRequest(t *testing.T) {
	_, d := startIdP(t)
	var disco struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	getJSON(t, d.Issuer+"/.well-known/openid-configuration", &disco)
	if !slices.Equal(disco.Algs, dpopproof.AlgorithmNames()) {
		t.Errorf("dpop_signing_alg_values_supported %v, want %v", disco.Algs, dpopproof.AlgorithmNames())
	}

	key := dpopprooftest.NewKey(t)
	for _, tc := range []struct {
		name  string
		form  url.Values
		basic [2]string
	}{
		{"dpop client, private_key_jwt", dpopClientForm(t, d), [2]string{}},
		{"orders client, secret", url.Values{"scope": {idp.ScopeOrdersRead}}, [2]string{idp.OrdersClientID, idp.OrdersClientSecret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postToken(t, d.TokenEndpoint, tc.form, tc.basic, key.Proof(t, http.MethodPost, d.TokenEndpoint, ""))
			if a.status != http.StatusOK || a.TokenType != "DPoP" {
				t.Fatalf("status %d, token_type %q, error %s %s; want 200 DPoP", a.status, a.TokenType, a.Error, a.Description)
			}
			_, claims := verifiedJWT(t, d, a.AccessToken)
			if got := cnfJKT(claims); got != key.JKT(t) {
				t.Errorf("cnf.jkt %q, want the proof key's %q", got, key.JKT(t))
			}
			if claims["scope"] != idp.ScopeOrdersRead {
				t.Errorf("scope %v: the binding lost the other claims", claims["scope"])
			}
		})
	}

	// Without a proof nothing changes for the other clients.
	t.Run("no proof", func(t *testing.T) {
		a := postToken(t, d.TokenEndpoint, url.Values{}, [2]string{idp.OrdersClientID, idp.OrdersClientSecret})
		if a.status != http.StatusOK || a.TokenType != "Bearer" {
			t.Fatalf("status %d, token_type %q", a.status, a.TokenType)
		}
		if _, claims := verifiedJWT(t, d, a.AccessToken); claims["cnf"] != nil {
			t.Errorf("an unbound token carries cnf %v", claims["cnf"])
		}
	})
}

// Bad proofs are refused with 400 invalid_dpop_proof before the client is
// even looked at; the DPoP client is refused without a proof.
func TestDPoPTokenRequestRefused(t *testing.T) {
	_, d := startIdP(t)
	key := dpopprooftest.NewKey(t)
	other := dpopprooftest.NewKey(t)
	claims := func(edit func(map[string]any)) map[string]any {
		c := dpopprooftest.Claims(http.MethodPost, d.TokenEndpoint, "", time.Now())
		edit(c)
		return c
	}
	good := key.Proof(t, http.MethodPost, d.TokenEndpoint, "")
	if a := postToken(t, d.TokenEndpoint, dpopClientForm(t, d), [2]string{}, good); a.status != http.StatusOK {
		t.Fatalf("the first use of a proof: %d %s %s", a.status, a.Error, a.Description)
	}
	parts := strings.Split(other.Proof(t, http.MethodPost, d.TokenEndpoint, ""), ".")
	goodParts := strings.Split(key.Proof(t, http.MethodPost, d.TokenEndpoint, ""), ".")
	for _, tc := range []struct {
		name   string
		proofs []string
		says   string
	}{
		{"replayed jti", []string{good}, "jti was used before"},
		{"htu another path", []string{key.Sign(t, dpopproof.Type, claims(func(c map[string]any) { c["htu"] = d.Issuer + "/oauth/introspect" }))}, "htu"},
		{"htu another host", []string{key.Sign(t, dpopproof.Type, claims(func(c map[string]any) {
			c["htu"] = strings.Replace(d.TokenEndpoint, "127.0.0.1", "localhost", 1)
		}))}, "htu"},
		{"htm GET", []string{key.Sign(t, dpopproof.Type, claims(func(c map[string]any) { c["htm"] = http.MethodGet }))}, "htm"},
		{"iat an hour ago", []string{key.Sign(t, dpopproof.Type, claims(func(c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() }))}, "old"},
		{"bad signature", []string{goodParts[0] + "." + goodParts[1] + "." + parts[2]}, "signature"},
		{"typ JWT", []string{key.Sign(t, "JWT", claims(func(map[string]any) {}))}, "typ"},
		{"two proofs", []string{key.Proof(t, http.MethodPost, d.TokenEndpoint, ""), key.Proof(t, http.MethodPost, d.TokenEndpoint, "")}, "more than one"},
		{"no proof from the DPoP client", nil, "must use DPoP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postToken(t, d.TokenEndpoint, dpopClientForm(t, d), [2]string{}, tc.proofs...)
			if a.status != http.StatusBadRequest || a.Error != dpopproof.ErrorCode || !strings.Contains(a.Description, tc.says) || a.AccessToken != "" {
				t.Errorf("status %d, error %q %q, token %v; want 400 invalid_dpop_proof saying %q", a.status, a.Error, a.Description, a.AccessToken != "", tc.says)
			}
		})
	}
}
