package daemon

import (
	"slices"
	"testing"
	"time"
)

// TestSkipWatchQuietTime: a flow counts as skipping until twice its
// every: (at least skipQuietFloor) passed without a skip; a removed flow
// is forgotten at once; runs add up per flow until it is forgotten.
func TestSkipWatchQuietTime(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	every := map[string]time.Duration{"fast": time.Second, "slow": time.Minute}
	var w skipWatch
	for _, f := range []string{"fast", "fast", "slow", "gone"} {
		w.skipped(f, t0)
	}
	if r := w.recent(t0.Add(skipQuietFloor), every); r.Flows != 2 || r.Runs != 3 || !slices.Equal(r.Examples, []string{"fast", "slow"}) {
		t.Errorf("at the floor: %+v, want fast and slow, 3 runs", r)
	}
	if r := w.recent(t0.Add(skipQuietFloor+time.Millisecond), every); r.Flows != 1 || r.Runs != 1 || r.Examples[0] != "slow" {
		t.Errorf("past the floor: %+v, want slow alone", r)
	}
	if r := w.recent(t0.Add(2*time.Minute+time.Millisecond), every); r.Flows != 0 || r.healthDetail() != nil {
		t.Errorf("past twice slow's every: %+v, want none", r)
	}
	w.skipped("fast", t0.Add(3*time.Minute))
	if r := w.recent(t0.Add(3*time.Minute), every); r.Runs != 1 {
		t.Errorf("a new episode counts from 0: %+v", r)
	}
}
