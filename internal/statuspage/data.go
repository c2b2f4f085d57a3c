package statuspage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/notify"
)

// Flow states, most urgent first.
const (
	StateFailing = "failing"
	StateWarning = "warning"
	StateUnknown = "unknown" // configured, no run recorded yet
	StatePaused  = "paused"
	StatePassing = "passing"
)

var stateOrder = map[string]int{StateFailing: 0, StateWarning: 1, StateUnknown: 2, StatePaused: 3, StatePassing: 4}

// FlowSummary is one flow on the overview.
type FlowSummary struct {
	Name     string            `json:"name"`
	State    string            `json:"state"`
	Labels   map[string]string `json:"labels,omitempty"`
	Schedule string            `json:"schedule,omitempty"`
	Paused   bool              `json:"paused,omitempty"`
	// Reason, Layer, Summary and FailedStep describe the current failure
	// (state failing), or the first warning finding (state warning).
	Reason     string `json:"reason,omitempty"`
	Layer      string `json:"layer,omitempty"`
	Summary    string `json:"summary,omitempty"`
	FailedStep string `json:"failed_step,omitempty"`
	Warnings   int    `json:"warnings,omitempty"`
	// Since is the start of the first run of the current pass/fail state.
	Since               time.Time `json:"since,omitzero"`
	LastRun             time.Time `json:"last_run,omitzero"`
	LastRunID           int64     `json:"last_run_id,omitempty"`
	LastDurationMS      *float64  `json:"last_duration_ms,omitempty"`
	ConsecutivePasses   int       `json:"consecutive_passes"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	// Runs counts the runs recorded since the flow's state was created.
	Runs int64 `json:"runs"`
	// PassRate24h and PassRate7d are the share (0 to 1) of passing runs
	// among the runs of the window, cancelled runs not counted; null when
	// the window holds no run.
	PassRate24h *float64 `json:"pass_rate_24h"`
	PassRate7d  *float64 `json:"pass_rate_7d"`
	Runs24h     int      `json:"runs_24h"`
	Runs7d      int      `json:"runs_7d"`
	// LatencyMS are the latencies of the last 30 runs, oldest first: their
	// durations without wait steps. LastDurationMS is the last of them.
	LatencyMS []float64 `json:"latency_ms"`
	// Incident is the flow's open incident, if any.
	Incident *IncidentRef `json:"incident,omitempty"`
}

// IncidentRef points at an open incident.
type IncidentRef struct {
	Key      string    `json:"key"`
	Kind     string    `json:"kind"` // failure or warning
	OpenedAt time.Time `json:"opened_at,omitzero"`
}

// FlowsJSON is GET /api/v1/flows: a page of the flows that pass the
// request's filters, most urgent first.
type FlowsJSON struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Total counts the flows that pass every filter, on every page.
	Total int `json:"total"`
	// Limit is the most flows a page holds.
	Limit int `json:"limit"`
	// Counts are flows per state among those that pass the filters other
	// than state= (with no filter, every flow).
	Counts map[string]int `json:"counts"`
	Flows  []FlowSummary  `json:"flows"`
	// Next and Prev are the URLs of the next and previous pages (absent on
	// the last and first); NextCursor and PrevCursor their after= and
	// before= values.
	Next       string `json:"next,omitempty"`
	NextCursor string `json:"next_cursor,omitempty"`
	Prev       string `json:"prev,omitempty"`
	PrevCursor string `json:"prev_cursor,omitempty"`
	// StateStore says whether the state store takes writes: while it does
	// not, results and pages are held in memory (see /healthz).
	StateStore StoreStateJSON `json:"state_store"`
}

// FlowDetailJSON is GET /api/v1/flows/{name}.
type FlowDetailJSON struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Flow        FlowSummary    `json:"flow"`
	Incidents   []IncidentJSON `json:"incidents"`
	// Locations are the flow's latest results per probe location, when
	// clustered daemons of several locations run it (docs/cluster.md).
	Locations []LocationJSON  `json:"locations,omitempty"`
	Timeline  []TimelineEntry `json:"timeline"`
	Trends    Trends          `json:"trends"`
}

// IncidentJSON is a flow's failure or warning incident.
type IncidentJSON struct {
	Flow           string            `json:"flow"`
	Kind           string            `json:"kind"` // failure or warning
	Key            string            `json:"key"`
	Open           bool              `json:"open"`
	Reason         string            `json:"reason,omitempty"`
	NotifiedReason string            `json:"notified_reason,omitempty"`
	Step           string            `json:"step,omitempty"`
	Layer          string            `json:"layer,omitempty"`
	Summary        string            `json:"summary,omitempty"`
	NextStep       string            `json:"next_step,omitempty"`
	Evidence       []notify.Fact     `json:"evidence,omitempty"`
	RequestIDs     map[string]string `json:"request_ids,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	OpenedAt       time.Time         `json:"opened_at,omitzero"`
	FirstFailure   time.Time         `json:"first_failure,omitzero"`
	LastNotified   time.Time         `json:"last_notified,omitzero"`
	Failures       int               `json:"consecutive_failures,omitempty"`
	Flapping       bool              `json:"flapping,omitempty"`
	// Notification is what receivers were told: notified (the current
	// reason went out), update_pending (the reason changed since),
	// withheld (a silence or maintenance window, MutedBy, holds it back),
	// resolved (closed; the resolution went out unless it was withheld).
	Notification string `json:"notification"`
	MutedBy      string `json:"muted_by,omitempty"`
}

// NotifierJSON is one notifier's delivery queue.
type NotifierJSON struct {
	Name          string    `json:"name"`
	Pending       int       `json:"pending"`
	Dead          int       `json:"dead"`
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// Status is ok, delayed (a notification waits for over 10 minutes) or
	// failing (a receiver refused a notification for good).
	Status string `json:"status"`
}

// IncidentsJSON is GET /api/v1/incidents.
type IncidentsJSON struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Open        []IncidentJSON `json:"open"`
	Recent      []IncidentJSON `json:"recent"`
	Notifiers   []NotifierJSON `json:"notifiers"`
	// FailingWithoutIncident are the failing flows no open incident
	// covers, each with why: a reader who sees six flows fail and no
	// incident must not have to guess.
	FailingWithoutIncident []FailingJSON `json:"failing_without_incident"`
}

// FailingJSON is a failing flow without an open incident.
type FailingJSON struct {
	Flow                string    `json:"flow"`
	Reason              string    `json:"reason,omitempty"`
	Since               time.Time `json:"since,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	// OpenAfter is the policy's open_after for the flow, when the page
	// knows the policy (Options.IncidentPolicy).
	OpenAfter int `json:"open_after,omitempty"`
	// Why says why no incident is open, e.g. "1 failure in a row; an
	// incident opens after 2 (open_after)".
	Why string `json:"why"`
}

// maxRecentIncidents bounds the closed incidents listed.
const maxRecentIncidents = 50

// flowRef is a flow to show: its configuration and its state.
type flowRef struct {
	info     FlowInfo
	state    store.FlowState
	hasState bool
}

// listFlows returns the flows to show: the configured ones (Options.Flows),
// or every flow with a state. Their states come from Options.States when
// set, else from one FlowStates query.
func (s *server) listFlows(ctx context.Context) ([]flowRef, error) {
	if s.opts.States != nil {
		var infos []FlowInfo
		if s.opts.Flows != nil {
			infos = s.opts.Flows()
		}
		return s.liveRefs(infos), nil
	}
	states, err := s.src.FlowStates(ctx)
	if err != nil {
		return nil, err
	}
	if s.opts.Flows == nil {
		out := make([]flowRef, len(states))
		for i, st := range states {
			out[i] = flowRef{info: FlowInfo{Name: st.Flow}, state: st, hasState: true}
		}
		return out, nil
	}
	byName := make(map[string]int, len(states))
	for i, st := range states {
		byName[st.Flow] = i
	}
	infos := s.opts.Flows()
	out := make([]flowRef, len(infos))
	for i, fi := range infos {
		out[i].info = fi
		if j, ok := byName[fi.Name]; ok {
			out[i].state, out[i].hasState = states[j], true
		}
	}
	return out, nil
}

// liveRefs is listFlows from Options.States, with infos from
// Options.Flows (when set).
func (s *server) liveRefs(infos []FlowInfo) []flowRef {
	live := s.opts.States
	if s.opts.Flows == nil {
		var out []flowRef
		live.Range(func(st store.FlowState) bool {
			out = append(out, flowRef{info: FlowInfo{Name: st.Flow}, state: st, hasState: true})
			return true
		})
		slices.SortFunc(out, func(a, b flowRef) int { return strings.Compare(a.info.Name, b.info.Name) })
		return out
	}
	out := make([]flowRef, len(infos))
	for i, fi := range infos {
		out[i].info = fi
		out[i].state, out[i].hasState = live.Load(fi.Name)
	}
	return out
}

// flowState is one flow's state, from Options.States when set.
func (s *server) flowState(ctx context.Context, name string) (store.FlowState, bool, error) {
	if s.opts.States != nil {
		st, ok := s.opts.States.Load(name)
		return st, ok, nil
	}
	return s.src.FlowState(ctx, name)
}

// findFlow returns one flow to show, and false if it is neither configured
// nor has a state.
func (s *server) findFlow(ctx context.Context, name string) (flowRef, bool, error) {
	st, ok, err := s.flowState(ctx, name)
	if err != nil {
		return flowRef{}, false, err
	}
	if s.opts.Flows != nil {
		for _, fi := range s.opts.Flows() {
			if fi.Name == name {
				return flowRef{info: fi, state: st, hasState: ok}, true, nil
			}
		}
		return flowRef{}, false, nil
	}
	return flowRef{info: FlowInfo{Name: name}, state: st, hasState: ok}, ok, nil
}

// incidentSet is every flow's incident state, decoded, and as stored.
type incidentSet struct {
	decoded map[string]incident.State
	raw     map[string]json.RawMessage
	// version changes whenever a state changed since the last read.
	version uint64
}

// incidentCache keeps the decoded incident states by their stored bytes:
// most do not change between two page views, and comparing bytes costs
// far less than decoding thousands of them on every request.
type incidentCache struct {
	mu      sync.Mutex
	byFlow  map[string]decodedIncident
	version uint64
}

type decodedIncident struct {
	raw   string
	state incident.State
	ok    bool // it decoded
}

// incidentStates reads every flow's incident state; a state that does not
// decode is skipped (it is the alerting code's to repair). The states are
// shared between requests: read them, never change them.
func (s *server) incidentStates(ctx context.Context) (map[string]incident.State, error) {
	set, err := s.readIncidents(ctx)
	return set.decoded, err
}

func (s *server) readIncidents(ctx context.Context) (incidentSet, error) {
	raw, err := s.src.IncidentStates(ctx)
	if err != nil {
		return incidentSet{}, err
	}
	out := incidentSet{decoded: make(map[string]incident.State, len(raw)), raw: raw}
	c := &s.incCache
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]decodedIncident, len(raw))
	changed := len(raw) != len(c.byFlow)
	for flow, b := range raw {
		d, ok := c.byFlow[flow]
		if !ok || d.raw != string(b) {
			d = decodedIncident{raw: string(b)}
			d.ok = json.Unmarshal(b, &d.state) == nil
			changed = true
		}
		next[flow] = d
		if d.ok {
			out.decoded[flow] = d.state
		}
	}
	c.byFlow = next
	if changed {
		c.version++
	}
	out.version = c.version
	return out, nil
}

// syncStats brings the caches of refs up to date, a few flows at a time,
// and returns them (in refs' order) for the request to read; trend: with
// the latency trend's hourly percentiles (a flow's page).
func (s *server) syncStats(ctx context.Context, refs []flowRef, now time.Time, trend bool) ([]*flowStats, error) {
	sem := make(chan struct{}, syncConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	caches := make([]*flowStats, len(refs))
	for i, ref := range refs {
		f := s.stats.get(ref.info.Name)
		caches[i] = f
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			f.mu.Lock()
			err := f.sync(ctx, s.src, ref.info.Name, ref.state, ref.info.Every, now, trend)
			bytes := f.bytes()
			f.mu.Unlock()
			s.stats.resized(ref.info.Name, f, bytes)
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return caches, first
}

// rows builds the page's rows: only their flows' history is read (the
// caches of the flows on the page are synced).
func (s *server) rows(ctx context.Context, page []*listed, now time.Time) ([]FlowSummary, error) {
	refs := make([]flowRef, len(page))
	for i, l := range page {
		refs[i] = l.ref
	}
	caches, err := s.syncStats(ctx, refs, now, false)
	if err != nil {
		return nil, err
	}
	out := make([]FlowSummary, len(page))
	for i, l := range page {
		out[i] = s.summary(l.ref, l.inc, caches[i], now)
	}
	return out, nil
}

// summary builds one row from the flow's state and its (synced) cache f.
func (s *server) summary(ref flowRef, inc incident.State, f *flowStats, now time.Time) FlowSummary {
	st := ref.state
	fs := FlowSummary{Name: ref.info.Name, Labels: ref.info.Labels, Schedule: ref.info.Schedule, Paused: ref.info.Paused,
		LatencyMS: []float64{}, State: stateOf(ref)}
	if fs.Labels == nil && len(inc.Labels) > 0 {
		fs.Labels = maps.Clone(inc.Labels)
	}
	f.mu.Lock()
	fig := f.figures(now)
	last, hasLast, warn, warnSum := f.last, f.hasLast, f.lastWarn, f.lastWarnSum
	f.mu.Unlock()
	fs.PassRate24h, fs.PassRate7d, fs.Runs24h, fs.Runs7d = fig.passRate24h, fig.passRate7d, fig.runs24h, fig.runs7d
	fs.LatencyMS, fs.LastDurationMS = fig.latency, fig.lastDurationMS
	if fs.LatencyMS == nil {
		fs.LatencyMS = []float64{}
	}
	if ref.hasState {
		fs.Since, fs.LastRun, fs.Runs = st.Since, st.LastRun, st.Runs
		fs.ConsecutivePasses, fs.ConsecutiveFailures = st.ConsecutivePasses, st.ConsecutiveFailures
		fs.LastRunID, fs.Warnings = st.LastRunID, st.LastWarnings
	}
	if fs.LastRunID == 0 && hasLast && last.Start.Equal(st.LastRun) {
		fs.LastRunID = last.ID // a state recorded before it carried the run's ID, or a run not yet written
	}
	switch fs.State {
	case StateFailing:
		fs.Reason, fs.Summary = st.LastReason, servedText(st.LastSummary)
		fs.Layer, fs.FailedStep = st.LastLayer, st.LastFailedStep
	case StateWarning:
		if hasLast && last.Start.Equal(st.LastRun) {
			fs.Reason, fs.Summary = warn, servedText(warnSum)
		}
		if fs.Reason == "" && inc.Warning != nil && inc.Warning.Open {
			fs.Reason = inc.Warning.Reason
			if len(inc.Warning.Findings) > 0 {
				fs.Summary = servedText(inc.Warning.Findings[0].Summary)
			}
		}
	}
	switch {
	case inc.Open:
		fs.Incident = &IncidentRef{Key: inc.Key, Kind: "failure", OpenedAt: inc.OpenedAt}
	case inc.Warning != nil && inc.Warning.Open:
		fs.Incident = &IncidentRef{Key: inc.Warning.Key, Kind: "warning", OpenedAt: inc.Warning.OpenedAt}
	}
	return fs
}

// detail builds a flow's page data (without its run history).
func (s *server) detail(ctx context.Context, ref flowRef, now time.Time) (FlowDetailJSON, error) {
	incs, err := s.incidentStates(ctx)
	if err != nil {
		return FlowDetailJSON{}, err
	}
	caches, err := s.syncStats(ctx, []flowRef{ref}, now, true)
	if err != nil {
		return FlowDetailJSON{}, err
	}
	f := caches[0]
	inc := incs[ref.info.Name]
	out := FlowDetailJSON{GeneratedAt: now, Flow: s.summary(ref, inc, f, now), Incidents: incidentsOf(ref.info.Name, inc)}
	if out.Locations, err = s.locationsOf(ctx, ref.info.Name); err != nil {
		return FlowDetailJSON{}, err
	}
	f.mu.Lock()
	out.Timeline, out.Trends = f.timelineView(), f.trendsView()
	f.mu.Unlock()
	for i := range out.Timeline {
		out.Timeline[i].Summary = servedText(out.Timeline[i].Summary)
	}
	out.Timeline = withIncidents(out.Timeline, out.Incidents, now)
	return out, nil
}

// withIncidents adds the opening of the flow's incidents (within the
// window) to its timeline, newest first.
func withIncidents(tl []TimelineEntry, incs []IncidentJSON, now time.Time) []TimelineEntry {
	for _, in := range incs {
		if in.OpenedAt.IsZero() || in.OpenedAt.Before(now.Add(-window7d)) {
			continue
		}
		tl = append(tl, TimelineEntry{Time: in.OpenedAt, Kind: "incident_opened", Reason: in.Reason, Incident: in.Key,
			Summary: in.Kind + " incident; notification " + in.Notification})
	}
	slices.SortStableFunc(tl, func(a, b TimelineEntry) int {
		// At the same time, the incident opened after the run that opened it.
		rank := func(e TimelineEntry) int {
			if e.Kind == "incident_opened" {
				return 1
			}
			return 0
		}
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(rank(b), rank(a)))
	})
	return tl
}

// incidentsOf lists a flow's failure and warning incidents (open, or the
// last closed one).
func incidentsOf(flow string, st incident.State) []IncidentJSON {
	out := []IncidentJSON{}
	if st.Key != "" {
		ij := IncidentJSON{Flow: flow, Kind: "failure", Key: st.Key, Open: st.Open, Reason: st.Reason,
			NotifiedReason: st.NotifiedReason, Labels: st.Labels, OpenedAt: st.OpenedAt, FirstFailure: st.FirstFailure,
			LastNotified: st.LastNotified, Failures: st.ConsecutiveFailures, Flapping: st.Flapping, MutedBy: st.MutedBy}
		if d := st.Last; d != nil {
			ij.Step, ij.Layer, ij.Summary, ij.NextStep = d.Step, d.Layer, d.Summary, d.NextStep
			ij.Evidence, ij.RequestIDs = d.Evidence, d.RequestIDs
		}
		ij.Notification = notification(st.Open, st.Suppressed, st.Reason, st.NotifiedReason)
		if !st.Open {
			ij.Failures = 0
		}
		out = append(out, boundIncident(ij))
	}
	if w := st.Warning; w != nil && w.Key != "" {
		ij := IncidentJSON{Flow: flow, Kind: "warning", Key: w.Key, Open: w.Open, Reason: w.Reason,
			NotifiedReason: w.NotifiedReason, Labels: st.Labels, OpenedAt: w.OpenedAt, MutedBy: w.MutedBy}
		for _, f := range w.Findings {
			ij.Evidence = append(ij.Evidence, notify.Fact{Name: f.Reason, Value: f.Summary})
		}
		if len(w.Findings) > 0 {
			ij.Summary = w.Findings[0].Summary
		}
		ij.Notification = notification(w.Open, w.Suppressed, w.Reason, w.NotifiedReason)
		out = append(out, boundIncident(ij))
	}
	return out
}

// maxServedFacts bounds the evidence of an incident served.
const maxServedFacts = 32

// boundIncident bounds what an incident recorded before flows bounded its
// evidence shows.
func boundIncident(ij IncidentJSON) IncidentJSON {
	ij.Summary, ij.NextStep = servedText(ij.Summary), servedText(ij.NextStep)
	facts := make([]notify.Fact, 0, min(len(ij.Evidence), maxServedFacts))
	for _, f := range ij.Evidence[:min(len(ij.Evidence), maxServedFacts)] {
		facts = append(facts, notify.Fact{Name: servedText(f.Name), Value: servedText(f.Value)})
	}
	if len(ij.Evidence) > 0 {
		ij.Evidence = facts
	}
	if ij.RequestIDs != nil {
		ids := make(map[string]string, len(ij.RequestIDs))
		for k, v := range ij.RequestIDs {
			ids[k] = servedText(v)
		}
		ij.RequestIDs = ids
	}
	return ij
}

func notification(open, suppressed bool, reason, notified string) string {
	switch {
	case suppressed:
		return "withheld"
	case !open:
		return "resolved"
	case notified != reason:
		return "update_pending"
	}
	return "notified"
}

// incidents builds the incidents page's data.
func (s *server) incidents(ctx context.Context, now time.Time) (IncidentsJSON, error) {
	incs, err := s.incidentStates(ctx)
	if err != nil {
		return IncidentsJSON{}, err
	}
	backlog, err := s.src.Backlog(ctx)
	if err != nil {
		return IncidentsJSON{}, err
	}
	refs, err := s.listFlows(ctx)
	if err != nil {
		return IncidentsJSON{}, err
	}
	out := IncidentsJSON{GeneratedAt: now, Open: []IncidentJSON{}, Recent: []IncidentJSON{}, Notifiers: []NotifierJSON{},
		FailingWithoutIncident: []FailingJSON{}}
	for _, ref := range refs {
		st := ref.state
		if ref.info.Paused || !ref.hasState || st.LastRun.IsZero() || st.OK || incs[ref.info.Name].Open {
			continue
		}
		fj := FailingJSON{Flow: ref.info.Name, Reason: st.LastReason, Since: st.Since, ConsecutiveFailures: st.ConsecutiveFailures}
		var policy *incident.Policy
		if s.opts.IncidentPolicy != nil {
			p := s.opts.IncidentPolicy(ref.info.Name)
			policy, fj.OpenAfter = &p, p.OpenAfter
		}
		fj.Why = whyNoIncident(st.ConsecutiveFailures, policy)
		out.FailingWithoutIncident = append(out.FailingWithoutIncident, fj)
	}
	slices.SortFunc(out.FailingWithoutIncident, func(a, b FailingJSON) int { return strings.Compare(a.Flow, b.Flow) })
	for flow, st := range incs {
		for _, ij := range incidentsOf(flow, st) {
			if ij.Open {
				out.Open = append(out.Open, ij)
			} else {
				out.Recent = append(out.Recent, ij)
			}
		}
	}
	newest := func(a, b IncidentJSON) int {
		return cmp.Or(b.OpenedAt.Compare(a.OpenedAt), strings.Compare(a.Key, b.Key))
	}
	slices.SortFunc(out.Open, newest)
	slices.SortFunc(out.Recent, newest)
	if len(out.Recent) > maxRecentIncidents {
		out.Recent = out.Recent[:maxRecentIncidents]
	}
	for name, b := range backlog {
		n := NotifierJSON{Name: name, Pending: b.Pending, Dead: b.Dead, OldestPending: b.Oldest, Status: "ok"}
		switch {
		case b.Dead > 0:
			n.Status = "failing"
		case b.Pending > 0 && now.Sub(b.Oldest) > 10*time.Minute:
			n.Status = "delayed"
		}
		out.Notifiers = append(out.Notifiers, n)
	}
	slices.SortFunc(out.Notifiers, func(a, b NotifierJSON) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// whyNoIncident explains a failing flow without an open incident, from
// its failures in a row and, if known, the policy that opens incidents.
func whyNoIncident(failures int, p *incident.Policy) string {
	inARow := plural(failures, "failure") + " in a row"
	if p == nil {
		return inARow + "; the alert policy (open_after, open_window) decides when an incident opens"
	}
	rule := fmt.Sprintf("an incident opens after %d (open_after)", p.OpenAfter)
	if w := p.OpenWindow; w.Failures > 0 && w.Runs > 0 {
		rule += fmt.Sprintf(" or after %d of the last %d runs (open_window)", w.Failures, w.Runs)
	}
	if failures < p.OpenAfter {
		return inARow + "; " + rule
	}
	return inARow + ", and " + rule + ", but none is recorded as open: the alerting has not recorded these runs (see the authwatch log)"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// labelFilter is a set of label=value conditions, all of which must hold.
type labelFilter map[string]string

func (f labelFilter) match(labels map[string]string) bool {
	for k, v := range f {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
