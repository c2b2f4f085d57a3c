package statuspage

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/authwatch/authwatch/internal/incident"
)

// Flows the overview and /api/v1/flows show, a page at a time.
const (
	defaultFlowsLimit = 100
	maxFlowsLimit     = 1000
	maxSearchLen      = 200
)

// flowQuery is an overview or /api/v1/flows request: filters, then a page
// of the flows that pass them, in the overview's order.
type flowQuery struct {
	labels  labelFilter
	label   []string // as given, for links
	states  []string // in stateOrder
	reasons []string
	search  string // a part of the name, any case
	limit   int
	// after and before are the cursors of the next and previous pages:
	// the page starts after, or ends before, that row.
	after, before *rowKey
}

// rowKey is a row's place in the overview's order: urgency, then name.
type rowKey struct {
	state, name string
}

func (k rowKey) compare(o rowKey) int {
	if k.state != o.state {
		return cmp.Compare(stateOrder[k.state], stateOrder[o.state])
	}
	return strings.Compare(k.name, o.name)
}

// String is the key as a cursor: "state:name".
func (k rowKey) String() string { return k.state + ":" + k.name }

// cursor is k as a cursor, "" for none.
func cursor(k *rowKey) string {
	if k == nil {
		return ""
	}
	return k.String()
}

func parseCursor(param, v string) (*rowKey, string) {
	state, name, ok := strings.Cut(v, ":")
	if _, known := stateOrder[state]; !ok || !known || name == "" {
		return nil, param + " must be a cursor from a next or prev link (state:name)"
	}
	return &rowKey{state: state, name: name}, ""
}

// parseFlowQuery reads label=, state=, reason=, q=, limit=, after= and
// before=; the error is for the client.
func parseFlowQuery(q url.Values) (flowQuery, string) {
	fq := flowQuery{labels: labelFilter{}, limit: defaultFlowsLimit}
	for _, v := range q["label"] {
		if v == "" {
			continue // the page's "all flows"
		}
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fq, "label must be KEY=VALUE, got " + strconv.Quote(v)
		}
		fq.labels[k], fq.label = val, append(fq.label, v)
	}
	for _, v := range splitValues(q["state"]) {
		if _, ok := stateOrder[v]; !ok {
			return fq, "state must be failing, warning, unknown, paused or passing, got " + strconv.Quote(v)
		}
		if !slices.Contains(fq.states, v) {
			fq.states = append(fq.states, v)
		}
	}
	slices.SortFunc(fq.states, func(a, b string) int { return cmp.Compare(stateOrder[a], stateOrder[b]) })
	for _, v := range splitValues(q["reason"]) {
		if !isReasonCode(v) {
			return fq, "reason must be a reason code (lower case letters, digits and _), got " + strconv.Quote(v)
		}
		fq.reasons = append(fq.reasons, v)
	}
	if fq.search = strings.TrimSpace(q.Get("q")); len(fq.search) > maxSearchLen {
		return fq, "q must be at most " + strconv.Itoa(maxSearchLen) + " bytes"
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxFlowsLimit {
			return fq, "limit must be a whole number from 1 to " + strconv.Itoa(maxFlowsLimit)
		}
		fq.limit = n
	}
	var bad string
	if v := q.Get("after"); v != "" {
		if fq.after, bad = parseCursor("after", v); bad != "" {
			return fq, bad
		}
	}
	if v := q.Get("before"); v != "" {
		if fq.after != nil {
			return fq, "after and before must not both be given"
		}
		if fq.before, bad = parseCursor("before", v); bad != "" {
			return fq, bad
		}
	}
	return fq, ""
}

// splitValues reads a repeatable parameter that also takes a
// comma-separated list; empty values are dropped.
func splitValues(vs []string) []string {
	var out []string
	for _, v := range vs {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func isReasonCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// values is the query with a cursor, for links; an empty cursor parameter
// is the first page.
func (fq flowQuery) values(cursorParam, cursor string) url.Values {
	v := url.Values{}
	for _, l := range fq.label {
		v.Add("label", l)
	}
	if len(fq.states) > 0 {
		v.Set("state", strings.Join(fq.states, ","))
	}
	if len(fq.reasons) > 0 {
		v.Set("reason", strings.Join(fq.reasons, ","))
	}
	if fq.search != "" {
		v.Set("q", fq.search)
	}
	if fq.limit != defaultFlowsLimit {
		v.Set("limit", strconv.Itoa(fq.limit))
	}
	if cursorParam != "" {
		v.Set(cursorParam, cursor)
	}
	return v
}

// cursorValues is the query as given: the same page.
func (fq flowQuery) cursorValues() url.Values {
	switch {
	case fq.after != nil:
		return fq.values("after", fq.after.String())
	case fq.before != nil:
		return fq.values("before", fq.before.String())
	}
	return fq.values("", "")
}

// listed is a flow with what the overview decides from its state,
// configuration and incident state alone, without reading its runs.
type listed struct {
	ref    flowRef
	inc    incident.State
	key    rowKey
	labels map[string]string
	// reasons are the codes reason= matches: a failing flow's reason, a
	// warning flow's open warning incident's reason and findings.
	reasons []string
}

func newListed(ref flowRef, inc incident.State) *listed {
	l := &listed{ref: ref, inc: inc, key: rowKey{state: stateOf(ref), name: ref.info.Name}, labels: ref.info.Labels}
	if l.labels == nil {
		l.labels = inc.Labels
	}
	switch l.key.state {
	case StateFailing:
		l.reasons = []string{ref.state.LastReason}
	case StateWarning:
		if w := inc.Warning; w != nil && w.Open {
			l.reasons = append(l.reasons, w.Reason)
			for _, f := range w.Findings {
				l.reasons = append(l.reasons, f.Reason)
			}
		}
	}
	return l
}

// stateOf decides a flow's state from its configuration and state.
func stateOf(ref flowRef) string {
	st := ref.state
	switch {
	case ref.info.Paused:
		return StatePaused
	case !ref.hasState || st.LastRun.IsZero():
		return StateUnknown
	case !st.OK:
		return StateFailing
	case st.LastWarnings > 0:
		return StateWarning
	}
	return StatePassing
}

// matchesBesidesState says whether l passes the query's filters other
// than state=: the counts per state are over these flows.
func (fq flowQuery) matchesBesidesState(l *listed) bool {
	if !fq.labels.match(l.labels) {
		return false
	}
	if len(fq.reasons) > 0 && !slices.ContainsFunc(l.reasons, func(r string) bool { return slices.Contains(fq.reasons, r) }) {
		return false
	}
	return fq.search == "" || containsFold(l.key.name, fq.search)
}

// filtered says whether the query leaves out any flow.
func (fq flowQuery) filtered() bool {
	return len(fq.labels) > 0 || len(fq.states) > 0 || len(fq.reasons) > 0 || fq.search != ""
}

func containsFold(s, part string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(part))
}

// flowList is the answer to a flowQuery before any run is read.
type flowList struct {
	// counts are flows per state among those that pass the filters other
	// than state=; total those that pass every filter.
	counts map[string]int
	total  int
	// page is the requested page, in order; prev and next the cursors of
	// the pages around it (nil: none).
	page       []*listed
	prev, next *rowKey
	// offset is the page's first row's index among those that pass.
	offset int
}

func newCounts() map[string]int {
	return map[string]int{StateFailing: 0, StateWarning: 0, StateUnknown: 0, StatePaused: 0, StatePassing: 0}
}

// selectFlows filters and counts the flows (all, in the overview's order,
// read only), and cuts the page.
func selectFlows(all []*listed, fq flowQuery) flowList {
	out := flowList{counts: newCounts()}
	matched := all
	if fq.filtered() {
		matched = make([]*listed, 0, len(all))
	}
	for _, l := range all {
		if !fq.matchesBesidesState(l) {
			continue
		}
		out.counts[l.key.state]++
		if fq.filtered() && (len(fq.states) == 0 || slices.Contains(fq.states, l.key.state)) {
			matched = append(matched, l)
		}
	}
	out.total = len(matched)
	at := func(k rowKey) int {
		i, _ := slices.BinarySearchFunc(matched, k, func(l *listed, k rowKey) int { return l.key.compare(k) })
		return i
	}
	from, to := 0, min(fq.limit, len(matched))
	switch {
	case fq.after != nil:
		from = at(*fq.after)
		if from < len(matched) && matched[from].key == *fq.after {
			from++
		}
		to = min(from+fq.limit, len(matched))
	case fq.before != nil:
		to = at(*fq.before)
		from = max(to-fq.limit, 0)
		if from == 0 { // the first page is always a full page
			to = min(fq.limit, len(matched))
		}
	}
	out.page, out.offset = matched[from:to], from
	if from > 0 && from < len(matched) {
		out.prev = &matched[from].key
	}
	if to < len(matched) && to > 0 {
		out.next = &matched[to-1].key
	}
	return out
}
