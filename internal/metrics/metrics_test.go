package metrics_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/metrics"
)

// TestPromLabelName: a flow label's key becomes a valid Prometheus label
// name that cannot take the place of flow or of a reserved name.
func TestPromLabelName(t *testing.T) {
	for key, want := range map[string]string{
		"team": "team", "Severity_1": "Severity_1", "flow": "label_flow", "__name__": "label___name__",
		"1st": "label_1st", "": "label_", "app.kubernetes.io/name": "app_kubernetes_io_name", "équipe": "_quipe",
	} {
		if got := metrics.PromLabelName(key); got != want {
			t.Errorf("PromLabelName(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestFlowInfo: authwatch_flow_info has one series per flow with its
// labels (a key named flow is renamed, not lost); a certificate's expiry
// becomes its NotAfter to the second; a removed flow's info and
// last-success series go.
func TestFlowInfo(t *testing.T) {
	m := metrics.New()
	a := &flows.Flow{Name: "a", Labels: map[string]string{"team": "id", "flow": "checkout"}}
	b := &flows.Flow{Name: "b"}
	m.SetFlows([]*flows.Flow{a, b})
	// Measured at the step's end, 12:00:00.8, with 86,399.6 s left: the
	// certificate ends at 12:00:00.4 the next day, 12:00:00 to the second.
	start := time.Date(2026, 12, 6, 12, 0, 0, 500e6, time.UTC)
	m.ObserveResult(&flows.Result{Flow: "a", Start: start, OK: true, Steps: []flows.StepResult{{ID: "s", Kind: "http", Status: flows.StepPassed,
		Duration: 300 * time.Millisecond, Measurements: []flows.Measurement{{Name: flows.MeasureTLSExpiry, Host: "idp:443", Value: 86399.6}}}}})
	got := exposition(t, m)
	for _, line := range []string{
		`authwatch_flow_info{flow="a",label_flow="checkout",team="id"} 1`,
		`authwatch_flow_info{flow="b"} 1`,
		`authwatch_flow_last_success_timestamp_seconds{flow="a"} 1.7965584005e+09`,
		`authwatch_tls_cert_not_after_timestamp_seconds{host="idp:443"} 1.7966448e+09`,
		`authwatch_tls_cert_expiry_seconds{host="idp:443"} 86399.6`,
	} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	m.SetFlows([]*flows.Flow{b})
	got = exposition(t, m)
	if strings.Contains(got, `flow="a"`) || !strings.Contains(got, `authwatch_flow_info{flow="b"} 1`) {
		t.Errorf("after removing a, /metrics still has its series or lost b's info:\n%s", got)
	}
}

// exposition is what /metrics serves (gathering fails on an inconsistent
// registry, e.g. one family with two HELPs).
func exposition(t testing.TB, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestWaitIsNoLatencySample: a wait step's time is counted in the run but
// gives no step-duration sample nor adds to the run's duration; the steps
// around it do.
func TestWaitIsNoLatencySample(t *testing.T) {
	m := metrics.New(metrics.WithStepHistograms(true))
	m.SetFlows([]*flows.Flow{{Name: "w"}})
	m.ObserveResult(&flows.Result{Flow: "w", Start: time.Now(), OK: true, Steps: []flows.StepResult{
		{ID: "token", Kind: "client_credentials", Status: flows.StepPassed, Duration: 40 * time.Millisecond},
		{ID: "pause", Kind: flows.KindWait, Status: flows.StepPassed, Duration: 3 * time.Second},
		{ID: "api", Kind: "http", Status: flows.StepPassed, Duration: 20 * time.Millisecond},
	}})
	got := exposition(t, m)
	for _, line := range []string{
		`authwatch_step_duration_seconds_count{flow="w",kind="client_credentials",step="token"} 1`,
		`authwatch_step_duration_seconds_count{flow="w",kind="http",step="api"} 1`,
		`authwatch_step_kind_duration_seconds_count{kind="http"} 1`,
		`authwatch_flow_run_duration_seconds{flow="w"} 0.06`,
	} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if strings.Contains(got, `step="pause"`) || strings.Contains(got, `kind="wait"`) {
		t.Errorf("/metrics has a series of the wait step:\n%s", got)
	}
}

// TestCachedTokenIsNoLatencySample: a token step served from the shared
// token cache sent no token request; its near-zero time must not pull the
// token steps' latency down.
func TestCachedTokenIsNoLatencySample(t *testing.T) {
	m := metrics.New()
	m.SetFlows([]*flows.Flow{{Name: "c"}})
	for _, fromCache := range []bool{false, true, true} {
		m.ObserveResult(&flows.Result{Flow: "c", Start: time.Now(), OK: true, Steps: []flows.StepResult{
			{ID: "token", Kind: "client_credentials", Status: flows.StepPassed, Duration: 40 * time.Millisecond, TokenFromCache: fromCache},
		}})
	}
	if got, line := exposition(t, m), `authwatch_step_kind_duration_seconds_count{kind="client_credentials"} 1`; !strings.Contains(got, "\n"+line+"\n") {
		t.Errorf("/metrics lacks %s: one fetch, two cache hits", line)
	}
}

// TestStepHistogramsOptIn: without WithStepHistograms there is no series
// per flow and step, only per kind, and each flow's last run duration.
func TestStepHistogramsOptIn(t *testing.T) {
	m := metrics.New()
	m.SetFlows([]*flows.Flow{{Name: "a"}})
	m.ObserveResult(&flows.Result{Flow: "a", Start: time.Now(), OK: true, Steps: []flows.StepResult{
		{ID: "api", Kind: "http", Status: flows.StepPassed, Duration: 20 * time.Millisecond}}})
	got := exposition(t, m)
	if strings.Contains(got, "authwatch_step_duration_seconds_") {
		t.Errorf("/metrics has per-step histograms without the opt-in:\n%s", got)
	}
	for _, line := range []string{`authwatch_step_kind_duration_seconds_count{kind="http"} 1`, `authwatch_flow_run_duration_seconds{flow="a"} 0.02`} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestFailStreakOneSeriesPerFlow: authwatch_flow_consecutive_failures has
// one series per flow, labelled with the last reason: a new reason
// replaces the old one's series, a pass clears the reason, and a flow
// removed and added again starts with one series.
func TestFailStreakOneSeriesPerFlow(t *testing.T) {
	m := metrics.New()
	a, b := &flows.Flow{Name: "a"}, &flows.Flow{Name: "b"}
	m.SetFlows([]*flows.Flow{a, b})
	m.FailStreak("a", 1, "invalid_client")
	m.FailStreak("b", 3, "invalid_client")
	m.FailStreak("a", 2, "unexpected_status")
	checkStreaks(t, m, `{flow="a",reason="unexpected_status"} 2`, `{flow="b",reason="invalid_client"} 3`)
	m.FailStreak("a", 0, "unexpected_status")
	checkStreaks(t, m, `{flow="a",reason=""} 0`, `{flow="b",reason="invalid_client"} 3`)
	m.SetFlows([]*flows.Flow{b})
	checkStreaks(t, m, `{flow="b",reason="invalid_client"} 3`)
	m.SetFlows([]*flows.Flow{a, b})
	m.FailStreak("a", 1, "invalid_client")
	m.FailStreak("a", 0, "")
	checkStreaks(t, m, `{flow="a",reason=""} 0`, `{flow="b",reason="invalid_client"} 3`)
}

func checkStreaks(t *testing.T, m *metrics.Metrics, want ...string) {
	t.Helper()
	var got []string
	for line := range strings.SplitSeq(exposition(t, m), "\n") {
		if s, ok := strings.CutPrefix(line, "authwatch_flow_consecutive_failures{"); ok {
			got = append(got, "{"+s)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("authwatch_flow_consecutive_failures series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// BenchmarkFailStreak is the per-run update of a passing flow's streak
// with 10,000 flows' series: its cost must not grow with the flows.
func BenchmarkFailStreak(b *testing.B) {
	m := metrics.New()
	fs := make([]*flows.Flow, 10_000)
	for i := range fs {
		fs[i] = &flows.Flow{Name: fmt.Sprintf("bench-flow-%05d", i)}
	}
	m.SetFlows(fs)
	for _, f := range fs {
		m.FailStreak(f.Name, 0, "")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.FailStreak(fs[i%len(fs)].Name, 0, "")
		i++
	}
}

// TestFailuresByReasonWithoutFlow: authwatch_run_failures_total counts
// failures of every flow by reason, one series per reason however many
// flows fail for it; passes count nowhere in it.
func TestFailuresByReasonWithoutFlow(t *testing.T) {
	m := metrics.New()
	var fs []*flows.Flow
	for _, name := range []string{"a", "b", "c"} {
		fs = append(fs, &flows.Flow{Name: name})
	}
	m.SetFlows(fs)
	fail := func(flow string, reason flows.Reason) {
		m.ObserveResult(&flows.Result{Flow: flow, Start: time.Now(), Steps: []flows.StepResult{
			{ID: "api", Kind: "http", Status: flows.StepFailed, Failure: &flows.Failure{Reason: reason}}}})
	}
	fail("a", "invalid_token")
	fail("b", "invalid_token")
	fail("c", "unexpected_status")
	m.ObserveResult(&flows.Result{Flow: "c", Start: time.Now(), OK: true, Steps: []flows.StepResult{
		{ID: "api", Kind: "http", Status: flows.StepPassed}}})
	got := exposition(t, m)
	for _, line := range []string{`authwatch_run_failures_total{reason="invalid_token"} 2`, `authwatch_run_failures_total{reason="unexpected_status"} 1`} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if n := strings.Count(got, "\nauthwatch_run_failures_total{"); n != 2 {
		t.Errorf("authwatch_run_failures_total has %d series, want 2 (one per reason)", n)
	}
}

// TestStoreSize: the state database's used bytes, its bound, and the
// records pruned for it accumulate.
func TestStoreSize(t *testing.T) {
	m := metrics.New()
	m.StoreSize(1000, 4096, 3)
	m.StoreSize(900, 4096, 2)
	got := exposition(t, m)
	for _, line := range []string{"authwatch_state_store_used_bytes 900", "authwatch_state_store_max_bytes 4096", "authwatch_state_store_size_pruned_runs_total 5"} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
