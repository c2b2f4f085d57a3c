package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// acceptedAlgs pins the signing algorithm instead of trusting the token's alg
// header (the classic alg-confusion defence).
var acceptedAlgs = []string{oidc.RS256}

// anyAlg lets the pre-parse read any header, so a rejected alg can be named.
var anyAlg = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512,
}

// verifierConfig: go-oidc is built for ID tokens, whose aud is a client id; an
// access token's aud is checked against the API's audience by tokenVerifier.
func verifierConfig() *oidc.Config {
	return &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: acceptedAlgs}
}

// tokenVerifier checks signature (against the issuer's JWKS), iss, exp and nbf
// with go-oidc, then aud itself, and explains any failure in words precise
// enough for a monitor to classify without guessing.
type tokenVerifier struct {
	issuer   string
	audience string
	oidc     *oidc.IDTokenVerifier
}

func newTokenVerifier(issuer, audience string, v *oidc.IDTokenVerifier) *tokenVerifier {
	return &tokenVerifier{issuer: issuer, audience: audience, oidc: v}
}

// accessToken is what the handlers learn from a valid token.
type accessToken struct {
	Subject string
	Scopes  []string
	// JKT is cnf.jkt of a DPoP-bound token (RFC 9449 §6.1), else "".
	JKT string
}

// invalidTokenError is an RFC 6750 invalid_token with its description.
type invalidTokenError struct{ description string }

func (e *invalidTokenError) Error() string { return "invalid_token: " + e.description }

func invalid(format string, args ...any) error {
	return &invalidTokenError{description: fmt.Sprintf(format, args...)}
}

// unverifiedClaims are read from the payload only to word an error message
// and to pick up scopes; go-oidc checks the signature before any claim, so
// once it passed they are in fact signed. Types are read leniently: a claim of
// an odd type is go-oidc's to reject, not a reason for a vaguer message here.
type unverifiedClaims map[string]any

func (c unverifiedClaims) str(name string) string {
	s, _ := c[name].(string)
	return s
}

// jkt reads cnf.jkt, the thumbprint of the key a DPoP-bound token is
// bound to.
func (c unverifiedClaims) jkt() string {
	cnf, _ := c["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// scopes reads scope (RFC 9068, space-separated) or else scp (Entra/Okta
// style, an array or a string).
func (c unverifiedClaims) scopes() []string {
	if s := strings.Fields(c.str("scope")); len(s) > 0 {
		return s
	}
	switch scp := c["scp"].(type) {
	case string:
		return strings.Fields(scp)
	case []any:
		var out []string
		for _, v := range scp {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (v *tokenVerifier) verify(ctx context.Context, raw string) (*accessToken, error) {
	jws, err := jose.ParseSignedCompact(raw, anyAlg)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("token is not a well-formed JWT")
	}
	if alg := jws.Signatures[0].Header.Algorithm; !slices.Contains(acceptedAlgs, alg) {
		return nil, invalid("signing algorithm %s is not accepted, expected %s", alg, strings.Join(acceptedAlgs, ", "))
	}
	var claims unverifiedClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return nil, invalid("token payload is not a JSON object of claims")
	}

	tok, err := v.oidc.Verify(ctx, raw)
	if err != nil {
		return nil, v.explain(err, jws.Signatures[0].Header.KeyID, claims)
	}
	if !slices.Contains(tok.Audience, v.audience) {
		if len(tok.Audience) == 0 {
			return nil, invalid("token has no audience, expected %s", v.audience)
		}
		return nil, invalid("audience %s is not accepted, expected %s", strings.Join(tok.Audience, " "), v.audience)
	}
	return &accessToken{Subject: tok.Subject, Scopes: claims.scopes(), JKT: claims.jkt()}, nil
}

// explain turns a go-oidc error into a description. go-oidc types only the
// expiry error, so the others are told apart by message; the tests pin each
// branch so an upgrade that rewords one fails loudly.
func (v *tokenVerifier) explain(err error, kid string, c unverifiedClaims) error {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired) && expired.Expiry.Unix() <= 0:
		return invalid("token has no exp claim")
	case errors.As(err, &expired):
		return invalid("token expired at %s", utc(expired.Expiry))
	case strings.Contains(msg, "fetching keys"):
		return invalid("signature could not be checked: the issuer's signing keys are unavailable")
	case strings.HasPrefix(msg, "failed to verify signature"):
		// kid unknown after a JWKS refresh, or a signature that does not verify
		// with the key: go-oidc reports both the same way.
		if kid == "" {
			return invalid("signature verification failed (token has no kid)")
		}
		return invalid("signature verification failed (kid %s)", kid)
	case strings.Contains(msg, "issued by a different provider"):
		return invalid("issuer %s is not accepted, expected %s", c.str("iss"), v.issuer)
	case strings.Contains(msg, "nbf"):
		if nbf, ok := c["nbf"].(float64); ok {
			return invalid("token is not valid before %s", utc(time.Unix(int64(nbf), 0)))
		}
		return invalid("token is not valid yet")
	default:
		return invalid("token rejected: %s", strings.TrimPrefix(msg, "oidc: "))
	}
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }
