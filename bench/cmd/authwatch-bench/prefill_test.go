package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// TestPrefillHistory writes a small synthetic history through the real
// SQLite store and reads it back: every flow gets its runs, in start order,
// about 1 % failing, none in the future.
func TestPrefillHistory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	names := []string{"bench-cc-00000", "bench-plain-00001"}
	every := 10 * time.Second
	began := time.Now()
	res, err := prefillHistory(context.Background(), dir, names, 0.25, every, 10000, io.Discard) // 6 h: 2,160 runs per flow
	if err != nil {
		t.Fatal(err)
	}
	if res.RunsPerFlow != 2160 || res.Runs != 4320 {
		t.Fatalf("runs per flow %d, runs %d; want 2160, 4320", res.RunsPerFlow, res.Runs)
	}
	if res.Failures < 4320/prefillFailEvery-2 || res.Failures > 4320/prefillFailEvery+2 || res.DBBytes <= 0 || res.BytesPerRun <= 0 {
		t.Fatalf("failures %d (want about %d), db %d B, %f B/run", res.Failures, 4320/prefillFailEvery, res.DBBytes, res.BytesPerRun)
	}
	if want := res.BytesPerRun * 10000 * 2160; res.ProjectedBytes != want {
		t.Fatalf("projected %f, want %f", res.ProjectedBytes, want)
	}
	db, err := sqlite.Open(filepath.Join(dir, "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range names {
		st, ok, err := db.FlowState(context.Background(), name)
		if err != nil || !ok {
			t.Fatalf("%s: state %v %v", name, ok, err)
		}
		if st.Runs != 2160 {
			t.Errorf("%s: the state counts %d runs, want 2160", name, st.Runs)
		}
		if st.LastRun.After(began) || st.LastRun.Before(began.Add(-3*every)) {
			t.Errorf("%s: last run at %s, want within %s before the prefill began (%s)", name, st.LastRun, 3*every, began)
		}
		runs, err := db.Runs(context.Background(), name, 0)
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for i, r := range runs {
			if i > 0 && !r.Start.Before(runs[i-1].Start) {
				t.Fatalf("%s: runs not in start order at %d", name, i)
			}
			if !r.OK {
				failed++
			}
		}
		// The daemon's tiers apply from the first run: whole are the
		// failures, the passes after them (changes of state) and the newest
		// 50 passing runs; the other passing runs are in the roll-ups.
		if max := 2*(2160/prefillFailEvery+1) + 50; len(runs) > max {
			t.Errorf("%s: %d runs kept whole of 2160, want at most %d", name, len(runs), max)
		}
		// Failures are kept whole.
		if failed < 2160/prefillFailEvery-1 || failed > 2160/prefillFailEvery+1 {
			t.Errorf("%s: %d failed runs kept, want about %d", name, failed, 2160/prefillFailEvery)
		}
	}
}
