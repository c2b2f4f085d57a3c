package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/delivery"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/report"
	"github.com/authwatch/authwatch/internal/routing"
	"github.com/authwatch/authwatch/internal/statuspage"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/notify"
)

// alerting turns results into incident events and puts them in the outbox.
type alerting struct {
	outbox store.Outbox
	sender *delivery.Sender
	host   string
	log    *slog.Logger

	mu        sync.Mutex
	policy    incident.Policy
	routes    []routing.Route
	mutes     incident.Mutes
	statusURL string
	states    map[string]incident.State
	// stored is each flow's incident state as last written by observe.
	stored    map[string]incident.State
	overrides map[string]incident.Override
	// configured are the flows of the configuration (nil before the
	// first setFlows): a run of a flow removed while it ran must not bring
	// its incident back.
	configured map[string]bool
	monitor    monitorIncident
	// owns says whether this node sends a flow's reminders, and fences
	// them (cluster nodes: the holder of the flow's shard); nil: always.
	owns func(ctx context.Context, flow string) (context.Context, bool)
	// across steps incidents over every location's results (cluster
	// nodes, locations.go); nil: from this node's runs alone.
	across *acrossLocations
}

// notifierDeps are what notifiers get: a client with bounded time and TLS
// verification on, the process's secret sources, the logger, the reason
// table's layers.
func notifierDeps(m *Main) notify.Deps {
	return notify.Deps{HTTP: &http.Client{Timeout: 30 * time.Second}, Logger: m.log, Now: time.Now, ReasonLayer: flows.ReasonLayer}
}

// configure applies a (re)loaded configuration's alerting sections.
func (a *alerting) configure(cfg *config.Config, notifiers map[string]notify.Notifier) {
	a.mu.Lock()
	a.policy, a.routes, a.mutes, a.statusURL = cfg.AlertPolicy(), cfg.Routes, cfg.Mutes(), cfg.StatusURL
	a.mu.Unlock()
	a.sender.SetNotifiers(notifiers)
}

// setFlows records each flow's policy override.
func (a *alerting) setFlows(fs []*flows.Flow) {
	o := map[string]incident.Override{} // few flows have one: not sized for every flow (2 MB at 10,000 flows)
	for _, f := range fs {
		if f.Alert != nil {
			ov := incident.Override{OpenAfter: f.Alert.OpenAfter, ResolveAfter: f.Alert.ResolveAfter, Warnings: f.Alert.Warnings}
			if !f.Alert.RemindEvery.IsZero() {
				ov.RemindEvery = &f.Alert.RemindEvery
			}
			o[f.Name] = ov
		}
	}
	a.mu.Lock()
	a.overrides = o
	keep := make(map[string]bool, len(fs))
	for _, f := range fs {
		keep[f.Name] = true
	}
	a.configured = keep
	for flow := range a.states {
		if !keep[flow] {
			delete(a.states, flow) // a removed flow neither reminds nor resolves
			delete(a.stored, flow)
		}
	}
	a.mu.Unlock()
}

func (a *alerting) load(ctx context.Context) error {
	raw, err := a.outbox.IncidentStates(ctx)
	if err != nil {
		return err
	}
	states := make(map[string]incident.State, len(raw))
	var monitor monitorIncident
	for flow, b := range raw {
		var st incident.State
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		if flow == MonitorFlow {
			// Left open by an earlier process: resolved at the first look
			// at a healthy store, so receivers are not left with it.
			monitor = monitorIncident{state: st, failing: st.Open}
			continue
		}
		states[flow] = st
	}
	a.mu.Lock()
	a.states, a.stored, a.monitor = states, maps.Clone(states), monitor
	a.mu.Unlock()
	return nil
}

// observe runs the policy on one result. Healthy flows with nothing open
// are not written: the state store sees a write only where an incident may
// be brewing, and not again while a run changes nothing the policy reads
// (a flow passing with a standing warning: incident.Unchanged from the
// state last written).
func (a *alerting) observe(ctx context.Context, r *flows.Result) error {
	if a.across != nil {
		return a.observeAcross(ctx, r)
	}
	now := time.Now()
	a.mu.Lock()
	if a.configured != nil && !a.configured[r.Flow] {
		a.mu.Unlock()
		return nil // removed by a reload while it ran (onResult checked before)
	}
	prev := a.states[r.Flow]
	policy := a.policy.Merge(a.overrides[r.Flow])
	next, events := incident.Step(policy, prev, incident.FromResult(r, nil, now), now, a.mutes)
	a.states[r.Flow] = next
	stored, wasStored := a.stored[r.Flow]
	skip := len(events) == 0 && (!mayMatter(prev) && !mayMatter(next) || wasStored && incident.Unchanged(policy, stored, next))
	a.mu.Unlock()
	if skip {
		return nil
	}
	if err := a.commit(ctx, r.Flow, next, events); err != nil {
		return err
	}
	a.mu.Lock()
	a.stored[r.Flow] = next
	a.mu.Unlock()
	return nil
}

// policyOf is the policy that opens flow's incidents, for the status page.
func (a *alerting) policyOf(flow string) incident.Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.policy.Merge(a.overrides[flow])
}

// openIncidents counts the open failure incidents, authwatch's own included.
func (a *alerting) openIncidents() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, st := range a.states {
		if st.Open {
			n++
		}
	}
	if a.monitor.state.Open {
		n++
	}
	return n
}

func mayMatter(st incident.State) bool {
	return st.Open || st.ConsecutiveFailures > 0 || st.Suppressed || st.Flapping || (st.Warning != nil && st.Warning.Open)
}

// tick sends reminders and what mutes withheld, without new results.
func (a *alerting) tick(ctx context.Context) {
	now := time.Now()
	type pending struct {
		flow   string
		state  incident.State
		events []notify.Event
	}
	var todo []pending
	a.mu.Lock()
	for flow, st := range a.states {
		if a.owns != nil {
			if _, ours := a.owns(ctx, flow); !ours {
				continue
			}
		}
		next, events := incident.Tick(a.policy.Merge(a.overrides[flow]), st, now, a.mutes)
		a.states[flow] = next
		if len(events) > 0 {
			todo = append(todo, pending{flow, next, events})
		}
	}
	a.mu.Unlock()
	for _, p := range todo {
		cctx := ctx
		if a.owns != nil {
			var ours bool
			if cctx, ours = a.owns(ctx, p.flow); !ours {
				continue // the shard moved on meanwhile: an unfenced commit could be kept in memory and sent from here
			}
		}
		if a.across != nil {
			a.tickAcross(cctx, p.flow)
			continue
		}
		if a.commit(cctx, p.flow, p.state, p.events) == nil {
			a.mu.Lock()
			a.stored[p.flow] = p.state
			a.mu.Unlock()
		}
	}
}

// commit writes the state and the routed events in one transaction, then
// wakes the sender.
func (a *alerting) commit(ctx context.Context, flow string, st incident.State, events []notify.Event) error {
	state, items, err := a.outboxItems(st, events)
	if err != nil {
		return err
	}
	if err := a.outbox.CommitIncident(ctx, flow, state, items); err != nil {
		return err
	}
	if len(items) > 0 {
		a.sender.Kick()
	}
	return nil
}

// outboxItems is st as stored and the events as routed to the notifiers.
func (a *alerting) outboxItems(st incident.State, events []notify.Event) (json.RawMessage, []store.OutboxItem, error) {
	state, err := json.Marshal(st)
	if err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	routes, statusURL := a.routes, a.statusURL
	a.mu.Unlock()
	var items []store.OutboxItem
	for _, ev := range events {
		ev = printableEvent(ev)
		ev.Host = a.host
		if statusURL != "" {
			ev.StatusURL = strings.TrimSuffix(statusURL, "/") + statuspage.FlowPath(ev.Flow)
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, err
		}
		for _, name := range routing.Resolve(routes, ev) {
			items = append(items, store.OutboxItem{Notifier: name, IncidentKey: ev.IncidentKey, EventID: ev.ID, Event: body,
				Created: ev.Time, NextAttempt: time.Now()})
		}
	}
	return state, items, nil
}

// printableEvent escapes control, separator and bidi characters in the
// texts a target may have written (an error_description quoted in a
// summary): pages are read by people, in mail clients, chat and consoles
// where a CR/LF forges a line ("Next step: call +1 555...") and U+202E
// reverses one.
func printableEvent(ev notify.Event) notify.Event {
	ev.Summary, ev.NextStep = report.Printable(ev.Summary), report.Printable(ev.NextStep)
	if len(ev.Evidence) > 0 {
		facts := make([]notify.Fact, len(ev.Evidence))
		for i, f := range ev.Evidence {
			facts[i] = notify.Fact{Name: report.Printable(f.Name), Value: report.Printable(f.Value)}
		}
		ev.Evidence = facts
	}
	return ev
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
