package sqlite

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// tiered sets the store to keep n plain passing runs whole, as the
// daemon's first Prune does.
func tiered(t *testing.T, s *Store, n int) {
	t.Helper()
	if _, err := s.Prune(context.Background(), t0, store.Retention{PassingRunsKept: n}); err != nil {
		t.Fatal(err)
	}
}

// pass is a passing run of flow at t0 plus sec seconds, latency lat ms.
func pass(flow string, sec int, lat float64) store.Run {
	return store.Run{Flow: flow, Start: t0.Add(time.Duration(sec) * time.Second), DurationMS: lat, OK: true, Steps: sampleSteps}
}

func fail(flow string, sec int) store.Run {
	r := pass(flow, sec, 80)
	r.OK, r.Reason, r.Layer, r.FailedStep, r.Summary = false, "invalid_token", "app", "api", "token expired"
	return r
}

func summaries(runs []store.Run) (out []string) {
	for _, r := range runs {
		s := "pass"
		switch {
		case r.Cancelled:
			s = "cancelled"
		case !r.OK:
			s = "fail"
		case r.Warnings > 0:
			s = "warn"
		}
		out = append(out, s+"@"+r.Start.Sub(t0).String())
	}
	return out
}

// Passing runs beyond the number kept are deleted as new ones come, but
// failures, warnings, cancelled runs and the first run of each state stay
// whole, and the roll-ups count every run.
func TestPassingRunsBeyondKeptAreRolledUp(t *testing.T) {
	s, _ := openTemp(t)
	tiered(t, s, 3)
	ctx := context.Background()
	var want []store.Run
	add := func(r store.Run) {
		t.Helper()
		record(t, s, r)
		want = append(want, r)
	}
	add(pass("f", 0, 10)) // first run: a state change, kept
	for i := 1; i <= 10; i++ {
		add(pass("f", i, 10))
	}
	add(fail("f", 11))
	add(pass("f", 12, 10)) // passing again: a state change, kept
	w := pass("f", 13, 10)
	w.Warnings = 1
	add(w)
	c := pass("f", 14, 10)
	c.Cancelled = true
	add(c)
	for i := 15; i <= 20; i++ {
		add(pass("f", i, 10))
	}
	runs, err := s.Runs(ctx, "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := summaries(runs)
	wantKept := []string{"pass@20s", "pass@19s", "pass@18s", "cancelled@14s", "warn@13s", "pass@12s", "fail@11s", "pass@0s"}
	if !slices.Equal(got, wantKept) {
		t.Errorf("runs kept whole:\n got %v\nwant %v", got, wantKept)
	}

	ups, err := s.Rollups(ctx, "f", store.TierMinute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 {
		t.Fatalf("%d minute roll-ups, want 1: %+v", len(ups), ups)
	}
	u := ups[0]
	if u.Runs != int64(len(want)) || u.Passed != 19 || u.Failed != 1 || u.Cancelled != 1 || u.Warnings != 1 {
		t.Errorf("roll-up counts runs %d passed %d failed %d cancelled %d warnings %d; want 21 19 1 1 1",
			u.Runs, u.Passed, u.Failed, u.Cancelled, u.Warnings)
	}
	if u.LastRunID != runs[0].ID || !u.Start.Equal(t0) {
		t.Errorf("roll-up last run %d start %s; want %d %s", u.LastRunID, u.Start, runs[0].ID, t0)
	}
}

// The roll-up of a minute is written when its flow's minute changes, the
// hour's along with it; the open minute is read from memory meanwhile and
// written by Close.
func TestRollupMinuteFlushAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authwatch.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for sec := 0; sec < 120; sec += 10 {
		record(t, s, pass("f", sec, 100))
	}
	var rows int
	if err := s.read.QueryRow(`SELECT count(*) FROM rollups WHERE tier = 0`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d minute rows written while the second minute is open, want 1 (the first)", rows)
	}
	ups, err := s.Rollups(ctx, "f", store.TierMinute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 2 || ups[0].Runs != 6 || ups[1].Runs != 6 {
		t.Fatalf("minute roll-ups before Close: %+v; want two of 6 runs (the second from memory)", ups)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ups, err = s.Rollups(ctx, "f", store.TierMinute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 2 || ups[1].Runs != 6 {
		t.Errorf("minute roll-ups after Close: %+v; want the second minute written", ups)
	}
	hours, err := s.Rollups(ctx, "f", store.TierHour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 1 || hours[0].Runs != 12 || hours[0].Latency.Count() != 12 {
		t.Errorf("hour roll-ups: %+v; want one of 12 runs", hours)
	}
	// A restart in the same minute adds to the row (upsert), not over it.
	record(t, s, pass("f", 125, 100))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ups, _ = s.Rollups(ctx, "f", store.TierMinute, t0.Add(2*time.Minute))
	if len(ups) != 1 || ups[0].Runs != 1 {
		t.Errorf("third minute: %+v", ups)
	}
	hours, _ = s.Rollups(ctx, "f", store.TierHour, t0)
	if len(hours) != 1 || hours[0].Runs != 13 {
		t.Errorf("hour after a second session: %+v; want 13 runs", hours)
	}
}

// A flow that stops running has its last minute written once other flows'
// runs reach a later minute (the sweep), without waiting for Close.
func TestRollupSweep(t *testing.T) {
	s, _ := openTemp(t)
	record(t, s, pass("quiet", 0, 10))
	for sec := 0; sec <= 150; sec += 30 {
		record(t, s, pass("busy", sec, 10))
	}
	var runs int
	err := s.read.QueryRow(`SELECT coalesce(sum(runs), 0) FROM rollups JOIN flow_ids ON flow_ids.id = flow_id
		WHERE flow = 'quiet' AND tier = 0`).Scan(&runs)
	if err != nil || runs != 1 {
		t.Errorf("quiet flow's minute written: %d runs, %v; want 1", runs, err)
	}
}

// Percentiles of merged histograms fall in the bucket of the true value.
func TestRollupPercentiles(t *testing.T) {
	s, _ := openTemp(t)
	var lats []float64
	for i := range 600 {
		// A skewed latency spread over 10 minutes: 5 ms to a few seconds.
		lat := 5 * math.Exp(float64(i%100)/15)
		lats = append(lats, lat)
		record(t, s, pass("f", i, lat))
	}
	ups, err := s.Rollups(context.Background(), "f", store.TierMinute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 10 {
		t.Fatalf("%d minute roll-ups, want 10", len(ups))
	}
	var all store.Rollup
	for _, u := range ups {
		all.Merge(u)
	}
	slices.Sort(lats)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		truth := lats[int(math.Ceil(q*float64(len(lats))))-1]
		lo, hi := store.HistBounds(store.HistBucket(truth))
		if got := all.Latency.Quantile(q); got < lo || got >= hi {
			t.Errorf("p%v = %.3f, true %.3f: outside its bucket [%.3f, %.3f)", q*100, got, truth, lo, hi)
		}
	}
	var sum float64
	for _, l := range lats {
		sum += math.Round(l*1000) / 1000
	}
	if math.Abs(all.LatencySumMS-sum) > 0.01 || all.LatencyMinMS != 5 || math.Abs(all.LatencyMaxMS-lats[len(lats)-1]) > 0.001 {
		t.Errorf("sum %.3f min %.3f max %.3f; want %.3f 5 %.3f", all.LatencySumMS, all.LatencyMinMS, all.LatencyMaxMS, sum, lats[len(lats)-1])
	}
}

// Prune keeps each tier for its own retention.
func TestPruneRollupTiers(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	// One run a minute for three hours.
	for m := range 180 {
		record(t, s, pass("f", m*60, 10))
	}
	if err := s.flushAll(ctx); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(3 * time.Hour)
	if _, err := s.Prune(ctx, now, store.Retention{MinuteRollups: 90 * time.Minute, HourRollups: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	mins, _ := s.Rollups(ctx, "f", store.TierMinute, time.Time{})
	hours, _ := s.Rollups(ctx, "f", store.TierHour, time.Time{})
	if len(mins) != 90 || !mins[0].Start.Equal(now.Add(-90*time.Minute)) {
		t.Errorf("%d minute roll-ups left, first %v; want 90 from %v", len(mins), mins[0].Start, now.Add(-90*time.Minute))
	}
	if len(hours) != 2 || hours[0].Runs != 60 || !hours[0].Start.Equal(t0.Add(time.Hour)) {
		t.Errorf("hour roll-ups left: %+v; want the last two of 60 runs", hours)
	}
	totals, err := s.RollupTotals(ctx, store.TierHour, t0)
	if err != nil || totals["f"].Runs != 120 || totals["f"].Passed != 120 {
		t.Errorf("hour totals %+v, %v; want 120 runs", totals["f"], err)
	}
}

// Prune deletes plain passing runs beyond the number kept that the writer
// did not (runs recorded before the number was set), never failures.
func TestPrunePassingRunsKept(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	record(t, s, fail("f", 0))
	for i := 1; i <= 10; i++ {
		record(t, s, pass("f", i, 10))
	}
	n, err := s.Prune(ctx, t0, store.Retention{PassingRunsKept: 4})
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := s.Runs(ctx, "f", 0)
	want := []string{"pass@10s", "pass@9s", "pass@8s", "pass@7s", "pass@1s", "fail@0s"}
	if got := summaries(runs); n != 5 || !slices.Equal(got, want) {
		t.Errorf("pruned %d, left %v; want 5 and %v", n, got, want)
	}
	// From now on the writer keeps 4 as runs come.
	record(t, s, pass("f", 11, 10))
	runs, _ = s.Runs(ctx, "f", 0)
	want = []string{"pass@11s", "pass@10s", "pass@9s", "pass@8s", "pass@1s", "fail@0s"}
	if got := summaries(runs); !slices.Equal(got, want) {
		t.Errorf("after one more run: %v; want %v", got, want)
	}
}

// A run's ID is never given again, though passing runs are deleted as
// others come, across a reopen too.
func TestRunIDsNeverReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authwatch.db")
	seen := map[int64]bool{}
	var last int64
	for session := range 2 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		tiered(t, s, 2)
		for i := range 20 {
			record(t, s, pass("f", session*100+i, 10))
			runs, err := s.Runs(context.Background(), "f", 1)
			if err != nil {
				t.Fatal(err)
			}
			id := runs[0].ID
			if seen[id] || id <= last {
				t.Fatalf("session %d run %d got ID %d after %d (seen before: %v)", session, i, id, last, seen[id])
			}
			seen[id], last = true, id
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The state cached by the writer follows ForgetFlows and RestoreRuns.
func TestWriterStateCache(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	record(t, s, fail("f", 0))
	if err := s.ForgetFlows(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if st := record(t, s, fail("f", 1)); st.ConsecutiveFailures != 1 || st.Runs != 1 {
		t.Errorf("after ForgetFlows: %+v; want a fresh state", st)
	}
	restored := store.FlowState{Flow: "f", OK: true, Since: t0.Add(5 * time.Second), ConsecutivePasses: 7,
		LastRun: t0.Add(5 * time.Second), Runs: 40}
	if err := s.RestoreRuns(ctx, []store.Run{pass("f", 5, 10)}, []store.FlowState{restored}); err != nil {
		t.Fatal(err)
	}
	if st := record(t, s, pass("f", 6, 10)); st.ConsecutivePasses != 8 || st.Runs != 41 {
		t.Errorf("after RestoreRuns: %+v; want the restored state extended", st)
	}
	ups, _ := s.Rollups(ctx, "f", store.TierMinute, t0)
	if len(ups) != 1 || ups[0].Runs != 4 {
		t.Errorf("roll-ups: %+v; want the 4 runs, the restored one included", ups)
	}
}

// The numbers of passing runs and repeats kept whole given to Open apply
// from the first run, before any Prune.
func TestOpenRetentionAppliesBeforeThePrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authwatch.db")
	s, err := OpenWith(path, Options{Retention: store.Retention{PassingRunsKept: 3, FailuresKeptPerStreak: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for sec := range 10 {
		record(t, s, pass("f", sec, 10))
	}
	for sec := 10; sec < 15; sec++ {
		record(t, s, fail("f", sec))
	}
	runs, err := s.Runs(context.Background(), "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fail@14s", "fail@10s", "pass@9s", "pass@8s", "pass@7s", "pass@0s"}
	if got := summaries(runs); !slices.Equal(got, want) {
		t.Errorf("runs kept whole:\n got %v\nwant %v", got, want)
	}
}

// ForgetFlows drops the writer's memory of the flows no longer configured,
// writing their open roll-ups first.
func TestForgetFlowsDropsTheWritersMemory(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, f := range []string{"a", "b", "c"} {
		record(t, s, pass(f, 0, 10))
		record(t, s, pass(f, 1, 10))
	}
	if err := s.ForgetFlows(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	s.hist.mu.Lock()
	entries := len(s.hist.flows)
	s.hist.mu.Unlock()
	if entries != 1 {
		t.Errorf("%d flows in the writer's memory after ForgetFlows, want 1", entries)
	}
	for _, f := range []string{"a", "b"} {
		ups, err := s.Rollups(ctx, f, store.TierMinute, t0)
		if err != nil || len(ups) != 1 || ups[0].Runs != 2 {
			t.Errorf("flow %s: minute roll-ups %+v, %v; want one of 2 runs", f, ups, err)
		}
	}
	// Configured again: a new state, the same flow number.
	if st := record(t, s, pass("b", 2, 10)); st.Runs != 1 {
		t.Errorf("flow b configured again: its state counts %d runs, want 1", st.Runs)
	}
	var ids int
	if err := s.read.QueryRow(`SELECT count(*) FROM flow_ids`).Scan(&ids); err != nil || ids != 3 {
		t.Errorf("%d flow numbers (%v), want 3", ids, err)
	}
}
