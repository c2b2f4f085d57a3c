package api

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// These tests drive the verifier with go-oidc's StaticKeySet and tokens signed
// here, to reach the branches the demo IdP never produces (foreign issuer,
// future nbf, HS256, missing claims). The JWKS-backed path is covered by the
// scenario tests against the real IdP.

const testIssuer = "http://issuer.test"

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifierDescriptions(t *testing.T) {
	key, other := testKey(t), testKey(t)
	keys := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Public()}}
	v := newTokenVerifier(testIssuer, DefaultAudience, oidc.NewVerifier(testIssuer, keys, verifierConfig()))
	now := time.Now().Unix()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": testIssuer, "sub": "svc", "aud": []string{DefaultAudience},
			"iat": now, "exp": now + 300, "scope": "orders.read orders.write"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	tests := []struct {
		name string
		raw  string
		want string // description prefix; empty means valid
	}{
		{"valid", sign(t, jose.RS256, key, claims(nil)), ""},
		{"expired", sign(t, jose.RS256, key, claims(func(c map[string]any) { c["exp"] = 1767225600 })),
			"token expired at 2026-01-01T00:00:00Z"},
		{"no exp", sign(t, jose.RS256, key, claims(func(c map[string]any) { delete(c, "exp") })),
			"token has no exp claim"},
		{"wrong audience", sign(t, jose.RS256, key, claims(func(c map[string]any) { c["aud"] = "api://billing" })),
			"audience api://billing is not accepted, expected api://orders"},
		{"no audience", sign(t, jose.RS256, key, claims(func(c map[string]any) { delete(c, "aud") })),
			"token has no audience, expected api://orders"},
		{"foreign issuer", sign(t, jose.RS256, key, claims(func(c map[string]any) { c["iss"] = "http://evil.test" })),
			"issuer http://evil.test is not accepted, expected " + testIssuer},
		{"not yet valid", sign(t, jose.RS256, key, claims(func(c map[string]any) { c["nbf"] = 1893456000; c["exp"] = 1893456300 })),
			"token is not valid before 2030-01-01T00:00:00Z"},
		{"other key", sign(t, jose.RS256, other, claims(nil)), "signature verification failed (kid k1)"},
		{"HS256", sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), claims(nil)),
			"signing algorithm HS256 is not accepted, expected RS256"},
		{"opaque", "2YotnFZFEjr1zCsicMWpAA", "token is not a well-formed JWT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := v.verify(t.Context(), tc.raw)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if tok.Subject != "svc" || !slices.Equal(tok.Scopes, []string{ScopeRead, ScopeWrite}) {
					t.Errorf("got %+v", tok)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := err.(*invalidTokenError).description; !strings.HasPrefix(got, tc.want) {
				t.Errorf("description %q, want prefix %q", got, tc.want)
			}
		})
	}
}

func TestVerifierScpClaim(t *testing.T) {
	key := testKey(t)
	keys := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Public()}}
	v := newTokenVerifier(testIssuer, DefaultAudience, oidc.NewVerifier(testIssuer, keys, verifierConfig()))
	now := time.Now().Unix()
	for _, scp := range []any{[]string{ScopeRead}, ScopeRead} {
		raw := sign(t, jose.RS256, key, map[string]any{"iss": testIssuer, "aud": DefaultAudience,
			"exp": now + 60, "scp": scp})
		tok, err := v.verify(t.Context(), raw)
		if err != nil || !slices.Equal(tok.Scopes, []string{ScopeRead}) {
			t.Errorf("scp %v: got %+v, %v", scp, tok, err)
		}
	}
}

func TestQuotable(t *testing.T) {
	if got := quotable(`a "b" \c é`); got != `a 'b' /c ?` {
		t.Errorf("quotable = %q", got)
	}
}
