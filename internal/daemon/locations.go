package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/cluster"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/notify"
)

// Probe locations (docs/cluster.md): a cluster node runs the flows whose
// locations include its own, records its runs with its location, and
// steps each flow's one incident over the latest results of every
// location that runs it (the store's StepIncident serializes the nodes).

// staleIntervals: a location's result stops counting once it is older
// than this many of the flow's intervals plus the lease time (its nodes
// are gone, or it no longer runs the flow).
const staleIntervals = 3

// recordedLocation is the probe location a daemon records its runs from:
// a cluster node's (default "default"), "" for a single daemon.
func recordedLocation(cfg *config.Config) string {
	switch {
	case !cfg.Cluster.Enabled:
		return ""
	case cfg.Cluster.Location == "":
		return cluster.DefaultLocation
	}
	return cfg.Cluster.Location
}

// place is where a flow runs and how its locations' results combine.
type place struct {
	locations []string // none: every location
	anyFails  bool     // locations_policy: any
	interval  time.Duration
}

// flowPlaces holds each configured flow's place.
type flowPlaces struct {
	mu     sync.RWMutex
	byName map[string]place
}

func (p *flowPlaces) set(fs []*flows.Flow, interval func(*flows.Flow) time.Duration) {
	byName := make(map[string]place, len(fs))
	for _, f := range fs {
		byName[f.Name] = place{locations: f.Locations, anyFails: f.PageOnAny(), interval: interval(f)}
	}
	p.mu.Lock()
	p.byName = byName
	p.mu.Unlock()
}

func (p *flowPlaces) of(flow string) place {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byName[flow]
}

// runsIn reports whether the flow runs from location (a flow not
// configured, or naming no location, runs everywhere).
func (pl place) runsIn(location string) bool {
	return len(pl.locations) == 0 || slices.Contains(pl.locations, location)
}

// staleAfter is how old a location's last run may be and still count.
func (pl place) staleAfter() time.Duration {
	return staleIntervals*pl.interval + cluster.DefaultLease
}

// results are the states that count for the flow's incident at now: of
// its locations, with a counted run recent enough.
func (pl place) results(states []store.FlowState, now time.Time) []incident.LocationResult {
	var out []incident.LocationResult
	for _, st := range states {
		if st.LastRun.IsZero() || !pl.runsIn(st.Location) || now.Sub(st.LastRun) > pl.staleAfter() {
			continue
		}
		out = append(out, incident.LocationResult{Location: st.Location, OK: st.OK, Since: st.Since, LastRun: st.LastRun,
			Reason: st.LastReason, Summary: st.LastSummary, Layer: st.LastLayer, Step: st.LastFailedStep})
	}
	return out
}

// runsHere reports whether this node's location runs flow (always on a
// single daemon).
func (m *Main) runsHere(flow string) bool {
	return m.cluster == nil || m.places.of(flow).runsIn(m.cluster.Location())
}

// acrossLocations is what alerting needs to step incidents over every
// location's results (cluster nodes).
type acrossLocations struct {
	store  store.SharedIncidents
	here   string
	places *flowPlaces
	// shown is given the flow's states in every location after each
	// step: the overview shows the worst (showWorst).
	shown func(states []store.FlowState)
}

// observeAcross is observe on a cluster node: the run's observation,
// combined with the flow's other locations (incident.Across), steps the
// flow's incident as stored, under the store's lock; nothing is written
// while the flow is healthy with nothing open, or when the step changed
// nothing the policy reads.
func (a *alerting) observeAcross(ctx context.Context, r *flows.Result) error {
	now := time.Now()
	obs := incident.FromResult(r, nil, now)
	if obs.Cancelled {
		return nil
	}
	pl := a.across.places.of(r.Flow)
	a.mu.Lock()
	policy, mutes := a.policy.Merge(a.overrides[r.Flow]), a.mutes
	a.mu.Unlock()
	var next incident.State
	var stepped bool
	var items int
	var seen []store.FlowState
	err := a.across.store.StepIncident(ctx, r.Flow, func(stored json.RawMessage, states []store.FlowState) (json.RawMessage, []store.OutboxItem, error) {
		seen = states
		prev, err := decodeIncident(stored)
		if err != nil {
			return nil, nil, fmt.Errorf("incident state of %q: %w", r.Flow, err)
		}
		combined, decided := incident.Across(obs, a.across.here, pl.results(states, now), pl.anyFails)
		if !decided {
			return nil, nil, nil
		}
		var events []notify.Event
		next, events = incident.Step(policy, prev, combined, now, mutes)
		stepped = true
		if len(events) == 0 && (stored == nil && !mayMatter(next) || stored != nil && incident.Unchanged(policy, prev, next)) {
			return nil, nil, nil
		}
		state, out, err := a.outboxItems(next, events)
		items = len(out)
		return state, out, err
	})
	if err != nil {
		return err
	}
	if a.across.shown != nil {
		a.across.shown(seen)
	}
	if stepped {
		a.remember(r.Flow, next, items)
	}
	return nil
}

// tickAcross sends a flow's due reminders (and what mutes withheld) from
// its incident as stored, under the store's lock: the nodes of every
// location that runs the flow tick it, and the first to commit a reminder
// is the one that sends it.
func (a *alerting) tickAcross(ctx context.Context, flow string) {
	a.mu.Lock()
	policy, mutes := a.policy.Merge(a.overrides[flow]), a.mutes
	a.mu.Unlock()
	var next incident.State
	var stepped bool
	var items int
	err := a.across.store.StepIncident(ctx, flow, func(stored json.RawMessage, _ []store.FlowState) (json.RawMessage, []store.OutboxItem, error) {
		if stored == nil {
			return nil, nil, nil
		}
		prev, err := decodeIncident(stored)
		if err != nil {
			return nil, nil, err
		}
		var events []notify.Event
		next, events = incident.Tick(policy, prev, time.Now(), mutes)
		stepped = true
		if len(events) == 0 {
			return nil, nil, nil
		}
		state, out, err := a.outboxItems(next, events)
		items = len(out)
		return state, out, err
	})
	if err != nil {
		a.log.Warn("reminders of a flow failed", "flow", flow, "err", err)
		return
	}
	if stepped {
		a.remember(flow, next, items)
	}
}

// remember keeps st as the flow's incident state and wakes the sender
// when items were enqueued.
func (a *alerting) remember(flow string, st incident.State, items int) {
	a.mu.Lock()
	a.states[flow], a.stored[flow] = st, st
	a.mu.Unlock()
	if items > 0 {
		a.sender.Kick()
	}
}

func decodeIncident(stored json.RawMessage) (incident.State, error) {
	var st incident.State
	if stored == nil {
		return st, nil
	}
	err := json.Unmarshal(stored, &st)
	return st, err
}

// recordsFrom is the location this daemon's runs are recorded from.
func (m *Main) recordsFrom() string {
	if m.cluster == nil {
		return ""
	}
	return m.cluster.Location()
}

// worstStates keeps one state per flow from states (one per flow and
// location): of those still counted (place.results), a failing one before
// a passing one, then the latest; a flow none counts keeps its latest.
// The overview of a flow run from several locations shows its worst.
func (m *Main) worstStates(states []store.FlowState, now time.Time) []store.FlowState {
	var out []store.FlowState
	index := map[string]int{}
	for _, st := range states {
		i, seen := index[st.Flow]
		if !seen {
			index[st.Flow] = len(out)
			out = append(out, st)
			continue
		}
		if m.worse(st, out[i], now) {
			out[i] = st
		}
	}
	return out
}

// showWorst shows, for a flow this node runs, the worst of its locations'
// states in the overview, when that is another location's: this node's
// own run set its own state just before.
func (m *Main) showWorst(states []store.FlowState) {
	worst := m.worstStates(states, time.Now())
	if len(worst) == 1 && worst[0].Location != m.recordsFrom() {
		m.lastState.Set(worst[0])
	}
}

// worse reports whether a is the state to show rather than b.
func (m *Main) worse(a, b store.FlowState, now time.Time) bool {
	stale := m.places.of(a.Flow).staleAfter()
	aFresh, bFresh := now.Sub(a.LastRun) <= stale, now.Sub(b.LastRun) <= stale
	switch {
	case aFresh != bFresh:
		return aFresh
	case a.OK != b.OK:
		return !a.OK
	}
	return a.LastRun.After(b.LastRun)
}
