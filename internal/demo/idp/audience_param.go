package idp

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// maxTokenRequestBody bounds the token request form we parse ahead of the op.
const maxTokenRequestBody = 64 << 10

type requestedAudienceKey struct{}

// withRequestedAudience lifts the resource/audience parameters of token
// requests into the request context. The op's client_credentials request type
// has no such fields and ClientCredentialsTokenRequest only gets the context,
// so this is the one way to let a caller choose the audience. The form stays
// parsed on the request, so the op reads the same values afterwards.
func withRequestedAudience(tokenPath string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != tokenPath {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBody)
		if err := r.ParseForm(); err != nil {
			op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("malformed form body").WithParent(err), nil)
			return
		}
		aud := append(append([]string(nil), r.PostForm["resource"]...), r.PostForm["audience"]...)
		if len(aud) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), requestedAudienceKey{}, aud))
		}
		// Likewise the client assertion: the op gives the storage's
		// ClientCredentials only client_id and client_secret.
		if a := r.PostForm.Get("client_assertion"); a != "" && r.PostForm.Get("client_assertion_type") == oidc.ClientAssertionTypeJWTAssertion {
			r = r.WithContext(context.WithValue(r.Context(), clientAssertionKey{}, a))
		}
		next.ServeHTTP(w, r)
	})
}

// requestedAudience returns what withRequestedAudience stored, if anything.
func requestedAudience(ctx context.Context) []string {
	aud, _ := ctx.Value(requestedAudienceKey{}).([]string)
	return aud
}
