package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/config"
)

// TestE2ELateRunsWarned: with max_concurrent 1, a target that hangs holds
// the only slot, so another flow's run waits for it. That run is delayed,
// not lost: its flow skips nothing for overlap (the starts it stands for
// are "behind"), the log warns once that runs start late, /healthz is
// "degraded" with runs_late and the metrics say so; once the target
// answers, the waiting run runs and the log says once that runs are on
// time again.
func TestE2ELateRunsWarned(t *testing.T) {
	t.Parallel()
	slow, held, releaseAll := e2eHoldingServer(t)
	fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(fast.Close)
	files := map[string]string{
		"stuck.yaml":  strings.Replace(e2eHTTPFlow("stuck", "5s", slow.URL+"/", 200), "timeout: 10s", "timeout: 5m", 1),
		"waiter.yaml": e2eHTTPFlow("waiter", "5s", fast.URL+"/", 200),
	}
	d := e2eStart(t, files, e2eOptions{configure: func(c *config.Config) { c.MaxConcurrent = 1 }})
	e2eWaitFor(t, 20*time.Second, "the slow target to hold the only slot", func() bool {
		select {
		case <-held:
			return true
		default:
			return false
		}
	})
	const warning = "runs start late: the monitor falls behind its schedule"
	e2eWaitFor(t, 20*time.Second, "the lateness warning", func() bool { return strings.Contains(d.log.String(), warning) })
	e2eWaitFor(t, 20*time.Second, "a start the waiting run stands for", func() bool {
		v, _ := e2eMetric(d.metrics(), "authwatch_runs_skipped_total", `flow="waiter",why="behind"`)
		return v >= 1
	})
	h := d.healthz()
	late, _ := h["runs_late"].(map[string]any)
	if h["status"] != "degraded" || late == nil || late["waiting"].(float64) != 1 || late["concurrency_limit"].(float64) != 1 ||
		late["oldest_waiting_ms"].(float64) <= late["threshold_ms"].(float64) || h["concurrency_limit"].(float64) != 1 {
		t.Errorf("/healthz while a run waits: %v", h)
	}
	body := d.metrics()
	for name, want := range map[string]float64{"authwatch_scheduler_runs_late": 1, "authwatch_scheduler_concurrency_limit": 1, "authwatch_scheduler_waiting_runs": 1} {
		if v, ok := e2eMetric(body, name, ""); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if v, ok := e2eMetric(body, "authwatch_runs_skipped_total", `flow="waiter",why="overlap"`); ok {
		t.Errorf("the waiting flow skipped %v runs as overlaps", v)
	}
	releaseAll()
	e2eWaitFor(t, 30*time.Second, "the waiting flow's run", func() bool {
		v, _ := e2eMetric(d.metrics(), "authwatch_flow_runs_total", `flow="waiter",reason="",result="pass"`)
		return v >= 1
	})
	const recovered = "runs start on time again"
	e2eWaitFor(t, 90*time.Second, "the all-clear", func() bool { return strings.Contains(d.log.String(), recovered) })
	if h := d.healthz(); h["runs_late"] != nil {
		t.Errorf("/healthz after the runs caught up: %v", h)
	}
	log := d.log.String()
	if n, m := strings.Count(log, warning), strings.Count(log, recovered); n != 1 || m != 1 {
		t.Errorf("the warning was logged %d times and the all-clear %d times, want once each:\n%s", n, m, log)
	}
}
