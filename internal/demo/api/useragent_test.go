package api_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/internal/demo/api"
	"github.com/authwatch/authwatch/internal/version"
)

// TestDemoAPINamesAuthwatch: the demo API's own requests to the IdP
// (discovery, JWKS) say they are authwatch, as every request authwatch
// makes does.
func TestDemoAPINamesAuthwatch(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.Header.Get("User-Agent"))
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer issuer.Close()
	if a, err := api.Start(t.Context(), api.Options{Issuer: issuer.URL}); err == nil {
		_ = a.Close()
		t.Fatal("Start succeeded without a discovery document")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agents) != 1 || agents[0] != version.UserAgent() {
		t.Errorf("User-Agent %q, want one request with %q", agents, version.UserAgent())
	}
}
