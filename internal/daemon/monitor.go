package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/routing"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/buffered"
	"github.com/authwatch/authwatch/notify"
)

// MonitorFlow is the flow name of authwatch's own incidents (a state store
// that refuses writes). Flow names start with a letter or digit, so it
// cannot collide with a configured flow; routes and silences match it as
// flow: "@authwatch".
const MonitorFlow = "@authwatch"

// monitorStep is the step name of a state store incident.
const monitorStep = "state-store"

// monitorIncident is authwatch's own incident about its state store: it
// opens at the first refused write and resolves once everything held in
// memory is written.
type monitorIncident struct {
	state   incident.State
	failing bool
}

// monitorPolicy pages at once and resolves at once; reminders follow the
// configured policy.
func monitorPolicy(base incident.Policy) incident.Policy {
	return incident.Policy{OpenAfter: 1, ResolveAfter: 1, RemindEvery: base.RemindEvery}
}

// observeStore moves the monitor incident with the store's health: an
// observation when it changes, a tick (reminders) otherwise.
func (a *alerting) observeStore(ctx context.Context, h buffered.Health, now time.Time) {
	a.mu.Lock()
	policy, mutes := monitorPolicy(a.policy), a.mutes
	prev := a.monitor
	var events []notify.Event
	if changed := prev.failing == h.OK; changed {
		a.monitor.failing = !h.OK
		a.monitor.state, events = incident.Step(policy, prev.state, storeObservation(h, now), now, mutes)
	} else {
		a.monitor.state, events = incident.Tick(policy, prev.state, now, mutes)
	}
	next := a.monitor.state
	a.mu.Unlock()
	if len(events) == 0 && prev.state.Open == next.Open {
		return
	}
	if err := a.commitMonitor(ctx, next, events); err != nil {
		a.log.Error("recording authwatch's own incident failed", "err", err)
	}
}

// storeObservation is one run of the pseudo-flow "the state store takes writes".
func storeObservation(h buffered.Health, now time.Time) incident.Observation {
	obs := incident.Observation{Flow: MonitorFlow, Time: now, OK: h.OK, Labels: map[string]string{"severity": "page"}}
	if h.OK {
		return obs
	}
	obs.Step, obs.Reason, obs.Layer = monitorStep, string(flows.ReasonInternalError), string(flows.LayerMonitor)
	obs.Summary = "state store unwritable: " + h.LastError
	obs.NextStep = "Free space or fix the file system of the state directory (df -h, dmesg, lsattr); authwatch keeps " +
		"results, incidents and pages in memory meanwhile, sends pages directly, and writes everything once the store takes writes again."
	obs.Evidence = []notify.Fact{{Name: "since", Value: h.Since.UTC().Format(time.RFC3339)},
		{Name: "runs_held_in_memory", Value: fmt.Sprint(h.PendingRuns)}}
	return obs
}

// commitMonitor routes the monitor's events like a flow's, except that an
// event no route takes goes to every notifier: a monitor that cannot record
// must not also be silent. While the store refuses writes, the buffered
// store keeps the items and the store guard delivers them directly.
func (a *alerting) commitMonitor(ctx context.Context, st incident.State, events []notify.Event) error {
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	a.mu.Lock()
	routes := a.routes
	a.mu.Unlock()
	var items []store.OutboxItem
	for _, ev := range events {
		ev = printableEvent(ev)
		ev.Host = a.host
		body, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		names := routing.Resolve(routes, ev)
		if len(names) == 0 {
			names = a.sender.Notifiers()
		}
		for _, name := range names {
			items = append(items, store.OutboxItem{Notifier: name, IncidentKey: ev.IncidentKey, EventID: ev.ID, Event: body,
				Created: ev.Time, NextAttempt: time.Now()})
		}
	}
	if err := a.outbox.CommitIncident(ctx, MonitorFlow, state, items); err != nil {
		return err
	}
	if len(items) > 0 {
		a.sender.Kick()
	}
	return nil
}
