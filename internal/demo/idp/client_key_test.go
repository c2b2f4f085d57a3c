package idp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authwatch/authwatch/internal/demo/idp"
)

// assertion signs an RFC 7523 client assertion for the key client.
func assertion(t *testing.T, key *rsa.PrivateKey, alg jose.SignatureAlgorithm, kid, iss, aud string, iat time.Time) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: iss, Subject: iss, Audience: jwt.Audience{aud},
		ID: rand.Text(), IssuedAt: jwt.NewNumericDate(iat), Expiry: jwt.NewNumericDate(iat.Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func keyClientKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	text, err := idp.KeyClientPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("KeyClientPrivateKeyPEM is not a PRIVATE KEY PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*rsa.PrivateKey)
}

// assertionToken runs client_credentials with client_id and the assertion in
// the form, no secret (RFC 7523 §2.2).
func assertionToken(t *testing.T, tokenURL, clientID, assertion string) (*oauth2.Token, error) {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: clientID, TokenURL: tokenURL, Scopes: []string{idp.ScopeOrdersRead},
		AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion}}}
	return cfg.Token(t.Context())
}

func TestKeyClient(t *testing.T) {
	_, d := startIdP(t)
	key := keyClientKey(t)
	now := time.Now()

	var disco struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	getJSON(t, d.Issuer+"/.well-known/openid-configuration", &disco)
	if !slices.Contains(disco.AuthMethods, "private_key_jwt") {
		t.Errorf("token_endpoint_auth_methods_supported %v lacks private_key_jwt", disco.AuthMethods)
	}

	for _, tc := range []struct {
		name, clientID, kid string
	}{{"kid", idp.KeyClientID, idp.KeyClientKeyID}, {"no kid", idp.KeyClientID, ""}} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := assertionToken(t, d.TokenEndpoint, tc.clientID, assertion(t, key, jose.RS256, tc.kid, idp.KeyClientID, d.TokenEndpoint, now))
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			_, c := verifiedJWT(t, d, tok.AccessToken)
			if aud, _ := c["aud"].([]any); c["client_id"] != idp.KeyClientID || !slices.Equal(aud, []any{idp.OrdersAudience}) || c["scope"] != idp.ScopeOrdersRead {
				t.Errorf("client_id %v, aud %v, scope %v", c["client_id"], c["aud"], c["scope"])
			}
		})
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, assertion string
	}{
		{"another key", assertion(t, other, jose.RS256, "", idp.KeyClientID, d.TokenEndpoint, now)},
		{"unknown kid", assertion(t, key, jose.RS256, "demo-key-0", idp.KeyClientID, d.TokenEndpoint, now)},
		{"aud the issuer", assertion(t, key, jose.RS256, "", idp.KeyClientID, d.Issuer, now)},
		{"PS256, not announced", assertion(t, key, jose.PS256, "", idp.KeyClientID, d.TokenEndpoint, now)},
		{"expired", assertion(t, key, jose.RS256, "", idp.KeyClientID, d.TokenEndpoint, now.Add(-10*time.Minute))},
		{"iss another client", assertion(t, key, jose.RS256, "", idp.OrdersClientID, d.TokenEndpoint, now)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := assertionToken(t, d.TokenEndpoint, idp.KeyClientID, tc.assertion)
			if err == nil {
				t.Fatal("got a token")
			}
			if got := retrieveErrorCode(t, err); got != "invalid_client" {
				t.Errorf("error %q, want invalid_client (%v)", got, err)
			}
		})
	}

	// The key client has no secret: an empty one must not pass for it.
	t.Run("empty secret", func(t *testing.T) {
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cfg := clientcredentials.Config{ClientID: idp.KeyClientID, TokenURL: d.TokenEndpoint, AuthStyle: style}
			_, err := cfg.Token(t.Context())
			if err == nil {
				t.Fatalf("auth style %v: got a token without a secret or an assertion", style)
			}
			if got := retrieveErrorCode(t, err); got != "invalid_client" {
				t.Errorf("auth style %v: error %q, want invalid_client (%v)", style, got, err)
			}
		}
	})
}
