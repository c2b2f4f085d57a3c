package diagnose

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/version"
)

// TestDiagnoseNamesAuthwatch: every request of a diagnosis (the URL without
// and with the credential, discovery, JWKS, the preflight) says it is
// authwatch and which version.
func TestDiagnoseNamesAuthwatch(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // method and path → User-Agent
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")] = r.Header.Get("User-Agent")
		mu.Unlock()
		switch {
		case r.URL.Path == "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"})
		case r.URL.Path == "/jwks":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		case r.Header.Get("Authorization") == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	_, err := Run(t.Context(), Options{URL: srv.URL + "/orders", Issuer: srv.URL, Origin: "https://app.example.com",
		Credential: conf.NewTemplate("${env:T}"), CredentialKind: "bearer",
		Secrets: conf.SecretSource{LookupEnv: func(string) (string, bool) { return "opaque-token", true }}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"GET /orders ", "GET /orders Bearer opaque-token", "GET /.well-known/openid-configuration ", "OPTIONS /orders "} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no request %q; saw %q", want, seen)
		}
	}
	for req, agent := range seen {
		if agent != version.UserAgent() {
			t.Errorf("%s: User-Agent %q, want %q", req, agent, version.UserAgent())
		}
	}
}
