package metrics_test

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/metrics"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/perflow.golden")

// perFlowScenario exercises every per-flow series: runs by result and
// reason, up, last success, run duration, streaks with a changing reason,
// token lifetimes and JWKS keys by step, skips by why, flow labels, and a
// reload that removes flows.
func perFlowScenario(m *metrics.Metrics) {
	fleet(m, 40)
	start := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	m.LastSuccess("bench-flow-00003", start)
	m.ObserveResult(&flows.Result{Flow: "bench-flow-00005", Start: start, OK: true, Steps: []flows.StepResult{
		{ID: "keys", Kind: "discovery", Status: flows.StepPassed, Duration: 5 * time.Millisecond, Measurements: []flows.Measurement{{Name: flows.MeasureJWKSKeys, Value: 3}}},
		{ID: "api", Kind: "http", Status: flows.StepWarned, Duration: 7 * time.Millisecond}}})
	m.Skipped("bench-flow-00001", "overlap")
	m.Skipped("bench-flow-00001", "overlap")
	m.Skipped("bench-flow-00001", "behind")
	m.Skipped("bench-flow-00002", "retry_after")
	m.FailStreak("bench-flow-00010", 2, "timeout")
	m.FailStreak("bench-flow-00020", 0, "")
	// A reload drops five flows and adds one.
	var keep []*flows.Flow
	for i := range 35 {
		keep = append(keep, &flows.Flow{Name: fleetName(i), Labels: map[string]string{"team": "team-x", "severity": "page"}})
	}
	keep = append(keep, &flows.Flow{Name: "new-flow", Labels: map[string]string{"tier-1": "yes"}})
	m.SetFlows(keep)
	m.ObserveResult(&flows.Result{Flow: "new-flow", Start: start, Steps: []flows.StepResult{
		{ID: "api", Kind: "http", Status: flows.StepFailed, Duration: time.Millisecond, Failure: &flows.Failure{Reason: "http_status_unexpected"}}}})
	m.FailStreak("new-flow", 1, "http_status_unexpected")
	m.FailStreak("bench-flow-00039", 1, "timeout") // removed: no series
}

// ownLines are the authwatch_ lines of the exposition, the build's labels
// left out.
func ownLines(s string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, "authwatch_") && !strings.Contains(line, "authwatch_build_info") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// TestPerFlowSeriesAsBefore: the per-flow series are served byte for byte
// as when each was a series of a client_golang vector (the golden file was
// written by that code).
func TestPerFlowSeriesAsBefore(t *testing.T) {
	m := metrics.New()
	perFlowScenario(m)
	got := ownLines(exposition(t, m))
	path := filepath.Join("testdata", "perflow.golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("line %d:\ngot  %s\nwant %s", i+1, g, w)
			}
		}
	}
}

// TestLiveBytesPerFlow: the metrics keep a few hundred bytes per flow
// live (a series of a client_golang vector costs about 400 bytes, its
// label pairs included, and a flow had seven: 2.6 KB per flow, 26 MB of
// the daemon's live heap at 10,000 flows, twice that in resident memory).
func TestLiveBytesPerFlow(t *testing.T) {
	const n, limit = 2000, 1000
	before := liveHeap()
	m := metrics.New()
	fleet(m, n)
	per := float64(liveHeap()-before) / n
	runtime.KeepAlive(m)
	t.Logf("%.0f bytes live per flow", per)
	if per > limit {
		t.Errorf("the metrics keep %.0f bytes live per flow, want at most %d", per, limit)
	}
}

// liveHeap is the heap live after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}
