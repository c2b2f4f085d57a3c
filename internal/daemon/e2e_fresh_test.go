package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestE2EFreshInstall: a fresh install has an empty flows directory. The
// daemon starts on it, logs a warning, /healthz is ok with 0 flows (the
// scheduler idle is healthy), the overview says where flow files go and
// how to check and load them, and a flow file added later runs after the
// watcher sees it or after a reload (SIGHUP).
func TestE2EFreshInstall(t *testing.T) {
	for _, watch := range []bool{false, true} {
		name := "reload"
		if watch {
			name = "watcher"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			t.Cleanup(srv.Close)
			d := e2eStart(t, nil, e2eOptions{watch: watch})
			if h := d.healthz(); h["status"] != "ok" || h["flows"] != float64(0) {
				t.Errorf("/healthz with no flow files: %v, want ok with 0 flows", h)
			}
			if log := d.log.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "no flow files") {
				t.Errorf("the log does not warn that there are no flow files:\n%s", log)
			}
			status, page := d.get("/")
			for _, want := range []string{d.flowsDir, "authwatch validate", "systemctl reload authwatch"} {
				if status != http.StatusOK || !strings.Contains(page, want) {
					t.Errorf("the overview (status %d) does not say %q", status, want)
				}
			}
			e2eWrite(t, d.flowsDir, "first.yaml", e2eHTTPFlow("first", "1s", srv.URL, 200))
			if !watch {
				d.reload <- struct{}{}
			}
			e2eWaitFor(t, 10*time.Second, "the added flow to run", func() bool { return len(d.runs("first")) >= 1 })
			if h := d.healthz(); h["status"] != "ok" || h["flows"] != float64(1) {
				t.Errorf("/healthz after adding a flow: %v, want ok with 1 flow", h)
			}
			if _, page := d.get("/"); strings.Contains(page, "systemctl reload authwatch") {
				t.Errorf("the overview still explains how to add a flow once one runs")
			}
		})
	}
}
