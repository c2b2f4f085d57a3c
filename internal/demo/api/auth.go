package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
)

type subjectKey struct{}

// requireScope authenticates the bearer token and checks that it grants scope
// before calling next. The order is the one RFC 6750 implies: no credentials
// (401, bare challenge), bad token (401 invalid_token), then scope (403).
func requireScope(v *tokenVerifier, scope string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, c, ok := bearerToken(r)
		if !ok {
			c.write(w)
			return
		}
		tok, err := v.verify(r.Context(), raw)
		if err != nil {
			desc := err.Error()
			if ite := (*invalidTokenError)(nil); errors.As(err, &ite) {
				desc = ite.description
			}
			invalidToken(desc).write(w)
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

// bearerToken reads the Authorization header (RFC 6750 §2.1; the form and
// query variants are not supported, as most APIs do not).
func bearerToken(r *http.Request) (string, challenge, bool) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", noCredentials("this endpoint requires a bearer token"), false
	case len(values) > 1:
		return "", invalidRequest("more than one Authorization header"), false
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", noCredentials("authentication scheme " + scheme + " is not supported, use Bearer"), false
	}
	if token = strings.TrimSpace(token); token == "" {
		return "", invalidRequest("the Bearer authorization header carries no token"), false
	}
	return token, challenge{}, true
}

// subject is the authenticated caller, for handlers behind requireScope.
func subject(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}
