package store

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	pass := func(i int) Run { return Run{Flow: "f", Start: at(i), OK: true, Summary: "ok"} }
	fail := func(i int) Run {
		return Run{Flow: "f", Start: at(i), Reason: "invalid_client", Summary: "bad secret"}
	}
	cancel := func(i int) Run { return Run{Flow: "f", Start: at(i), Cancelled: true, Reason: "x"} }

	tests := []struct {
		name string
		runs []Run
		want FlowState
	}{
		{"first pass", []Run{pass(0)}, FlowState{Flow: "f", OK: true, Since: at(0),
			ConsecutivePasses: 1, LastRun: at(0), LastSummary: "ok", Runs: 1}},
		{"first fail", []Run{fail(0)}, FlowState{Flow: "f", Since: at(0), ConsecutiveFailures: 1,
			LastRun: at(0), LastReason: "invalid_client", LastSummary: "bad secret", Runs: 1}},
		{"passes extend streak, keep since", []Run{pass(0), pass(1), pass(2)}, FlowState{Flow: "f",
			OK: true, Since: at(0), ConsecutivePasses: 3, LastRun: at(2), LastSummary: "ok", Runs: 3}},
		{"pass to fail flips", []Run{pass(0), pass(1), fail(2)}, FlowState{Flow: "f", Since: at(2),
			ConsecutiveFailures: 1, LastRun: at(2), LastReason: "invalid_client", LastSummary: "bad secret", Runs: 3}},
		{"fail to pass resets failures", []Run{fail(0), fail(1), pass(2), pass(3)}, FlowState{Flow: "f",
			OK: true, Since: at(2), ConsecutivePasses: 2, LastRun: at(3), LastSummary: "ok", Runs: 4}},
		{"cancelled only counts", []Run{cancel(0)}, FlowState{Flow: "f", Runs: 1}},
		{"cancelled then first fail", []Run{cancel(0), fail(1)}, FlowState{Flow: "f", Since: at(1),
			ConsecutiveFailures: 1, LastRun: at(1), LastReason: "invalid_client", LastSummary: "bad secret", Runs: 2}},
		{"cancelled inside a failing streak", []Run{fail(0), cancel(1), fail(2)}, FlowState{Flow: "f",
			Since: at(0), ConsecutiveFailures: 2, LastRun: at(2), LastReason: "invalid_client", LastSummary: "bad secret", Runs: 3}},
		{"cancelled does not flip nor touch last", []Run{pass(0), cancel(1)}, FlowState{Flow: "f",
			OK: true, Since: at(0), ConsecutivePasses: 1, LastRun: at(0), LastSummary: "ok", Runs: 2}},
		{"cancelled ok run changes nothing", []Run{fail(0), {Flow: "f", Start: at(1), OK: true, Cancelled: true}},
			FlowState{Flow: "f", Since: at(0), ConsecutiveFailures: 1, LastRun: at(0),
				LastReason: "invalid_client", LastSummary: "bad secret", Runs: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s FlowState
			for _, r := range tt.runs {
				s = s.Next(r)
			}
			if s != tt.want {
				t.Errorf("got  %+v\nwant %+v", s, tt.want)
			}
		})
	}
}

func TestRunValidate(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  Run
		ok   bool
	}{
		{"valid", Run{Flow: "f", Start: now}, true},
		{"no flow", Run{Start: now}, false},
		{"no start", Run{Flow: "f"}, false},
		{"start beyond int64 nanoseconds", Run{Flow: "f", Start: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
