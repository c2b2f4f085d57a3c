package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// t0 is a Monday.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func fail(reason string) *Observation {
	return &Observation{Flow: "login", Reason: reason, Step: "token", Layer: "token", Summary: reason + " seen",
		Evidence: []notify.Fact{{Name: "kid", Value: "k1"}}, RequestIDs: map[string]string{"x-request-id": "r1"}}
}

func pass() *Observation { return &Observation{Flow: "login", OK: true} }

func warn(reasons ...string) *Observation {
	o := pass()
	for _, r := range reasons {
		o.Warnings = append(o.Warnings, Finding{Reason: r, Summary: r + " soon"})
	}
	return o
}

func cancelled() *Observation { return &Observation{Flow: "login", Cancelled: true} }

// muteFlag is a Muter switched by the test.
type muteFlag bool

func (m muteFlag) Muted(map[string]string, time.Time) (bool, string) { return bool(m), "test silence" }

// op is one Step (obs set) or Tick (obs nil) at t0+at.
type op struct {
	at    time.Duration
	obs   *Observation
	muted bool
	want  []string
}

// show writes an event as "type[/severity] reason[ (was previous)]".
func show(ev notify.Event) string {
	s := string(ev.Type)
	if ev.Severity != notify.SeverityCritical {
		s += "/" + string(ev.Severity)
	}
	s += " " + ev.Reason
	if ev.PreviousReason != "" {
		s += " (was " + ev.PreviousReason + ")"
	}
	return s
}

func showAll(evs []notify.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, show(ev))
	}
	return out
}

// play runs ops from st and checks each op's events; it returns the final
// state and every event.
func play(t *testing.T, p Policy, st State, ops []op) (State, []notify.Event) {
	t.Helper()
	var all []notify.Event
	for i, o := range ops {
		now := t0.Add(o.at)
		var evs []notify.Event
		if o.obs != nil {
			obs := *o.obs
			obs.Time = now
			st, evs = Step(p, st, obs, now, muteFlag(o.muted))
		} else {
			st, evs = Tick(p, st, now, muteFlag(o.muted))
		}
		if got, want := strings.Join(showAll(evs), "; "), strings.Join(o.want, "; "); got != want {
			t.Fatalf("op %d (%s at +%s): events\n got: [%s]\nwant: [%s]", i, describe(o), o.at, got, want)
		}
		all = append(all, evs...)
	}
	return st, all
}

func describe(o op) string {
	switch {
	case o.obs == nil:
		return "tick"
	case o.obs.Cancelled:
		return "cancelled"
	case !o.obs.OK:
		return "fail " + o.obs.Reason
	case len(o.obs.Warnings) > 0:
		return fmt.Sprintf("warn %v", o.obs.Warnings)
	}
	return "pass"
}

// minutes lays ops one minute apart, starting at +1m.
func minutes(ops ...op) []op {
	for i := range ops {
		if ops[i].at == 0 {
			ops[i].at = time.Duration(i+1) * time.Minute
		}
	}
	return ops
}

func F(reason string, want ...string) op { return op{obs: fail(reason), want: want} }
func P(want ...string) op                { return op{obs: pass(), want: want} }
func W(reasons []string, want ...string) op {
	return op{obs: warn(reasons...), want: want}
}
func C(want ...string) op { return op{obs: cancelled(), want: want} }

func noFlap(p Policy) Policy { p.Flap = FlapPolicy{}; return p }
