package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/metrics"
)

// fleet registers n flows shaped like the benchmark's (bench/): half a
// plain GET, half a client-credentials token and a GET with it, each with
// two labels; every tenth fails (three reasons), and each has run twice
// with measurements (token lifetime, TLS expiry, clock offset of two
// shared hosts).
func fleet(m *metrics.Metrics, n int) {
	fs := make([]*flows.Flow, n)
	for i := range fs {
		fs[i] = &flows.Flow{Name: fleetName(i), Labels: map[string]string{"team": fmt.Sprintf("team-%d", i%20), "severity": "page"}}
	}
	m.SetFlows(fs)
	reasons := []flows.Reason{"http_status_unexpected", "token_endpoint_unreachable", "timeout"}
	hosts := []flows.Measurement{{Name: flows.MeasureTLSExpiry, Host: "idp.example:443", Value: 86400 * 40}, {Name: flows.MeasureClockOffset, Host: "idp.example:443", Value: 0.2}}
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i, f := range fs {
		for run := range 2 {
			api := flows.StepResult{ID: "api", Kind: "http", Status: flows.StepPassed, HTTPStatus: 200, Duration: 12 * time.Millisecond, Measurements: hosts}
			steps := []flows.StepResult{api}
			if i%2 == 1 {
				token := flows.StepResult{ID: "token", Kind: "client_credentials", Status: flows.StepPassed, Duration: 30 * time.Millisecond,
					Measurements: append([]flows.Measurement{{Name: flows.MeasureTokenLifetime, Value: 3600}}, hosts...)}
				steps = []flows.StepResult{token, api}
			}
			if i%10 == 0 && run == 1 {
				last := &steps[len(steps)-1]
				last.Status, last.Failure = flows.StepFailed, &flows.Failure{Flow: f.Name, Step: last.ID, Reason: reasons[i/10%len(reasons)]}
			}
			r := &flows.Result{Flow: f.Name, Start: start.Add(time.Duration(run) * 10 * time.Second), Steps: steps, OK: steps[len(steps)-1].Failure == nil}
			m.ObserveResult(r)
			if r.OK {
				m.FailStreak(f.Name, 0, "")
			} else {
				m.FailStreak(f.Name, 1, string(r.Failure().Reason))
			}
		}
	}
}

func fleetName(i int) string { return fmt.Sprintf("bench-flow-%05d", i) }

// flowBytes is what /metrics serves per flow at n flows, beyond what it
// serves with none.
func flowBytes(t testing.TB, n int, opts ...metrics.Option) float64 {
	empty := len(exposition(t, metrics.New(opts...)))
	m := metrics.New(opts...)
	fleet(m, n)
	return float64(len(exposition(t, m))-empty) / float64(n)
}

// TestExpositionBytesPerFlow: /metrics costs a few hundred bytes per flow
// by default (issue 15: it was ~2.4 KB, 24 MB a scrape at 10,000 flows);
// per-flow step histograms are an opt-in that costs more. The cost per
// flow does not depend on the number of flows (BenchmarkMetricsExposition
// renders 10,000), so 2,000 keep the test quick under -race.
func TestExpositionBytesPerFlow(t *testing.T) {
	const n, limit = 2000, 500
	lean := flowBytes(t, n)
	t.Logf("%d flows: %.0f bytes per flow (%.1f MB a scrape)", n, lean, lean*n/1e6)
	if lean > limit {
		t.Errorf("/metrics is %.0f bytes per flow at %d flows, want at most %d", lean, n, limit)
	}
	full := flowBytes(t, n, metrics.WithStepHistograms(true))
	t.Logf("with step_histograms: %.0f bytes per flow (%.1f MB a scrape)", full, full*n/1e6)
	if full <= lean {
		t.Errorf("step histograms add nothing: %.0f bytes per flow, %.0f without", full, lean)
	}
}

// BenchmarkMetricsExposition renders /metrics at 10,000 flows and reports
// its size per flow.
func BenchmarkMetricsExposition(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []metrics.Option
	}{{"lean", nil}, {"step_histograms", []metrics.Option{metrics.WithStepHistograms(true)}}} {
		b.Run(c.name, func(b *testing.B) {
			m := metrics.New(c.opts...)
			fleet(m, 10000)
			var size int
			for b.Loop() {
				size = len(exposition(b, m))
			}
			b.ReportMetric(float64(size)/10000, "bytes/flow")
		})
	}
}
