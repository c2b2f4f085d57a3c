package storetest

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// Passing runs beyond the number kept are deleted as new ones come, but
// failures, warnings, cancelled runs and the first run of each state stay
// whole, and the roll-ups count every run (docs/history.md).
func testPassingRunsBeyondKept(t *testing.T, open func() Backend) {
	s := open()
	setKept(t, s, 3, 0)
	ctx := context.Background()
	record(t, s, pass("f", 0, 10))
	for i := 1; i <= 10; i++ {
		record(t, s, pass("f", i, 10))
	}
	record(t, s, fail("f", 11))
	record(t, s, pass("f", 12, 10))
	w := pass("f", 13, 10)
	w.Warnings = 1
	record(t, s, w)
	c := pass("f", 14, 10)
	c.Cancelled = true
	record(t, s, c)
	for i := 15; i <= 20; i++ {
		record(t, s, pass("f", i, 10))
	}
	all := runs(t, s, "f")
	want := []string{"pass@20s", "pass@19s", "pass@18s", "cancelled@14s", "warn@13s", "pass@12s", "fail@11s", "pass@0s"}
	if got := summaries(all); !slices.Equal(got, want) {
		t.Errorf("runs kept whole:\n got %v\nwant %v", got, want)
	}
	ups, err := s.Rollups(ctx, "f", store.TierMinute, t0)
	if err != nil || len(ups) != 1 {
		t.Fatalf("minute roll-ups %+v, %v; want 1", ups, err)
	}
	u := ups[0]
	if u.Runs != 21 || u.Passed != 19 || u.Failed != 1 || u.Cancelled != 1 || u.Warnings != 1 {
		t.Errorf("roll-up counts runs %d passed %d failed %d cancelled %d warnings %d; want 21 19 1 1 1",
			u.Runs, u.Passed, u.Failed, u.Cancelled, u.Warnings)
	}
	if u.LastRunID != all[0].ID || !u.Start.Equal(t0) || u.Flow != "f" || u.Tier != store.TierMinute {
		t.Errorf("roll-up %+v; want flow f, minute tier, last run %d, start %s", u, all[0].ID, t0)
	}
	// Prune deletes the plain passing runs recorded before the number was
	// lowered, never failures.
	n, err := s.Prune(ctx, t0, store.Retention{PassingRunsKept: 1})
	if err != nil || n != 2 {
		t.Errorf("Prune(PassingRunsKept 1) = %d, %v; want 2", n, err)
	}
	want = []string{"pass@20s", "cancelled@14s", "warn@13s", "pass@12s", "fail@11s", "pass@0s"}
	if got := summaries(runs(t, s, "f")); !slices.Equal(got, want) {
		t.Errorf("after Prune: %v, want %v", got, want)
	}
}

// In a failing streak whose reason and failed step do not change, only the
// first FailuresKeptPerStreak failures and the newest as many of the rest
// are kept whole; a change of reason starts again; a cancelled run does not
// break the streak; the roll-ups and the state count every run.
func testRepeatedFailuresBeyondKept(t *testing.T, open func() Backend) {
	s := open()
	setKept(t, s, 0, 3)
	ctx := context.Background()
	sec := 0
	next := func(r store.Run) store.FlowState {
		t.Helper()
		sec++
		return record(t, s, r)
	}
	next(pass("f", sec, 10))
	for range 20 { // at 2..21 s
		next(fail("f", sec+1))
	}
	c := pass("f", sec+1, 10) // at 22 s
	c.Cancelled = true
	next(c)
	next(fail("f", sec+1)) // at 23 s: the same streak, a repeat
	for range 6 {          // at 24..29 s: a reason change, then repeats
		r := fail("f", sec+1)
		r.Reason = "server_error"
		next(r)
	}
	st := next(pass("f", sec+1, 10)) // at 30 s
	all := runs(t, s, "f")
	want := []string{"pass@30s", "fail@29s", "fail@28s", "fail@27s", "fail@26s", "fail@25s", "fail@24s",
		"cancelled@22s", "fail@4s", "fail@3s", "fail@2s", "pass@0s"}
	if got := summaries(all); !slices.Equal(got, want) {
		t.Errorf("runs kept whole:\n got %v\nwant %v", got, want)
	}
	if st.ConsecutivePasses != 1 || st.Runs != 30 || st.LastRunID != all[0].ID {
		t.Errorf("state: %+v", st)
	}
	ups, err := s.Rollups(ctx, "f", store.TierHour, t0)
	if err != nil || len(ups) != 1 || ups[0].Runs != 30 || ups[0].Failed != 27 || ups[0].Passed != 2 || ups[0].Cancelled != 1 {
		t.Errorf("roll-ups: %+v, %v", ups, err)
	}
	if n, err := s.Prune(ctx, t0.Add(time.Minute), store.Retention{FailuresKeptPerStreak: 3}); err != nil || n != 0 {
		t.Errorf("Prune deleted %d runs (err %v), want 0: it keeps what RecordRun kept", n, err)
	}
}

// Roll-ups per minute and hour sum the runs' counts and latencies (the
// latency leaves out waits); the histogram gives percentiles within their
// bucket; RollupTotals sums a tier per flow from since on.
func testRollupsAndTotals(t *testing.T, open func() Backend) {
	s := open()
	ctx := context.Background()
	var lats []float64
	for i := range 600 { // one run a second for 10 minutes
		lat := 5 * math.Exp(float64(i%100)/15)
		lats = append(lats, lat)
		r := pass("f", i, lat+20)
		r.WaitedMS = 20
		if i%50 == 0 {
			r = fail("f", i)
			r.DurationMS = lat
		}
		record(t, s, r)
	}
	record(t, s, pass("g", 90*60, 7)) // another flow, in the next hour
	ups, err := s.Rollups(ctx, "f", store.TierMinute, t0)
	if err != nil || len(ups) != 10 {
		t.Fatalf("%d minute roll-ups (%v), want 10", len(ups), err)
	}
	var all store.Rollup
	for i, u := range ups {
		if !u.Start.Equal(at(i)) || u.Runs != 60 {
			t.Errorf("roll-up %d: start %v runs %d; want %v 60", i, u.Start, u.Runs, at(i))
		}
		all.Merge(u)
	}
	if all.Passed != 588 || all.Failed != 12 {
		t.Errorf("passed %d failed %d, want 588 12", all.Passed, all.Failed)
	}
	sorted := slices.Clone(lats)
	slices.Sort(sorted)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		truth := sorted[int(math.Ceil(q*float64(len(sorted))))-1]
		lo, hi := store.HistBounds(store.HistBucket(truth))
		if got := all.Latency.Quantile(q); got < lo || got >= hi {
			t.Errorf("p%v = %.3f, true %.3f: outside its bucket [%.3f, %.3f)", q*100, got, truth, lo, hi)
		}
	}
	var sum float64
	for _, l := range lats {
		sum += math.Round(l*1000) / 1000
	}
	if math.Abs(all.LatencySumMS-sum) > 0.01 || all.LatencyMinMS != 5 || math.Abs(all.LatencyMaxMS-sorted[len(sorted)-1]) > 0.001 {
		t.Errorf("sum %.3f min %.3f max %.3f; want %.3f 5 %.3f", all.LatencySumMS, all.LatencyMinMS, all.LatencyMaxMS, sum, sorted[len(sorted)-1])
	}
	hours, err := s.Rollups(ctx, "f", store.TierHour, time.Time{})
	if err != nil || len(hours) != 1 || hours[0].Runs != 600 || hours[0].Latency.Count() != 600 || !hours[0].Start.Equal(t0) {
		t.Errorf("hour roll-ups %+v, %v; want one of 600 runs", hours, err)
	}
	if later, err := s.Rollups(ctx, "f", store.TierMinute, at(5).Add(time.Second)); err != nil || len(later) != 4 {
		t.Errorf("roll-ups since 5m01s: %d, %v; want the 4 that start at or after it", len(later), err)
	}
	totals, err := s.RollupTotals(ctx, store.TierHour, t0)
	if err != nil || len(totals) != 2 {
		t.Fatalf("totals %+v, %v; want two flows", totals, err)
	}
	f := totals["f"]
	if f.Runs != 600 || f.Passed != 588 || f.Failed != 12 || f.LatencyMinMS != 5 || math.Abs(f.LatencySumMS-sum) > 0.01 ||
		!f.Start.Equal(t0) || f.LastRunID != ups[9].LastRunID || f.Flow != "f" {
		t.Errorf("totals of f: %+v", f)
	}
	if g := totals["g"]; g.Runs != 1 || g.LatencyMaxMS != 7 {
		t.Errorf("totals of g: %+v", g)
	}
	if later, err := s.RollupTotals(ctx, store.TierHour, t0.Add(time.Hour)); err != nil || len(later) != 1 || later["g"].Runs != 1 {
		t.Errorf("totals since the next hour: %+v, %v; want g only", later, err)
	}
}

// Prune keeps each roll-up tier for its own retention.
func testPruneRollupTiers(t *testing.T, open func() Backend) {
	s := open()
	ctx := context.Background()
	for m := range 180 {
		record(t, s, pass("f", m*60, 10))
	}
	record(t, s, pass("other", 200*60, 10)) // moves the runs past the last minute of f
	now := t0.Add(3 * time.Hour)
	if _, err := s.Prune(ctx, now, store.Retention{MinuteRollups: 90 * time.Minute, HourRollups: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	mins, _ := s.Rollups(ctx, "f", store.TierMinute, time.Time{})
	hours, _ := s.Rollups(ctx, "f", store.TierHour, time.Time{})
	if len(mins) != 90 || !mins[0].Start.Equal(now.Add(-90*time.Minute)) {
		t.Errorf("%d minute roll-ups left; want 90 from %v", len(mins), now.Add(-90*time.Minute))
	}
	if len(hours) != 2 || hours[0].Runs != 60 || !hours[0].Start.Equal(t0.Add(time.Hour)) {
		t.Errorf("hour roll-ups left: %+v; want the last two of 60 runs", hours)
	}
}

// RestoreRuns writes runs kept in memory while the store failed, whole,
// with the states computed then; a state's LastRunID is that of its last
// counted run once written; the roll-ups count them.
func testRestoreRuns(t *testing.T, open func() Backend) {
	s := open()
	ctx := context.Background()
	setKept(t, s, 1, 1)
	record(t, s, pass("f", 0, 10))
	prev, _, _ := s.FlowState(ctx, "f")
	var mem []store.Run
	st := prev
	for i := 1; i <= 4; i++ {
		r := pass("f", i, 10)
		if i == 4 {
			r = fail("f", i)
		}
		mem = append(mem, r)
		st = st.Next(r)
	}
	c := pass("g", 5, 10)
	c.Cancelled = true
	mem = append(mem, c)
	gst := store.FlowState{}.Next(c)
	if err := s.RestoreRuns(ctx, mem, []store.FlowState{st, gst}); err != nil {
		t.Fatal(err)
	}
	all := runs(t, s, "f")
	if got, want := summaries(all), []string{"fail@4s", "pass@3s", "pass@2s", "pass@1s", "pass@0s"}; !slices.Equal(got, want) {
		t.Errorf("restored runs %v, want %v (all whole)", got, want)
	}
	got, found, err := s.FlowState(ctx, "f")
	st.LastRunID = all[0].ID
	if err != nil || !found || got != st {
		t.Errorf("state after restore\n %+v\nwant\n %+v", got, st)
	}
	if g, found, _ := s.FlowState(ctx, "g"); !found || g.Runs != 1 || !g.LastRun.IsZero() {
		t.Errorf("state of g: %+v, %v", g, found)
	}
	totals, err := s.RollupTotals(ctx, store.TierHour, t0)
	if err != nil || totals["f"].Runs != 5 || totals["f"].Failed != 1 || totals["g"].Cancelled != 1 {
		t.Errorf("totals after restore: %+v, %v", totals, err)
	}
	// Recording carries on from the restored state.
	if next := record(t, s, fail("f", 6)); next.ConsecutiveFailures != 2 || next.Runs != 6 {
		t.Errorf("next state %+v", next)
	}
}
