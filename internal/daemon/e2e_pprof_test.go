package daemon

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/statuspage"
)

// TestPProfEndpoint: /debug/pprof/ is not served by default; with
// http.pprof it is, behind status_page.auth (401 without credentials, 200
// with), even when /metrics is opted out of the auth.
func TestPProfEndpoint(t *testing.T) {
	t.Setenv("PPROF_TEST_PASSWORD", "s3cret-pprof")
	withAuth := func(pprof bool) func(*config.Config) {
		return func(c *config.Config) {
			c.HTTP.PProf = pprof
			c.StatusPage = statuspage.Config{MetricsAuth: statuspage.AuthNone,
				Auth: &statuspage.AuthConfig{Basic: &statuspage.BasicAuth{Username: "ops", Password: conf.NewTemplate("${env:PPROF_TEST_PASSWORD}")}}}
		}
	}
	get := func(d *e2eDaemon, path string, user, password string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", d.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := e2eClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	off := e2eStart(t, nil, e2eOptions{configure: withAuth(false)})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap"} {
		if status, _ := get(off, path, "ops", "s3cret-pprof"); status != http.StatusNotFound {
			t.Errorf("pprof off: GET %s with credentials = %d, want 404", path, status)
		}
	}

	on := e2eStart(t, nil, e2eOptions{configure: withAuth(true)})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if status, _ := get(on, path, "", ""); status != http.StatusUnauthorized {
			t.Errorf("pprof on: GET %s without credentials = %d, want 401", path, status)
		}
		if status, _ := get(on, path, "ops", "wrong"); status != http.StatusUnauthorized {
			t.Errorf("pprof on: GET %s with a wrong password = %d, want 401", path, status)
		}
	}
	if status, body := get(on, "/debug/pprof/", "ops", "s3cret-pprof"); status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof on: GET /debug/pprof/ with credentials = %d, want 200 and the index:\n%.300s", status, body)
	}
	if status, body := get(on, "/debug/pprof/goroutine?debug=1", "ops", "s3cret-pprof"); status != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("pprof on: goroutine profile = %d:\n%.300s", status, body)
	}
	if status, body := get(on, "/debug/pprof/heap", "ops", "s3cret-pprof"); status != http.StatusOK || len(body) == 0 {
		t.Errorf("pprof on: heap profile = %d, %d bytes", status, len(body))
	}
	// The command line is left out (it is no profile); the index does not
	// serve it either.
	if status, _ := get(on, "/debug/pprof/cmdline", "ops", "s3cret-pprof"); status == http.StatusOK {
		t.Errorf("pprof on: /debug/pprof/cmdline is served")
	}
}
