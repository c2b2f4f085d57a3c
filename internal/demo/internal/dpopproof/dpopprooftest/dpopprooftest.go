// Package dpopprooftest signs DPoP proofs for the demo's tests, well-formed
// or broken on purpose.
package dpopprooftest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
)

// Key is a proof key with its algorithm.
type Key struct {
	Signer crypto.Signer
	Alg    jose.SignatureAlgorithm
}

// NewKey generates a P-256 key (ES256), as authwatch does per run.
func NewKey(t testing.TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Signer: priv, Alg: jose.ES256}
}

// JKT is the key's RFC 7638 thumbprint, base64url.
func (k *Key) JKT(t testing.TB) string {
	t.Helper()
	thumb, err := (&jose.JSONWebKey{Key: k.Signer.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(thumb)
}

// Claims are a proof's claims for method and htu at now, with a fresh jti
// and, when accessToken is set, its ath.
func Claims(method, htu, accessToken string, now time.Time) map[string]any {
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": now.Unix()}
	if accessToken != "" {
		c["ath"] = dpopproof.AccessTokenHash(accessToken)
	}
	return c
}

// Sign signs claims as a proof: typ dpop+jwt and the public key in jwk,
// unless typ says otherwise ("" leaves typ out).
func (k *Key) Sign(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{EmbedJWK: true}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Signer}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Proof is a well-formed proof for req now.
func (k *Key) Proof(t testing.TB, method, htu, accessToken string) string {
	t.Helper()
	return k.Sign(t, dpopproof.Type, Claims(method, htu, accessToken, time.Now()))
}

// Set puts proof into req's DPoP header.
func Set(req *http.Request, proof string) { req.Header.Set(dpopproof.HeaderName, proof) }
