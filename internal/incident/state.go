package incident

import (
	"maps"
	"slices"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// State is everything the policy remembers about one flow. It is plain
// JSON, so the daemon persists it between runs and across restarts; Step
// and Tick never modify the State they are given (slices and maps are
// copied before they change).
type State struct {
	Flow string `json:"flow"`
	// Open: a failure incident is open (notified or not, see Suppressed).
	Open bool `json:"open"`
	// Key is the IncidentKey of the open incident, or of the last one.
	Key string `json:"key,omitempty"`
	// Reason is the primary reason of the last failed run.
	Reason string `json:"reason,omitempty"`
	// NotifiedReason is the reason receivers last heard for this incident
	// (Opened or Updated); Updated is due while it differs from Reason.
	NotifiedReason string `json:"notified_reason,omitempty"`
	// Last is the detail of the last failed run, for reminders and
	// re-sends that happen without a new run.
	Last *Detail `json:"last_failure,omitempty"`
	// Labels are the flow's labels as of the last run.
	Labels map[string]string `json:"labels,omitempty"`

	OpenedAt time.Time `json:"opened_at,omitzero"`
	// FirstFailure is the first failure since the flow was last healthy.
	FirstFailure time.Time `json:"first_failure,omitzero"`
	// LastNotified is when the last Opened, Updated or Reminder went out.
	LastNotified time.Time `json:"last_notified,omitzero"`

	ConsecutiveFailures int `json:"consecutive_failures"`
	ConsecutivePasses   int `json:"consecutive_passes"`
	// Recent holds the last outcomes (true: passed), oldest first, as many
	// as the policy's window and flap detection need.
	Recent []bool `json:"recent,omitempty"`
	// Flapping: the flow flaps (Policy.Flap); the incident is held open.
	Flapping bool `json:"flapping,omitempty"`

	// Suppressed: the incident is open but its Opened has not been sent (a
	// silence or maintenance window withheld it). It is sent when the mute
	// ends while the incident is still open; nothing is sent if it resolves
	// first.
	Suppressed bool `json:"suppressed,omitempty"`
	// MutedBy names the silence or window that withheld the last event.
	MutedBy string `json:"muted_by,omitempty"`

	// Warning is the flow's warning incident, once there has been one.
	Warning *WarningState `json:"warning,omitempty"`
}

// Detail is the failure shown in events: everything but the reason.
type Detail struct {
	Step       string            `json:"step,omitempty"`
	Layer      string            `json:"layer,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	NextStep   string            `json:"next_step,omitempty"`
	Evidence   []notify.Fact     `json:"evidence,omitempty"`
	RequestIDs map[string]string `json:"request_ids,omitempty"`
}

// WarningState is a flow's warning incident: open while its runs pass with
// warning findings.
type WarningState struct {
	Open           bool      `json:"open"`
	Key            string    `json:"key,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	NotifiedReason string    `json:"notified_reason,omitempty"`
	Findings       []Finding `json:"findings,omitempty"`
	OpenedAt       time.Time `json:"opened_at,omitzero"`
	Suppressed     bool      `json:"suppressed,omitempty"`
	MutedBy        string    `json:"muted_by,omitempty"`
}

// record counts obs (not cancelled) into st: streaks, history, flapping,
// the last failure.
func record(p Policy, st State, obs Observation) State {
	if obs.Flow != "" {
		st.Flow = obs.Flow
	}
	st.Labels = maps.Clone(obs.Labels)
	if obs.OK {
		st.ConsecutivePasses++
		st.ConsecutiveFailures = 0
	} else {
		st.ConsecutiveFailures++
		st.ConsecutivePasses = 0
		st.Reason = obs.Reason
		st.Last = detailOf(obs)
		if st.FirstFailure.IsZero() {
			st.FirstFailure = obs.Time
		}
	}
	st.Recent = push(st.Recent, obs.OK, p.historyLen())
	st.Flapping = flapping(p.Flap, st.Flapping, st.Recent)
	if obs.OK && !st.Open && healthy(p, st) {
		st.FirstFailure = time.Time{}
	}
	return st
}

func detailOf(obs Observation) *Detail {
	return &Detail{Step: obs.Step, Layer: obs.Layer, Summary: obs.Summary, NextStep: obs.NextStep,
		Evidence: slices.Clone(obs.Evidence), RequestIDs: maps.Clone(obs.RequestIDs)}
}

// healthy: the flow passed enough to resolve, and no failure is left in
// the open window (so FirstFailure starts afresh).
func healthy(p Policy, st State) bool {
	if st.ConsecutivePasses < p.ResolveAfter {
		return false
	}
	return !p.OpenWindow.enabled() || failures(last(st.Recent, p.OpenWindow.Runs)) == 0
}

// shouldOpen: either opening rule holds after a failed run.
func shouldOpen(p Policy, st State) bool {
	if st.ConsecutiveFailures >= p.OpenAfter {
		return true
	}
	w := p.OpenWindow
	return w.enabled() && failures(last(st.Recent, w.Runs)) >= w.Failures
}

// push appends ok to a copy of recent, keeping the last n.
func push(recent []bool, ok bool, n int) []bool {
	if n <= 0 {
		return nil
	}
	out := make([]bool, 0, n)
	out = append(out, last(recent, n-1)...)
	return append(out, ok)
}

func last(recent []bool, n int) []bool {
	if len(recent) > n {
		return recent[len(recent)-n:]
	}
	return recent
}

func failures(outcomes []bool) int {
	n := 0
	for _, ok := range outcomes {
		if !ok {
			n++
		}
	}
	return n
}

func changes(outcomes []bool) int {
	n := 0
	for i := 1; i < len(outcomes); i++ {
		if outcomes[i] != outcomes[i-1] {
			n++
		}
	}
	return n
}

// flapping enters at f.Changes changes within the last f.Runs outcomes and
// leaves after f.Runs outcomes without a change.
func flapping(f FlapPolicy, was bool, recent []bool) bool {
	if !f.enabled() {
		return false
	}
	window := last(recent, f.Runs)
	if !was {
		return changes(window) >= f.Changes
	}
	return len(window) < f.Runs || changes(window) > 0
}

// Unchanged reports whether next, the state after a run that sent no
// event, may stand in the store for prev: with no failure incident open,
// the two differ at most in a pass count that no rule of p reads any more
// (both at least ResolveAfter). A flow that passes with a standing warning
// then costs no write per run, and a restart from prev behaves as one from
// next would.
func Unchanged(p Policy, prev, next State) bool {
	if prev.Open || next.Open {
		return false // passes count toward the resolution
	}
	p = p.normalized()
	if prev.ConsecutivePasses != next.ConsecutivePasses &&
		(prev.ConsecutivePasses < p.ResolveAfter || next.ConsecutivePasses < p.ResolveAfter) {
		return false
	}
	return prev.Flow == next.Flow && prev.Key == next.Key && prev.Reason == next.Reason &&
		prev.NotifiedReason == next.NotifiedReason && sameDetail(prev.Last, next.Last) &&
		maps.Equal(prev.Labels, next.Labels) && prev.OpenedAt.Equal(next.OpenedAt) &&
		prev.FirstFailure.Equal(next.FirstFailure) && prev.LastNotified.Equal(next.LastNotified) &&
		prev.ConsecutiveFailures == next.ConsecutiveFailures && slices.Equal(prev.Recent, next.Recent) &&
		prev.Flapping == next.Flapping && prev.Suppressed == next.Suppressed && prev.MutedBy == next.MutedBy &&
		sameWarning(prev.Warning, next.Warning)
}

func sameDetail(a, b *Detail) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Step == b.Step && a.Layer == b.Layer && a.Summary == b.Summary && a.NextStep == b.NextStep &&
		slices.Equal(a.Evidence, b.Evidence) && maps.Equal(a.RequestIDs, b.RequestIDs)
}

func sameWarning(a, b *WarningState) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Open == b.Open && a.Key == b.Key && a.Reason == b.Reason && a.NotifiedReason == b.NotifiedReason &&
		slices.Equal(a.Findings, b.Findings) && a.OpenedAt.Equal(b.OpenedAt) && a.Suppressed == b.Suppressed &&
		a.MutedBy == b.MutedBy
}
