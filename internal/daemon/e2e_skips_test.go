package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestE2EOverlapSkipsWarned: runs skipped because the previous one still
// runs are never silent: the log warns once when skipping starts (not at
// every skip) and says once when it stopped; /healthz is "degraded" with
// the flows and runs skipped meanwhile, and "ok" again after.
func TestE2EOverlapSkipsWarned(t *testing.T) {
	t.Parallel()
	srv, held, releaseAll := e2eHoldingServer(t)
	// The run's timeout outlasts the test: the run ends when released.
	flow := strings.Replace(e2eHTTPFlow("stuck", "1s", srv.URL+"/", 200), "timeout: 10s", "timeout: 5m", 1)
	d := e2eStart(t, map[string]string{"stuck.yaml": flow}, e2eOptions{})
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the first run did not reach the server within 20s")
	}
	const warning = "runs skipped: the previous run was still running"
	e2eWaitFor(t, 20*time.Second, "the overlap warning", func() bool { return strings.Contains(d.log.String(), warning) })
	e2eWaitFor(t, 20*time.Second, "a second skip", func() bool {
		v, _ := e2eMetric(d.metrics(), "authwatch_runs_skipped_total", `flow="stuck",why="overlap"`)
		return v >= 2
	})
	h := d.healthz()
	skips, _ := h["runs_skipped"].(map[string]any)
	if h["status"] != "degraded" || skips == nil || skips["why"] != "overlap" || skips["runs"].(float64) < 1 ||
		!strings.Contains(strings.Join(anyStrings(skips["flows"]), ","), "stuck") {
		t.Errorf("/healthz while runs are skipped: %v", h)
	}
	releaseAll()
	const recovered = "runs no longer skipped"
	e2eWaitFor(t, 60*time.Second, "the all-clear", func() bool { return strings.Contains(d.log.String(), recovered) })
	if h := d.healthz(); h["status"] != "ok" || h["runs_skipped"] != nil {
		t.Errorf("/healthz after the skips stopped: %v", h)
	}
	log := d.log.String()
	if n, m := strings.Count(log, warning), strings.Count(log, recovered); n != 1 || m != 1 {
		t.Errorf("the warning was logged %d times and the all-clear %d times, want once each:\n%s", n, m, log)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// e2eHoldingServer is a target that holds every request until release is
// called (or the test ends); held receives once a request is being held.
func e2eHoldingServer(t *testing.T) (srv *httptest.Server, held <-chan struct{}, release func()) {
	t.Helper()
	released := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	holding := make(chan struct{}, 1)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case holding <- struct{}{}:
		default:
		}
		select {
		case <-released:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(release) // before srv.Close: cleanups run last first
	return srv, holding, release
}
