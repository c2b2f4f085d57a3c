package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

func testRecordRunStreaks(t *testing.T, open func() Backend) {
	ctx := context.Background()
	type step struct{ ok, cancelled bool }
	P, F, C := step{ok: true}, step{}, step{cancelled: true}
	tests := []struct {
		name                    string
		runs                    []step
		ok                      bool
		since, lastRun          int // minutes after t0; -1 for the zero time
		passes, failures, total int
		lastReason              string
	}{
		{"one pass", []step{P}, true, 0, 0, 1, 0, 1, ""},
		{"one failure", []step{F}, false, 0, 0, 0, 1, 1, "invalid_token"},
		{"pass streak", []step{P, P, P}, true, 0, 2, 3, 0, 3, ""},
		{"pass then fail", []step{P, P, F}, false, 2, 2, 0, 1, 3, "invalid_token"},
		{"recovery", []step{F, F, F, P}, true, 3, 3, 1, 0, 4, ""},
		{"flapping", []step{P, F, P, F, F}, false, 3, 4, 0, 2, 5, "invalid_token"},
		{"only cancelled", []step{C, C}, false, -1, -1, 0, 0, 2, ""},
		{"cancelled keeps failing streak", []step{F, C, F}, false, 0, 2, 0, 2, 3, "invalid_token"},
		{"cancelled does not break passes", []step{P, C, P}, true, 0, 2, 2, 0, 3, ""},
		{"cancelled first, then pass", []step{C, P}, true, 1, 1, 1, 0, 2, ""},
	}
	s := open()
	minute := func(i int) time.Time {
		if i < 0 {
			return time.Time{}
		}
		return at(i)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flow := tt.name
			var got store.FlowState
			var lastCounted store.Run
			for i, st := range tt.runs {
				r := store.Run{Flow: flow, Start: at(i), OK: st.ok, Cancelled: st.cancelled, Warnings: i}
				if !st.ok {
					r.Reason, r.Summary, r.Layer, r.FailedStep = "invalid_token", "token expired", "api", "call"
				}
				got = record(t, s, r)
				if !st.cancelled {
					newest, err := s.Runs(ctx, flow, 1)
					if err != nil || len(newest) != 1 {
						t.Fatalf("Runs = %v, %v", newest, err)
					}
					lastCounted = newest[0]
				}
			}
			want := store.FlowState{Flow: flow, OK: tt.ok, Since: minute(tt.since),
				ConsecutivePasses: tt.passes, ConsecutiveFailures: tt.failures,
				LastRun: minute(tt.lastRun), LastReason: tt.lastReason, Runs: int64(tt.total)}
			if tt.lastReason != "" {
				want.LastSummary = "token expired"
			}
			want.LastRunID, want.LastWarnings = lastCounted.ID, lastCounted.Warnings
			want.LastLayer, want.LastFailedStep = lastCounted.Layer, lastCounted.FailedStep
			if got != want {
				t.Errorf("RecordRun returned\n %+v\nwant\n %+v", got, want)
			}
			read, found, err := s.FlowState(ctx, flow)
			if err != nil || !found || read != got {
				t.Errorf("FlowState = %+v, %v, %v; want what RecordRun returned", read, found, err)
			}
		})
	}
	states, err := s.FlowStates(ctx)
	if err != nil || len(states) != len(tests) {
		t.Fatalf("FlowStates = %d states, %v; want %d", len(states), err, len(tests))
	}
	if !slices.IsSortedFunc(states, func(a, b store.FlowState) int { return compareBytes(a.Flow, b.Flow) }) {
		t.Errorf("FlowStates not ordered by flow name")
	}
	if _, found, err := s.FlowState(ctx, "never recorded"); found || err != nil {
		t.Errorf("FlowState(never recorded) = %v, %v; want not found", found, err)
	}
}

func compareBytes(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testRecordRunRejectsInvalid(t *testing.T, open func() Backend) {
	s := open()
	for _, r := range []store.Run{{Start: t0}, {Flow: "f"}, {Flow: "f", Start: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := s.RecordRun(context.Background(), r); err == nil {
			t.Errorf("RecordRun(%+v) succeeded", r)
		}
	}
}

// A context that ended before the call writes nothing.
func testRecordRunEndedContext(t *testing.T, open func() Backend) {
	s := open()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.RecordRun(ctx, sampleRun("f", 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordRun with an ended context: %v, want context.Canceled", err)
	}
	if got := runs(t, s, "f"); len(got) != 0 {
		t.Errorf("%d runs written, want none", len(got))
	}
	if _, found, _ := s.FlowState(context.Background(), "f"); found {
		t.Error("a state was written")
	}
}

func testRunsOrderLimitAndPages(t *testing.T, open func() Backend) {
	ctx := context.Background()
	s := open()
	// Starts out of order, with a tie at minute 2 broken by ID (newer first).
	for _, m := range []int{3, 1, 2, 2, 0} {
		record(t, s, sampleRun("a", m))
	}
	record(t, s, sampleRun("b", 9))
	all := runs(t, s, "a")
	var got []string
	for _, r := range all {
		got = append(got, fmt.Sprintf("%d@%s", r.ID, r.Start.Format("04")))
	}
	ids := func(i int) int64 { return all[i].ID }
	// IDs grow with recording order.
	want := []string{fmt.Sprintf("%d@03", ids(0)), fmt.Sprintf("%d@02", ids(1)), fmt.Sprintf("%d@02", ids(2)),
		fmt.Sprintf("%d@01", ids(3)), fmt.Sprintf("%d@00", ids(4))}
	if !slices.Equal(got, want) || !(ids(1) > ids(2) && ids(2) > ids(3) && ids(3) > ids(0) && ids(4) > ids(1)) {
		t.Errorf("Runs(a, 0) = %v: want minutes 3, 2, 2, 1, 0 with the tie newer-ID first, IDs in recording order", got)
	}
	top, err := s.Runs(ctx, "a", 2)
	if err != nil || len(top) != 2 || top[0].ID != ids(0) || top[1].ID != ids(1) {
		t.Errorf("Runs(a, 2) = %+v, %v", top, err)
	}
	page, err := s.RunsBefore(ctx, "a", ids(1), 2)
	if err != nil || len(page) != 2 || page[0].ID != ids(2) || page[1].ID != ids(3) {
		t.Errorf("RunsBefore(a, %d, 2) = %+v, %v; want IDs %d, %d", ids(1), page, err, ids(2), ids(3))
	}
	b := runs(t, s, "b")
	if other, err := s.RunsBefore(ctx, "a", b[0].ID, 10); err != nil || len(other) != 0 {
		t.Errorf("RunsBefore another flow's run = %v, %v; want none", other, err)
	}
	if none, err := s.Runs(ctx, "missing", 10); err != nil || len(none) != 0 {
		t.Errorf("Runs(missing) = %v, %v; want none", none, err)
	}
}

func testRunRoundTrip(t *testing.T, open func() Backend) {
	s := open()
	in := store.Run{Flow: "okta", Start: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600)),
		DurationMS: 1234.5678, WaitedMS: 1000.25, OK: false, Reason: "invalid_token", Layer: "app",
		Summary: "the API says 401 — ünïcode", FailedStep: "api", Warnings: 2, Steps: sampleSteps}
	record(t, s, in)
	got := runs(t, s, "okta")
	if len(got) != 1 {
		t.Fatalf("%d runs", len(got))
	}
	r := got[0]
	if r.ID == 0 || !r.Start.Equal(in.Start) || r.Start.Location() != time.UTC || r.Start.Nanosecond() != 123456789 {
		t.Errorf("ID %d start %v (%v); want an ID and %v in UTC to the nanosecond", r.ID, r.Start, r.Start.Location(), in.Start)
	}
	in.ID, in.Start = r.ID, r.Start
	if fmt.Sprintf("%+v", r) != fmt.Sprintf("%+v", in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", r, in)
	}
	record(t, s, store.Run{Flow: "nosteps", Start: t0, OK: true})
	if r := runs(t, s, "nosteps"); len(r) != 1 || len(r[0].Steps) != 0 {
		t.Errorf("a run without steps came back as %+v", r)
	}
}

func testPrune(t *testing.T, open func() Backend) {
	ctx := context.Background()
	now := at(100)
	tests := []struct {
		name    string
		ret     store.Retention
		deleted int
		left    map[string]int
	}{
		{"nothing configured", store.Retention{}, 0, map[string]int{"a": 10, "b": 3}},
		{"by age", store.Retention{MaxAge: 95 * time.Minute}, 5, map[string]int{"a": 5, "b": 3}},
		{"by count", store.Retention{MaxRunsPerFlow: 4}, 6, map[string]int{"a": 4, "b": 3}},
		{"both", store.Retention{MaxAge: 93 * time.Minute, MaxRunsPerFlow: 2}, 9, map[string]int{"a": 2, "b": 2}},
		{"count keeps exact ties by ID", store.Retention{MaxRunsPerFlow: 1}, 11, map[string]int{"a": 1, "b": 1}},
	}
	s := open()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
			for j := range 10 {
				record(t, s, sampleRun(a, j))
			}
			var newestB int64
			for range 3 {
				record(t, s, sampleRun(b, 95))
				newestB = runs(t, s, b)[0].ID
			}
			n, err := s.Prune(ctx, now, tt.ret)
			if err != nil || n != tt.deleted {
				t.Errorf("Prune = %d, %v; want %d", n, err, tt.deleted)
			}
			for flow, want := range map[string]int{a: tt.left["a"], b: tt.left["b"]} {
				got := runs(t, s, flow)
				if len(got) != want {
					t.Errorf("flow %s: %d runs left, want %d", flow, len(got), want)
					continue
				}
				if flow == a && !got[0].Start.Equal(at(9)) {
					t.Errorf("flow a: newest left is %v, want minute 9", got[0].Start)
				}
				if flow == b && got[0].ID != newestB {
					t.Errorf("flow b: newest left has ID %d, want %d", got[0].ID, newestB)
				}
			}
			if st, _, _ := s.FlowState(ctx, a); st.Runs != 10 {
				t.Errorf("Prune changed the state: %+v", st)
			}
			// The other cases' flows: this case's rules deleted theirs too;
			// start the next case from an empty history.
			if _, err := s.Prune(ctx, now, store.Retention{MaxAge: time.Nanosecond}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testForgetFlows(t *testing.T, open func() Backend) {
	ctx := context.Background()
	tests := []struct {
		name string
		keep []string
		want []string
	}{
		{"keep some", []string{"b", "c", "not-recorded"}, []string{"b", "c"}},
		{"keep all", []string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{"keep none", nil, nil},
		{"odd names", []string{`a"; DROP TABLE runs; --`, "a"}, []string{"a"}},
	}
	s := open()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.ForgetFlows(ctx, nil); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"a", "b", "c"} {
				record(t, s, sampleRun(f, 0))
			}
			if err := s.ForgetFlows(ctx, tt.keep); err != nil {
				t.Fatal(err)
			}
			states, err := s.FlowStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range states {
				got = append(got, st.Flow)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("flows left %v, want %v", got, tt.want)
			}
			if len(runs(t, s, "a")) == 0 {
				t.Errorf("ForgetFlows deleted history")
			}
		})
	}
	// A forgotten flow starts again from the zero state.
	st := record(t, s, sampleRun("zz", 50))
	if err := s.ForgetFlows(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if again := record(t, s, sampleRun("zz", 51)); again.Runs != 1 || !again.Since.Equal(at(51)) || st.Runs != 1 {
		t.Errorf("after ForgetFlows, the next run's state is %+v; want a new state", again)
	}
}

// Runs recorded at once from many goroutines, of one flow and of several,
// are all counted: the state's Runs equals the history's length.
func testConcurrentRuns(t *testing.T, open func() Backend) {
	s := open()
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				for _, flow := range []string{"shared", fmt.Sprintf("own-%d", w)} {
					if _, err := s.RecordRun(context.Background(), sampleRun(flow, w*each+i)); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, _, err := s.FlowState(context.Background(), "shared")
	if err != nil || st.Runs != workers*each || len(runs(t, s, "shared")) != workers*each {
		t.Errorf("shared flow: state runs %d, history %d, err %v; want %d", st.Runs, len(runs(t, s, "shared")), err, workers*each)
	}
	ups, err := s.Rollups(context.Background(), "shared", store.TierHour, t0)
	var total int64
	for _, u := range ups {
		total += u.Runs
	}
	if err != nil || total != workers*each {
		t.Errorf("shared flow: hour roll-ups count %d runs (%v), want %d", total, err, workers*each)
	}
}
