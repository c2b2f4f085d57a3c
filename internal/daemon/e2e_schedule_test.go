package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
)

// TestE2EScheduledRunsLandInStoreAndMetrics: flows run on their `every:`
// schedule; every run lands in the history and the streaks, and in
// /metrics; /readyz is 200 once started, /healthz ok; the Notifier hears
// Ready once, and Stopping on shutdown.
func TestE2EScheduledRunsLandInStoreAndMetrics(t *testing.T) {
	t.Parallel()
	hits := &e2eHits{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.inc(r.URL.Path)
		if r.URL.Path == "/fail" {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	d := e2eStart(t, map[string]string{
		"pass.yaml": e2eHTTPFlow("sched-pass", "1s", srv.URL+"/ok", 200),
		"fail.yaml": e2eHTTPFlow("sched-fail", "1s", srv.URL+"/fail", 200),
	}, e2eOptions{})

	// The listener opens a moment before the flows are scheduled: /readyz
	// turns 200 then, as a readiness probe polling it would see.
	var status int
	var body string
	e2eWaitFor(t, 5*time.Second, "/readyz 200", func() bool {
		status, body = d.get("/readyz")
		return status != http.StatusServiceUnavailable
	})
	if status != http.StatusOK || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/readyz after start: %d %s, want 200 ready", status, body)
	}
	if h := d.healthz(); h["status"] != "ok" || h["flows"] != float64(2) {
		t.Errorf("/healthz after start: %v, want status ok and 2 flows", h)
	}

	e2eWaitFor(t, 10*time.Second, "3 passes of sched-pass and 3 failures of sched-fail", func() bool {
		p, okp := d.flowState("sched-pass")
		f, okf := d.flowState("sched-fail")
		return okp && okf && p.ConsecutivePasses >= 3 && f.ConsecutiveFailures >= 3
	})

	// The streaks and the history agree.
	p, _ := d.flowState("sched-pass")
	if !p.OK || p.ConsecutiveFailures != 0 || p.LastReason != "" || p.Since.IsZero() || p.LastRun.Before(p.Since) {
		t.Errorf("state of the passing flow: %+v", p)
	}
	f, _ := d.flowState("sched-fail")
	if f.OK || f.ConsecutivePasses != 0 || f.LastReason == "" || f.LastSummary == "" {
		t.Errorf("state of the failing flow: %+v", f)
	}
	for _, c := range []struct {
		flow string
		ok   bool
	}{{"sched-pass", true}, {"sched-fail", false}} {
		runs := d.runs(c.flow)
		st, _ := d.flowState(c.flow)
		// A run may be recorded between the two reads.
		if n := int64(len(runs)); st.Runs < n || st.Runs > n+1 {
			t.Errorf("%s: %d runs in the history, state counts %d", c.flow, n, st.Runs)
		}
		for _, r := range runs {
			if r.OK != c.ok || r.Cancelled || r.ID == 0 || len(r.Steps) == 0 {
				t.Errorf("%s: run %+v", c.flow, r)
			}
			if !c.ok && (r.Reason == "" || r.FailedStep != "call" || r.Summary == "") {
				t.Errorf("%s: failed run without reason/step/summary: %+v", c.flow, r)
			}
			var lines []map[string]any
			if err := json.Unmarshal(r.Steps, &lines); err != nil || len(lines) != 2 || lines[0]["step"] != "call" || lines[1]["type"] != "flow" {
				t.Errorf("%s: run %d steps are not the step and flow lines of check --json (%v): %s", c.flow, r.ID, err, r.Steps)
			}
		}
		// On schedule: one run per planned start, none missed.
		d.checkSlots(c.flow, time.Second)
	}
	if hits.get("/ok") < 3 || hits.get("/fail") < 3 {
		t.Errorf("backend hits: /ok %d, /fail %d", hits.get("/ok"), hits.get("/fail"))
	}

	m := d.metrics()
	for _, c := range []struct {
		name, labels string
		min, max     float64
	}{
		{"authwatch_flow_runs_total", `flow="sched-pass",reason="",result="pass"`, 3, 1e9},
		{"authwatch_flow_up", `flow="sched-pass"`, 1, 1},
		{"authwatch_flow_up", `flow="sched-fail"`, 0, 0},
		{"authwatch_scheduler_lateness_seconds_count", "", 6, 1e9},
		{"authwatch_flows", "", 2, 2},
	} {
		v, ok := e2eMetric(m, c.name, c.labels)
		if !ok || v < c.min || v > c.max {
			t.Errorf("metric %s{%s} = %v (present %v), want %v..%v", c.name, c.labels, v, ok, c.min, c.max)
		}
	}
	if f, _ := d.flowState("sched-fail"); !strings.Contains(m, `authwatch_flow_runs_total{flow="sched-fail",reason="`+f.LastReason+`",result="fail"}`) {
		t.Errorf("no authwatch_flow_runs_total series for sched-fail with reason %q", f.LastReason)
	}
	// Lateness is measured against the planned start: small on an idle host.
	sum, _ := e2eMetric(m, "authwatch_scheduler_lateness_seconds_sum", "")
	cnt, _ := e2eMetric(m, "authwatch_scheduler_lateness_seconds_count", "")
	if cnt > 0 && sum/cnt > 0.9 {
		t.Errorf("mean scheduler lateness %.3fs, want well under the 1s interval", sum/cnt)
	}

	if got := d.notify.Calls(); !slices.Equal(got, []string{"ready"}) {
		t.Errorf("notifier calls while running: %v, want [ready]", got)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := d.notify.Calls(); !slices.Equal(got, []string{"ready", "stopping"}) {
		t.Errorf("notifier calls after stop: %v, want [ready stopping]", got)
	}
	if !strings.Contains(d.log.String(), "authwatch stopping") {
		t.Errorf("no 'authwatch stopping' in the log")
	}
}

// TestE2EReloadGaugeAfterStart: the first load of the flows succeeded, so
// authwatch_config_last_reload_successful must say 1 from the start
// (Prometheus' own prometheus_config_last_reload_successful does); an alert
// on "== 0" must not fire on every healthy daemon that was never reloaded.
func TestE2EReloadGaugeAfterStart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	d := e2eStart(t, map[string]string{"a.yaml": e2eHTTPFlow("gauge-a", "1s", srv.URL, 200)}, e2eOptions{})
	e2eWaitFor(t, 5*time.Second, "/readyz 200", func() bool { s, _ := d.get("/readyz"); return s == http.StatusOK })
	v, ok := e2eMetric(d.metrics(), "authwatch_config_last_reload_successful", "")
	if !ok || v != 1 {
		t.Errorf("authwatch_config_last_reload_successful after a successful start = %v (present %v), want 1", v, ok)
	}
	if ts, ok := e2eMetric(d.metrics(), "authwatch_config_last_reload_timestamp_seconds", ""); !ok || ts == 0 {
		t.Errorf("authwatch_config_last_reload_timestamp_seconds after start = %v, want the start time", ts)
	}
}

// TestE2EFirstLoadMustSucceed: Run refuses to start on a flows directory that
// does not load, with the positioned problem, without ever saying Ready; Addr
// does not block. New opened the store and Main has no Close, so the failed
// Run must release it.
func TestE2EFirstLoadMustSucceed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e2eWrite(t, dir, "c.yaml", e2eBrokenFiles[1].content)
	cfg := config.Default()
	cfg.StateDir, cfg.FlowsDir, cfg.Listen = filepath.Join(t.TempDir(), "state"), dir, "127.0.0.1:0"
	n := &e2eNotifier{}
	m, err := New(cfg, slog.New(slog.DiscardHandler), n)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = m.Run(ctx, nil)
	var problems conf.Problems
	if !errors.As(err, &problems) || !strings.Contains(err.Error(), e2eBrokenFiles[1].want) {
		t.Fatalf("Run on a broken flows directory: %v, want Problems with %q", err, e2eBrokenFiles[1].want)
	}
	if a := m.Addr(); a != nil {
		t.Errorf("Addr after a failed start: %v", a)
	}
	if calls := n.Calls(); len(calls) != 0 {
		t.Errorf("notifier calls %v after a failed start, want none", calls)
	}
	if _, err := m.store.FlowStates(ctx); err == nil {
		t.Errorf("the state store is still open after Run failed: New opened it and nothing else can close it")
		_ = m.store.Close()
	}
}
