package statuspage

import (
	"sync"
	"sync/atomic"

	"github.com/authwatch/authwatch/internal/store"
)

// LiveStates holds each flow's state as its last run left it, in memory,
// for Options.States: the overview and /api/v1/flows then read no state
// from the store (at 10,000 flows, that read was most of a page's cost).
//
// Its owner (the daemon) fills it from the store before the page is served
// (the store stays the source of what came before the start), then sets a
// flow's state after each of its runs with Set, or with Recorded, which
// also hands the run to the page's figures. Reads and writes may be
// concurrent.
type LiveStates struct {
	states sync.Map // flow → store.FlowState
	// mu orders the writers, so that placed counts every change of place.
	mu sync.Mutex
	// placed counts the changes of a flow's place in the overview (see
	// placeOf) and the flows forgotten: while it holds still, the order,
	// the filters' matches and the counts computed from the states do not
	// change, only the rows' contents.
	placed atomic.Uint64
	// runs receives each recorded run (the handler's figures cache).
	runs atomic.Pointer[runObserver]
}

// runObserver is told of each recorded run; it must not block.
type runObserver func(run store.Run, st store.FlowState)

// Load returns the flow's state, and false when it has none.
func (l *LiveStates) Load(flow string) (store.FlowState, bool) {
	v, ok := l.states.Load(flow)
	if !ok {
		return store.FlowState{}, false
	}
	return v.(store.FlowState), true
}

// Set records the flow's state (st.Flow) as its last run left it.
func (l *LiveStates) Set(st store.FlowState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.Load(st.Flow)
	l.states.Store(st.Flow, st)
	if !had || placeOf(old) != placeOf(st) {
		l.placed.Add(1)
	}
}

// Restore sets a state read from the store unless the flow has one
// already (a run recorded meanwhile is newer), and reports whether it did.
func (l *LiveStates) Restore(st store.FlowState) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, had := l.states.LoadOrStore(st.Flow, st); had {
		return false
	}
	l.placed.Add(1)
	return true
}

// Recorded is Set after a run was recorded (st is the state RecordRun
// returned), and hands the run to the status page, whose figures of the
// flow (pass rates, latencies) then need no read of the store. It does not
// wait for the page: a run the page cannot take at once is read from the
// store when the flow is next shown.
func (l *LiveStates) Recorded(run store.Run, st store.FlowState) {
	l.Set(st)
	if obs := l.runs.Load(); obs != nil {
		(*obs)(run, st)
	}
}

// Range calls f for each flow's state until f returns false.
func (l *LiveStates) Range(f func(st store.FlowState) bool) {
	l.states.Range(func(_, v any) bool { return f(v.(store.FlowState)) })
}

// ForgetExcept drops the states of the flows not in keep.
func (l *LiveStates) ForgetExcept(keep map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states.Range(func(k, _ any) bool {
		if !keep[k.(string)] {
			l.states.Delete(k)
			l.placed.Add(1)
		}
		return true
	})
}

// place is what of a state decides the flow's place in the overview: its
// state (stateOf) and the reason reason= matches (newListed).
type place struct {
	ran, ok, warned bool
	reason          string
}

func placeOf(st store.FlowState) place {
	p := place{ran: !st.LastRun.IsZero(), ok: st.OK, warned: st.LastWarnings > 0}
	if !st.OK {
		p.reason = st.LastReason
	}
	return p
}
