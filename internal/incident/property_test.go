package incident

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// FuzzStep plays random sequences of runs, ticks, clock jumps, mutes and
// restarts (a JSON round trip of the state), and checks that the events a
// receiver sees always make sense: see receiver.see.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 3, 0})
	f.Add([]byte{1, 1, 1, 7, 0, 4, 2, 4, 3, 4, 7, 4, 3, 0, 7, 3})
	f.Add([]byte{2, 0, 2, 5, 0, 0, 2, 1, 0, 1, 2, 5, 3, 5, 4, 0, 5, 0, 7, 8, 1, 8, 3, 2, 7, 3})
	f.Add([]byte{0, 2, 1, 3, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := playBytes(data); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRandomSequences runs the fuzz body on seeded random input, so plain
// `go test` explores beyond the seed corpus.
func TestRandomSequences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		data := make([]byte, 4+2*r.IntN(120))
		for j := range data {
			data[j] = byte(r.IntN(256))
		}
		if err := playBytes(data); err != nil {
			t.Fatalf("sequence %d %v: %v", i, data, err)
		}
	}
}

// fuzzMute mutes by mode: 0 nothing, 1 everything, 2 reason "b" only,
// 3 reminders and updates only.
type fuzzMute int

func (m fuzzMute) Muted(labels map[string]string, _ time.Time) (bool, string) {
	switch m {
	case 1:
		return true, "all"
	case 2:
		return labels[LabelReason] == "b", "reason b"
	case 3:
		return labels[LabelEvent] == "reminder" || labels[LabelEvent] == "updated", "chatter"
	}
	return false, ""
}

func fuzzPolicy(b []byte) Policy {
	p := Policy{OpenAfter: 1 + int(b[0]%3), ResolveAfter: 1 + int(b[1]%3), Warnings: b[3]&4 != 0}
	if n := int(b[2] % 3); n > 0 {
		p.OpenWindow = Window{Failures: n + 1, Runs: n + 3}
	}
	if b[3]&1 != 0 {
		p.Flap = FlapPolicy{Changes: 3, Runs: 6}
	}
	if b[3]&2 != 0 {
		p.RemindEvery = 4 * time.Hour
	}
	return p
}

const maxFuzzLen = 4 + 2*300

var fuzzSteps = []time.Duration{time.Second, time.Minute, time.Hour, 5 * time.Hour}

// playBytes: 4 bytes of policy, then (op, arg) pairs. op%8: 0-1 fail with
// reason a, 2 fail with b, 3 pass, 4-5 pass with a warning, 6 cancelled,
// 7 tick. arg: the clock advance (arg%4), the mute mode (arg/4%4), and a
// restart from JSON before the op (arg&16). The restart starts from what
// the daemon stored: it skips storing a state that is Unchanged from the
// stored one after a run without events.
func playBytes(data []byte) error {
	if len(data) < 4 {
		return nil
	}
	p := fuzzPolicy(data)
	if err := p.Validate(); err != nil {
		return fmt.Errorf("fuzz policy %v invalid: %v", p, err)
	}
	rcv := receiver{seen: map[string]notify.EventType{}, ids: map[string]bool{}}
	var st, stored State
	now := t0
	if len(data) > maxFuzzLen {
		data = data[:maxFuzzLen] // longer says nothing new, only slower
	}
	for i := 4; i+1 < len(data); i += 2 {
		op, arg := data[i]%8, data[i+1]
		now = now.Add(fuzzSteps[arg%4])
		mute := fuzzMute(arg / 4 % 4)
		if arg&16 != 0 {
			var err error
			if st, err = restart(stored); err != nil {
				return err
			}
		}
		before, _ := json.Marshal(st)
		next, evs := apply(p, st, op, now, mute)
		if after, _ := json.Marshal(st); string(before) != string(after) {
			return fmt.Errorf("op %d: Step modified its input state", i)
		}
		if op == 6 && (len(evs) > 0 || string(before) != mustJSON(next)) {
			return fmt.Errorf("op %d: a cancelled run changed something", i)
		}
		for _, ev := range evs {
			if err := rcv.see(ev, now); err != nil {
				return fmt.Errorf("op %d (%d at %s): %v; events so far %v", i, op, now.Sub(t0), err, rcv.log)
			}
		}
		if len(evs) > 0 || !Unchanged(p, stored, next) {
			stored = next
		} else if err := sameFuture(p, stored, next, now); err != nil {
			return fmt.Errorf("op %d: the stored state stands for the next one, but %v", i, err)
		}
		st = next
		if err := rcv.agrees(st); err != nil {
			return fmt.Errorf("op %d: %v; events %v", i, err, rcv.log)
		}
	}
	return nil
}

func apply(p Policy, st State, op byte, now time.Time, mute Muter) (State, []notify.Event) {
	var obs *Observation
	switch op {
	case 0, 1:
		obs = fail("a")
	case 2:
		obs = fail("b")
	case 3:
		obs = pass()
	case 4:
		obs = warn("token_lifetime_short")
	case 5:
		obs = warn("tls_certificate_expiring", "token_lifetime_short")
	case 6:
		obs = cancelled()
	default:
		return Tick(p, st, now, mute)
	}
	return Step(p, st, withTime(*obs, now), now, mute)
}

// sameFuture: a next failure, pass, warned pass or tick, soon or hours
// later (a reminder due), gives the same events from stored as from next,
// and states that are again Unchanged.
func sameFuture(p Policy, stored, next State, now time.Time) error {
	for _, op := range []byte{0, 3, 4, 7} {
		for _, later := range []time.Duration{time.Second, 5 * time.Hour} {
			a, evA := apply(p, stored, op, now.Add(later), fuzzMute(0))
			b, evB := apply(p, next, op, now.Add(later), fuzzMute(0))
			if mustJSON(evA) != mustJSON(evB) {
				return fmt.Errorf("op %d after %s: events %v from the stored state, %v from the next", op, later, showAll(evA), showAll(evB))
			}
			if !Unchanged(p, a, b) && mustJSON(a) != mustJSON(b) {
				return fmt.Errorf("op %d after %s: the states part:\n%s\n%s", op, later, mustJSON(a), mustJSON(b))
			}
		}
	}
	return nil
}

func restart(st State) (State, error) {
	var back State
	if err := json.Unmarshal([]byte(mustJSON(st)), &back); err != nil {
		return st, err
	}
	if mustJSON(back) != mustJSON(st) {
		return st, fmt.Errorf("JSON round trip changed the state")
	}
	return back, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// receiver is what a PagerDuty-like receiver sees: incidents by key.
type receiver struct {
	seen map[string]notify.EventType // key → last event type
	ids  map[string]bool
	log  []string
	// openFailure and openWarning are the keys open now ("" if none).
	openFailure, openWarning string
}

// see checks one event: unique id, Opened first and once per key, Updated
// and Reminder only while open, Resolved once and only after Opened, at
// most one open failure incident and one open warning incident.
func (r *receiver) see(ev notify.Event, now time.Time) error {
	if len(r.log) < 200 {
		r.log = append(r.log, show(ev)+" "+ev.IncidentKey)
	}
	if r.ids[ev.ID] {
		return fmt.Errorf("event id %s repeated", ev.ID)
	}
	r.ids[ev.ID] = true
	if !ev.Time.Equal(now) || ev.Flow != "login" {
		return fmt.Errorf("event time %s flow %q", ev.Time, ev.Flow)
	}
	isWarning := strings.Contains(ev.IncidentKey, "/warning/")
	if isWarning != (ev.Severity == notify.SeverityWarning) {
		return fmt.Errorf("key %s with severity %s", ev.IncidentKey, ev.Severity)
	}
	if ev.PreviousReason != "" && (ev.Type != notify.Updated || ev.PreviousReason == ev.Reason) {
		return fmt.Errorf("%s with previous reason %q", show(ev), ev.PreviousReason)
	}
	last, known := r.seen[ev.IncidentKey]
	open := known && last != notify.Resolved
	switch ev.Type {
	case notify.Opened:
		if known {
			return fmt.Errorf("opened %s again", ev.IncidentKey)
		}
		if k := r.open(isWarning); k != "" {
			return fmt.Errorf("opened %s while %s is open", ev.IncidentKey, k)
		}
	case notify.Updated, notify.Reminder, notify.Resolved:
		if !open {
			return fmt.Errorf("%s for %s, which is not open", ev.Type, ev.IncidentKey)
		}
	default:
		return fmt.Errorf("unexpected event type %s", ev.Type)
	}
	r.seen[ev.IncidentKey] = ev.Type
	slot := &r.openFailure
	if isWarning {
		slot = &r.openWarning
	}
	switch ev.Type {
	case notify.Opened:
		*slot = ev.IncidentKey
	case notify.Resolved:
		*slot = ""
	}
	return nil
}

func (r *receiver) open(warning bool) string {
	if warning {
		return r.openWarning
	}
	return r.openFailure
}

// agrees: the receiver sees an incident open exactly when the state says
// it is open and its Opened was delivered.
func (r *receiver) agrees(st State) error {
	want := ""
	if st.Open && !st.Suppressed {
		want = st.Key
	}
	if got := r.open(false); got != want {
		return fmt.Errorf("receiver has %q open, state %q (open=%t suppressed=%t)", got, want, st.Open, st.Suppressed)
	}
	want = ""
	if w := st.Warning; w != nil && w.Open && !w.Suppressed {
		want = w.Key
	}
	if got := r.open(true); got != want {
		return fmt.Errorf("receiver has warning %q open, state %q", got, want)
	}
	return nil
}
