package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
)

type subjectKey struct{}

// Authorization schemes the API takes: RFC 6750 bearer tokens and RFC 9449
// DPoP-bound tokens.
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// credentials are the Authorization header's scheme and token.
type credentials struct {
	scheme string // schemeBearer or schemeDPoP
	token  string
}

// requireScope authenticates the token and checks that it grants scope
// before calling next. The order is the one RFC 6750 implies: no credentials
// (401, bare challenge), bad token (401 invalid_token), the token's DPoP
// binding (401, see checkBinding), then scope (403).
func requireScope(v *tokenVerifier, b *bindingChecker, scope string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cred, c, ok := authorization(r)
		if !ok {
			c.write(w)
			return
		}
		tok, err := v.verify(r.Context(), cred.token)
		if err != nil {
			desc := err.Error()
			if ite := (*invalidTokenError)(nil); errors.As(err, &ite) {
				desc = ite.description
			}
			c := invalidToken(desc)
			c.dpop = cred.scheme == schemeDPoP
			c.write(w)
			return
		}
		if c, ok := b.check(r, cred, tok); !ok {
			c.write(w)
			return
		}
		if !slices.Contains(tok.Scopes, scope) {
			granted := strings.Join(tok.Scopes, " ")
			if granted == "" {
				granted = "no scopes"
			}
			insufficientScope(scope, r.Method+" "+r.URL.Path+" needs scope "+scope+"; the token grants "+granted).write(w)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, tok.Subject)))
	}
}

// authorization reads the Authorization header (RFC 6750 §2.1, RFC 9449
// §7.1; the form and query variants are not supported, as most APIs do
// not).
func authorization(r *http.Request) (credentials, challenge, bool) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return credentials{}, noCredentials("this endpoint requires a bearer token"), false
	case len(values) > 1:
		return credentials{}, invalidRequest("more than one Authorization header"), false
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	switch {
	case strings.EqualFold(scheme, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(scheme, schemeDPoP):
		scheme = schemeDPoP
	default:
		return credentials{}, noCredentials("authentication scheme " + scheme + " is not supported, use Bearer (or DPoP for a DPoP-bound token)"), false
	}
	if token = strings.TrimSpace(token); token == "" {
		return credentials{}, invalidRequest("the " + scheme + " authorization header carries no token"), false
	}
	return credentials{scheme: scheme, token: token}, challenge{}, true
}

// subject is the authenticated caller, for handlers behind requireScope.
func subject(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}
