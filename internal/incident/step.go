package incident

import (
	"time"

	"github.com/authwatch/authwatch/notify"
)

// Step applies one observation of a flow to its state and returns the next
// state and the events to deliver now. A cancelled observation changes
// nothing. Muted events are withheld (see State.Suppressed), except the
// Resolved of an incident whose Opened went out: that one always goes, or
// the receiver's page would stay open for ever.
//
// The rules, for the failure incident:
//   - a failed run opens an incident after OpenAfter failures in a row, or
//     OpenWindow.Failures of the last OpenWindow.Runs runs → Opened;
//   - while open, a new primary reason → Updated (PreviousReason set);
//   - every RemindEvery since the last notification → Reminder;
//   - ResolveAfter passes in a row → Resolved, with the same key;
//   - while the flow flaps (Policy.Flap) the incident is held open: no
//     Resolved and no re-Opened, no Updated for reason changes; one Updated
//     says that it flaps (or, if it was closed, the Opened does). It resolves
//     once Flap.Runs runs in a row passed.
//
// Warning incidents (Policy.Warnings) open on the first run that passes with
// warning findings and resolve on the first passing run without; failed runs
// leave them as they are. They get no reminders.
//
// Step also does what Tick does: due reminders and withheld events.
func Step(p Policy, st State, obs Observation, now time.Time, mute Muter) (State, []notify.Event) {
	if obs.Cancelled {
		return st, nil
	}
	if obs.Time.IsZero() {
		obs.Time = now
	}
	p = p.normalized()
	wasFlapping := st.Flapping
	st = record(p, st, obs)
	e := &emitter{now: now, mute: mute}
	st = e.failure(p, st, obs.OK, wasFlapping)
	st = e.warning(p, st, obs)
	st = e.catchUp(p, st)
	return st, e.events
}

// Tick sends what is due without a new observation: reminders, and events a
// silence or maintenance window withheld once it has ended (an Opened for an
// incident still open, an Updated for a reason that changed meanwhile). The
// daemon calls it periodically, e.g. every minute.
func Tick(p Policy, st State, now time.Time, mute Muter) (State, []notify.Event) {
	p = p.normalized()
	e := &emitter{now: now, mute: mute}
	st = e.catchUp(p, st)
	return st, e.events
}

// failure moves the failure incident after a recorded run.
func (e *emitter) failure(p Policy, st State, ok, wasFlapping bool) State {
	switch {
	case !st.Open && !ok && shouldOpen(p, st):
		return e.open(st)
	case !st.Open:
		return st
	case st.Flapping && !wasFlapping:
		return e.flapNotice(p, st)
	case !st.Flapping && ok && st.ConsecutivePasses >= p.ResolveAfter:
		return e.resolve(st)
	}
	return st
}

// open marks an incident open; catchUp sends its Opened unless muted.
func (e *emitter) open(st State) State {
	st.Open, st.OpenedAt = true, e.now
	st.Key = newKey(failureKeyPrefix(st.Flow), st.Key, e.now)
	st.Suppressed, st.NotifiedReason, st.LastNotified, st.MutedBy = true, "", time.Time{}, ""
	return st
}

// flapNotice sends the one Updated that says the flow flaps. If an Opened
// is still withheld, that Opened (sent later) says it instead.
func (e *emitter) flapNotice(p Policy, st State) State {
	if st.Suppressed {
		return st
	}
	ev := e.failureEvent(st, notify.Updated)
	ev.Summary = flapSummary(p.Flap, st)
	if ev.Reason != st.NotifiedReason {
		ev.PreviousReason = st.NotifiedReason
	}
	return e.notified(st, ev)
}

// resolve closes the incident: Resolved if its Opened went out, nothing if
// it never did.
func (e *emitter) resolve(st State) State {
	if !st.Suppressed {
		ev := e.failureEvent(st, notify.Resolved)
		ev.Summary, ev.Evidence, ev.RequestIDs = resolvedSummary(st), nil, nil
		e.sendAlways(ev)
	}
	st.Open, st.Suppressed, st.MutedBy = false, false, ""
	st.NotifiedReason, st.FirstFailure = "", time.Time{}
	return st
}

// catchUp sends the failure incident's due event, if any: the withheld
// Opened, an Updated for a changed reason, or a Reminder.
func (e *emitter) catchUp(p Policy, st State) State {
	st = e.warningCatchUp(st)
	if !st.Open {
		return st
	}
	switch {
	case st.Suppressed:
		ev := e.failureEvent(st, notify.Opened)
		if st.Flapping {
			ev.Summary = flapSummary(p.Flap, st)
		}
		return e.notified(st, ev)
	case !st.Flapping && st.Reason != st.NotifiedReason:
		ev := e.failureEvent(st, notify.Updated)
		ev.PreviousReason = st.NotifiedReason
		return e.notified(st, ev)
	case p.RemindEvery > 0 && !e.now.Before(st.LastNotified.Add(p.RemindEvery)):
		ev := e.failureEvent(st, notify.Reminder)
		if st.Flapping {
			ev.Summary = flapSummary(p.Flap, st)
		}
		return e.notified(st, ev)
	}
	return st
}

// notified sends ev and records it in st, or records what muted it.
func (e *emitter) notified(st State, ev notify.Event) State {
	sent, by := e.send(ev)
	if !sent {
		st.MutedBy = by
		return st
	}
	st.Suppressed, st.MutedBy, st.LastNotified = false, "", e.now
	if ev.Type != notify.Reminder {
		st.NotifiedReason = ev.Reason
	}
	return st
}
