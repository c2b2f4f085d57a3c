// Package dpopproof verifies DPoP proofs (RFC 9449 §4.3) for the demo's
// IdP (at its token endpoint) and orders API (with DPoP-bound tokens), so
// both refuse the same bad proofs for the same reasons.
//
// It is demo-only: it checks what a careful server checks (typ, alg, a
// public jwk, the signature, htm, htu, iat, jti, ath), but it does not do
// server nonces (§8, §9), which the demo does not need.
package dpopproof

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// HeaderName is the request header a proof travels in.
const HeaderName = "DPoP"

// ErrorCode is the OAuth error code of a refused proof (RFC 9449 §12.2).
const ErrorCode = "invalid_dpop_proof"

// Type is the typ header of a proof (RFC 9449 §4.2).
const Type = "dpop+jwt"

// Limits that keep hostile input cheap.
const (
	// MaxProofSize bounds the proof before it is parsed: an EC or Ed25519
	// proof is under 1 KiB, an RSA 4096 one under 2 KiB.
	MaxProofSize = 8 << 10
	// MaxJTILength bounds jti, which the replay cache keeps.
	MaxJTILength = 256
	// minRSABits is the smallest RSA proof key accepted.
	minRSABits = 2048
)

// Algorithms are the proof signing algorithms accepted (and announced as
// dpop_signing_alg_values_supported): asymmetric ones only (§4.3 item 5).
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA}

// AlgorithmNames are Algorithms as strings.
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

// Error is a refused proof. Description says why in words fit for an
// error_description (no proof or key material in it).
type Error struct{ Description string }

func (e *Error) Error() string { return ErrorCode + ": " + e.Description }

func refuse(format string, args ...any) error {
	return &Error{Description: fmt.Sprintf(format, args...)}
}

// Proof is a proof whose form and signature checked out. Its claims are
// not yet compared with any request: that is Verifier.Check's work.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key
	// (base64url), the value a bound token's cnf.jkt carries.
	JKT string
	JTI string
	HTM string
	HTU string
	// ATH is the access token hash the proof claims, if any.
	ATH string
	// IssuedAt is iat, in Unix seconds.
	IssuedAt int64
}

// FromHeader returns the request's single DPoP header. present is false
// when there is none; more than one is an error (§4.3 item 1).
func FromHeader(h http.Header) (raw string, present bool, err error) {
	values := h.Values(HeaderName)
	switch len(values) {
	case 0:
		return "", false, nil
	case 1:
		return values[0], true, nil
	}
	return "", true, refuse("more than one DPoP header")
}

// claims are a proof's payload. iat is a float64 because a JSON number may
// come in any form; Parse bounds it before use.
type claims struct {
	JTI string   `json:"jti"`
	HTM string   `json:"htm"`
	HTU string   `json:"htu"`
	IAT *float64 `json:"iat"`
	ATH string   `json:"ath"`
}

// Parse checks a proof's form and signature (§4.3 items 2 to 7): one
// compact JWS, typ dpop+jwt, an accepted asymmetric alg, a public key in
// jwk that verifies the signature, and claims jti, htm, htu and iat of the
// right types.
func Parse(raw string) (*Proof, error) {
	if raw == "" {
		return nil, refuse("the DPoP header is empty")
	}
	if len(raw) > MaxProofSize {
		return nil, refuse("the proof is larger than %d bytes", MaxProofSize)
	}
	jws, err := jose.ParseSignedCompact(raw, Algorithms)
	if err != nil {
		return nil, refuse("not a compact JWS signed with one of %s", strings.Join(AlgorithmNames(), ", "))
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse("want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != Type {
		return nil, refuse("typ is %q, want %s", typ, Type)
	}
	jwk := h.JSONWebKey
	if jwk == nil {
		return nil, refuse("no jwk header")
	}
	if err := checkKey(jwk); err != nil {
		return nil, err
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, refuse("the signature does not verify with the key in jwk")
	}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, refuse("cannot compute the jwk thumbprint")
	}
	p, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	p.JKT = base64.RawURLEncoding.EncodeToString(thumb)
	return p, nil
}

// checkKey: a public asymmetric key (§4.3 item 7: never a private or
// symmetric one), RSA of at least minRSABits.
func checkKey(jwk *jose.JSONWebKey) error {
	if !jwk.IsPublic() || !jwk.Valid() {
		return refuse("jwk must be a valid public key")
	}
	switch k := jwk.Key.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return refuse("the RSA key has %d bits, fewer than %d", k.N.BitLen(), minRSABits)
		}
		return nil
	}
	return refuse("jwk key type %T is not accepted", jwk.Key)
}

func parseClaims(payload []byte) (*Proof, error) {
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse("the claims are not a JSON object with string jti, htm, htu, ath and numeric iat")
	}
	switch {
	case c.JTI == "":
		return nil, refuse("no jti")
	case len(c.JTI) > MaxJTILength:
		return nil, refuse("jti is longer than %d bytes", MaxJTILength)
	case c.HTM == "":
		return nil, refuse("no htm")
	case c.HTU == "":
		return nil, refuse("no htu")
	case c.IAT == nil:
		return nil, refuse("no iat")
	case math.IsNaN(*c.IAT) || *c.IAT < 0 || *c.IAT > maxIAT:
		return nil, refuse("iat is not a plausible time")
	}
	return &Proof{JTI: c.JTI, HTM: c.HTM, HTU: c.HTU, ATH: c.ATH, IssuedAt: int64(*c.IAT)}, nil
}

// maxIAT (year 5138) keeps the float-to-int conversion defined.
const maxIAT = 1e11

// AccessTokenHash is ath: base64url of the SHA-256 of the token's ASCII
// (§4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
