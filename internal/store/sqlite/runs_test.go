package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

func TestRecordRunStreaks(t *testing.T) {
	ctx := context.Background()
	type step struct {
		ok, cancelled bool
	}
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
	s, _ := openTemp(t)
	minute := func(i int) time.Time {
		if i < 0 {
			return time.Time{}
		}
		return at(i)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flow := tt.name // a flow per case, all in one database
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
}

func TestRecordRunRejectsInvalid(t *testing.T) {
	s, _ := openTemp(t)
	for _, r := range []store.Run{{Start: t0}, {Flow: "f"}} {
		if _, err := s.RecordRun(context.Background(), r); err == nil {
			t.Errorf("RecordRun(%+v) succeeded", r)
		}
	}
}

func TestRunsOrderAndLimit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	// Starts out of order, with a tie at minute 2 broken by ID (newer first).
	for _, m := range []int{3, 1, 2, 2, 0} {
		record(t, s, sampleRun("a", m))
	}
	record(t, s, sampleRun("b", 9))

	all, err := s.Runs(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range all {
		got = append(got, fmt.Sprintf("%d@%s", r.ID, r.Start.Format("04")))
	}
	want := []string{"1@03", "4@02", "3@02", "2@01", "5@00"}
	if !slices.Equal(got, want) {
		t.Errorf("Runs(a, 0) = %v, want %v", got, want)
	}

	top, err := s.Runs(ctx, "a", 2)
	if err != nil || len(top) != 2 || top[0].ID != 1 || top[1].ID != 4 {
		t.Errorf("Runs(a, 2) = %+v, %v; want IDs 1, 4", top, err)
	}
	none, err := s.Runs(ctx, "missing", 10)
	if err != nil || len(none) != 0 {
		t.Errorf("Runs(missing) = %v, %v; want none", none, err)
	}
}

func TestRunRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	in := store.Run{Flow: "okta", Start: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600)),
		DurationMS: 2012.345, WaitedMS: 2000.125, OK: false, Cancelled: true, Reason: "timeout", Layer: "network",
		Summary: "no headers within 10s", FailedStep: "token", Warnings: 2, Steps: sampleSteps}
	record(t, s, in)
	record(t, s, store.Run{Flow: "okta", Start: in.Start.Add(-time.Hour)}) // no steps: NULL

	runs, err := s.Runs(ctx, "okta", 0)
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs = %v, %v", runs, err)
	}
	got := runs[0]
	if !got.Start.Equal(in.Start) || got.Start.Location() != time.UTC {
		t.Errorf("Start = %v, want %v in UTC", got.Start, in.Start)
	}
	if !bytes.Equal(got.Steps, in.Steps) {
		t.Errorf("Steps changed:\n%s", got.Steps)
	}
	got.Start, got.Steps, in.Start, in.Steps, in.ID = time.Time{}, nil, time.Time{}, nil, got.ID
	if fmt.Sprint(got) != fmt.Sprint(in) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, in)
	}
	if runs[1].Steps != nil {
		t.Errorf("nil Steps came back as %q", runs[1].Steps)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	now := at(100)
	tests := []struct {
		name    string
		ret     store.Retention
		deleted int
		left    map[string]int // flow -> runs left
	}{
		{"nothing configured", store.Retention{}, 0, map[string]int{"a": 10, "b": 3}},
		{"by age", store.Retention{MaxAge: 95 * time.Minute}, 5, map[string]int{"a": 5, "b": 3}},
		{"by count", store.Retention{MaxRunsPerFlow: 4}, 6, map[string]int{"a": 4, "b": 3}},
		{"both", store.Retention{MaxAge: 93 * time.Minute, MaxRunsPerFlow: 2}, 9, map[string]int{"a": 2, "b": 2}},
		{"count keeps exact ties by ID", store.Retention{MaxRunsPerFlow: 1}, 11, map[string]int{"a": 1, "b": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			for i := range 10 {
				record(t, s, sampleRun("a", i)) // minutes 0..9
			}
			for range 3 {
				record(t, s, sampleRun("b", 95)) // three runs at minute 95
			}
			n, err := s.Prune(ctx, now, tt.ret)
			if err != nil || n != tt.deleted {
				t.Errorf("Prune = %d, %v; want %d", n, err, tt.deleted)
			}
			for flow, want := range tt.left {
				runs, err := s.Runs(ctx, flow, 0)
				if err != nil || len(runs) != want {
					t.Errorf("flow %s: %d runs left (%v), want %d", flow, len(runs), err, want)
					continue
				}
				if flow == "a" && len(runs) > 0 && !runs[0].Start.Equal(at(9)) {
					t.Errorf("flow a: newest left is %v, want minute 9", runs[0].Start)
				}
				if flow == "b" && len(runs) > 0 && runs[0].ID != 13 {
					t.Errorf("flow b: newest left has ID %d, want 13", runs[0].ID)
				}
			}
			if st, _, _ := s.FlowState(ctx, "a"); st.Runs != 10 {
				t.Errorf("Prune changed the state: %+v", st)
			}
		})
	}
}

func TestForgetFlows(t *testing.T) {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
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
			if runs, _ := s.Runs(ctx, "a", 0); len(runs) != 1 {
				t.Errorf("history of a: %d runs, want 1 (ForgetFlows keeps history)", len(runs))
			}
		})
	}
}

// TestPruneByCountReference checks Prune by count against a plain sort, on
// flows of random sizes with many equal start times.
func TestPruneByCountReference(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		s, _ := openTemp(t)
		type key struct {
			start int
			id    int64
		}
		byFlow := map[string][]key{}
		for i := range 120 {
			flow := fmt.Sprintf("f%d", rng.IntN(5))
			start := rng.IntN(10) // many ties
			record(t, s, store.Run{Flow: flow, Start: at(start)})
			byFlow[flow] = append(byFlow[flow], key{start, int64(i + 1)})
		}
		keep := 1 + rng.IntN(20)
		if _, err := s.Prune(ctx, at(100), store.Retention{MaxRunsPerFlow: keep}); err != nil {
			t.Fatal(err)
		}
		for flow, keys := range byFlow {
			slices.SortFunc(keys, func(a, b key) int {
				if a.start != b.start {
					return b.start - a.start
				}
				return int(b.id - a.id)
			})
			var want []int64
			for _, k := range keys[:min(keep, len(keys))] {
				want = append(want, k.id)
			}
			runs, err := s.Runs(ctx, flow, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range runs {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("round %d, %s, keep %d: left %v, want %v", round, flow, keep, got, want)
			}
		}
	}
}

func TestRecordRunContextAndClose(t *testing.T) {
	s, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.RecordRun(ctx, sampleRun("f", 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordRun with a cancelled context: %v", err)
	}
	if runs, err := s.Runs(context.Background(), "f", 0); err != nil || len(runs) != 0 {
		t.Errorf("after a cancelled RecordRun: %d runs, %v", len(runs), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRun(context.Background(), sampleRun("f", 0)); !errors.Is(err, errClosed) {
		t.Errorf("RecordRun after Close: %v", err)
	}
	if _, err := s.FlowStates(context.Background()); err == nil {
		t.Error("FlowStates after Close succeeded")
	}
}
