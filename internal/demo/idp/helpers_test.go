package idp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/authwatch/authwatch/internal/demo/idp"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// discovery is the part of the discovery document the tests use.
type discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	GrantTypesSupported   []string `json:"grant_types_supported"`
	ScopesSupported       []string `json:"scopes_supported"`
}

func startIdP(t *testing.T) (*idp.IdP, discovery) {
	t.Helper()
	p, err := idp.Start(t.Context(), idp.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	var d discovery
	getJSON(t, p.Issuer()+"/.well-known/openid-configuration", &d)
	return p, d
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// clientToken runs a client_credentials grant with Basic auth, as the brief
// demands (auto-detection would retry and hide the first error).
func clientToken(ctx context.Context, tokenURL, id, secret string, params url.Values, scopes ...string) (*oauth2.Token, error) {
	cfg := clientcredentials.Config{
		ClientID: id, ClientSecret: secret, TokenURL: tokenURL,
		Scopes: scopes, EndpointParams: params, AuthStyle: oauth2.AuthStyleInHeader,
	}
	return cfg.Token(ctx)
}

func mustToken(t *testing.T, tokenURL, id, secret string, params url.Values, scopes ...string) *oauth2.Token {
	t.Helper()
	tok, err := clientToken(t.Context(), tokenURL, id, secret, params, scopes...)
	if err != nil {
		t.Fatalf("token for %s: %v", id, err)
	}
	return tok
}

func retrieveErrorCode(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want *oauth2.RetrieveError, got %T: %v", err, err)
	}
	return re.ErrorCode
}

// verifiedJWT checks raw against the IdP's JWKS and returns its header and claims.
func verifiedJWT(t *testing.T, d discovery, raw string) (jose.Header, map[string]any) {
	t.Helper()
	var set jose.JSONWebKeySet
	getJSON(t, d.JWKSURI, &set)
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("not an RS256 JWS: %v", err)
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q: %d matching keys in JWKS", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0].Public())
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return h, claims
}
