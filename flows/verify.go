package flows

import (
	"context"
	"crypto"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/internal/exchange"
	"github.com/authwatch/authwatch/internal/jwtinspect"
)

// verifySignature checks a JWT against the issuer's JWKS: first that its kid
// is published (refetching once, as relying parties do after a rotation),
// then the signature itself through go-oidc.
func (st *State) verifySignature(ctx context.Context, what, raw string, t *jwtinspect.Token, ks keySource) *Failure {
	uri := ks.JWKSURL
	if uri == "" && ks.Doc != nil {
		uri = ks.Doc.JWKSURI
	}
	if uri == "" {
		st.Note("the %s's signature was not verified: give the step an issuer or jwks_url", ownText(what))
		return nil
	}
	keys, err := st.Keys(ctx, uri, ks.TLS, false)
	if err == nil && findKey(keys, t) == nil {
		keys, err = st.Keys(ctx, uri, ks.TLS, true)
	}
	if err != nil {
		return asFailure(ctx, err, st.lastExchange(), st.Now())
	}
	st.step.keys = keys
	key := findKey(keys, t)
	if key == nil {
		return Fail(ReasonSigningKeyNotFound, "the %s's kid %q is not among the %d keys the JWKS serves (%s): the IdP signs with a key it does not publish, or rotated keys",
			what, t.Kid, len(keys.Keys), strings.Join(keys.Kids(), ", ")).
			With(F("kid", t.Kid), F("jwks_kids", strings.Join(keys.Kids(), ",")), F("jwks_uri", uri))
	}
	if key.Algorithm != "" && t.Alg != key.Algorithm {
		return Fail(ReasonSignatureInvalid, "the %s is signed with alg %s, but its key %q is for %s", what, t.Alg, key.KeyID, key.Algorithm).
			With(F("alg", t.Alg), F("key_alg", key.Algorithm))
	}
	algs := []string{t.Alg}
	if strings.HasPrefix(t.Alg, "HS") || t.Alg == "none" || t.Alg == "" {
		return Fail(ReasonSignatureInvalid, "the %s uses alg %q, which cannot be verified with the IdP's public keys", what, t.Alg).With(F("alg", t.Alg))
	}
	v := oidc.NewVerifier("", &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Key}},
		&oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true, SkipIssuerCheck: true, SupportedSigningAlgs: algs})
	if _, err := v.Verify(ctx, raw); err != nil {
		return Fail(ReasonSignatureInvalid, "the %s's signature does not verify with key %q from the JWKS: %v", what, key.KeyID, err).
			With(F("kid", t.Kid), F("alg", t.Alg)).Wrap(err)
	}
	return nil
}

// findKey returns the JWKS key for the token: by kid, or the only key of a
// matching type when the token has no kid.
func findKey(keys *KeySet, t *jwtinspect.Token) *jose.JSONWebKey {
	if t.Kid != "" {
		i := slices.IndexFunc(keys.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == t.Kid })
		if i < 0 {
			return nil
		}
		return &keys.Keys[i]
	}
	if len(keys.Keys) == 1 {
		return &keys.Keys[0]
	}
	return nil
}

func asFailure(ctx context.Context, err error, ex *exchange.Exchange, now time.Time) *Failure {
	if f, ok := err.(*Failure); ok {
		return f
	}
	if f := classifyTransportError(ctx, err, ex, now); f != nil {
		return f
	}
	return &Failure{Reason: ReasonJWKSUnavailable, Summary: "fetching the JWKS failed: " + err.Error(), Err: err}
}
