package api

import (
	"crypto/rand"
	"net/http"
)

// withRequestID stamps every response with a fresh X-Request-Id, the handle a
// monitor quotes when someone has to find the request in the API's logs. An
// incoming id is not reused: callers could otherwise forge log correlations.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", rand.Text())
		next.ServeHTTP(w, r)
	})
}
