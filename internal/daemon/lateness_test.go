package daemon

import (
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/scheduler"
)

// TestLateThreshold: a tenth of the shortest interval, at most a second.
func TestLateThreshold(t *testing.T) {
	var w lateWatch
	if got := w.limit(); got != time.Second {
		t.Errorf("before any flow: %s", got)
	}
	fs := []*flows.Flow{{Name: "a", Every: conf.Dur(time.Minute)}, {Name: "b", Every: conf.Dur(2 * time.Second)}, {Name: "c"}}
	w.setFlows(fs, func(f *flows.Flow) time.Duration { return f.Every.Std() })
	if got := w.limit(); got != 200*time.Millisecond {
		t.Errorf("shortest every 2s: %s, want 200ms", got)
	}
	w.setFlows(fs[:1], func(f *flows.Flow) time.Duration { return f.Every.Std() })
	if got := w.limit(); got != time.Second {
		t.Errorf("shortest every 1m: %s, want 1s", got)
	}
}

// TestLateWatchWindow: runs start late when more than 1 % of the last
// minute's runs (and at least minLateRuns) were later than the threshold,
// or a run waits longer than it now; late runs leave the window a minute
// later.
func TestLateWatchWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var w lateWatch
	w.threshold.Store(int64(100 * time.Millisecond))
	for i := range 1000 {
		w.observe(time.Millisecond, t0.Add(time.Duration(i)*time.Millisecond))
	}
	w.observe(2*time.Second, t0)
	w.observe(time.Second, t0)
	if r := w.report(t0.Add(time.Second), scheduler.Load{}); r.behind() || r.Runs != 1002 || r.Late != 2 || r.Worst != 2*time.Second {
		t.Errorf("two late runs of 1,002: %+v behind=%v, want not behind", r, r.behind())
	}
	for range 9 {
		w.observe(300*time.Millisecond, t0.Add(10*time.Second))
	}
	r := w.report(t0.Add(10*time.Second), scheduler.Load{})
	if !r.behind() || r.Late != 11 || r.Runs != 1011 {
		t.Errorf("11 late runs of 1,011 (p99 over the threshold): %+v, want behind", r)
	}
	if r := w.report(t0.Add(10*time.Second), scheduler.Load{OldestWaiting: 150 * time.Millisecond}); !r.behind() || r.healthDetail(false)["oldest_waiting_ms"] != int64(150) {
		t.Errorf("a run waiting 150ms: %+v, want behind", r)
	}
	if r := w.report(t0.Add(lateWindow+11*time.Second), scheduler.Load{}); r.behind() || r.Runs != 0 || r.healthDetail(false) != nil {
		t.Errorf("a minute later: %+v, want an empty window", r)
	}
	// While the log's warning stands (its all-clear waits a whole window
	// without late runs), /healthz keeps saying so.
	if r := w.report(t0.Add(lateWindow+11*time.Second), scheduler.Load{}); r.healthDetail(true) == nil {
		t.Errorf("an empty window while the warning stands: no runs_late in /healthz")
	}
}

// TestLateWatchBehind: starts not made because the flow was behind count
// as late runs.
func TestLateWatchBehind(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var w lateWatch
	for range 3 {
		w.observeBehind(t0)
	}
	if r := w.report(t0, scheduler.Load{}); !r.behind() || r.Runs != 3 || r.Late != 3 {
		t.Errorf("three starts behind: %+v, want behind", r)
	}
}
