package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// In a failing streak whose reason and failed step do not change, only
// the first FailuresKeptPerStreak failures and the newest as many of the
// rest are kept whole; a change of reason starts again, a cancelled run
// does not break the streak, and the roll-ups and the flow's state count
// every run.
func TestRepeatedFailuresBeyondKeptAreRolledUp(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	ret := store.Retention{FailuresKeptPerStreak: 3}
	if _, err := s.Prune(ctx, t0, ret); err != nil {
		t.Fatal(err)
	}
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
	other := fail("f", sec+1)
	other.Reason = "server_error" // at 24 s: a reason change
	next(other)
	for range 5 { // at 25..29 s
		r := fail("f", sec+1)
		r.Reason = "server_error"
		next(r)
	}
	st := next(pass("f", sec+1, 10)) // at 30 s: passing again

	runs, err := s.Runs(ctx, "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := summaries(runs)
	want := []string{"pass@30s",
		"fail@29s", "fail@28s", "fail@27s", // server_error: the flow's newest three repeats
		"fail@26s", "fail@25s", "fail@24s", // server_error: the first three
		"cancelled@22s",
		"fail@4s", "fail@3s", "fail@2s", // invalid_token: the first three
		"pass@0s"}
	// The invalid_token streak's repeats (5..21 s and 23 s) went.
	if !slices.Equal(got, want) {
		t.Errorf("runs kept whole:\n got %v\nwant %v", got, want)
	}
	if st.ConsecutivePasses != 1 || st.Runs != 30 || st.LastRunID != runs[0].ID {
		t.Errorf("state: %+v", st)
	}
	ups, err := s.Rollups(ctx, "f", store.TierHour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 || ups[0].Runs != 30 || ups[0].Failed != 27 || ups[0].Passed != 2 || ups[0].Cancelled != 1 {
		t.Errorf("roll-ups: %+v", ups)
	}
	// Prune keeps what the writer kept.
	if n, err := s.Prune(ctx, t0.Add(time.Minute), ret); err != nil || n != 0 {
		t.Errorf("Prune deleted %d runs (err %v), want 0", n, err)
	}

	// After a restart, the newest repeats are read back: a new streak's
	// repeats push out the oldest of them.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s = s2
	if _, err := s.Prune(ctx, t0.Add(time.Minute), ret); err != nil {
		t.Fatal(err)
	}
	for range 4 { // at 31..34 s: 31, 32, 33 whole, 34 a repeat
		next(fail("f", sec+1))
	}
	runs, err = s.Runs(ctx, "f", 5)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summaries(runs), []string{"fail@34s", "fail@33s", "fail@32s", "fail@31s", "pass@30s"}; !slices.Equal(got, want) {
		t.Errorf("newest runs after restart: %v, want %v", got, want)
	}
	var repeats []int64
	rows, err := s.read.Query(`SELECT start_ns FROM runs WHERE plain = 2 ORDER BY start_ns`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ns int64
		if err := rows.Scan(&ns); err != nil {
			t.Fatal(err)
		}
		repeats = append(repeats, int64(fromNanos(ns).Sub(t0)/time.Second))
	}
	rows.Close()
	if !slices.Equal(repeats, []int64{28, 29, 34}) {
		t.Errorf("repeats kept whole at %v s, want [28 29 34]", repeats)
	}
}
