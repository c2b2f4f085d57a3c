package scheduler

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/authwatch/authwatch/flows"
)

// flowState is what the scheduler keeps per flow name, across changes of
// the flow's definition.
type flowState struct {
	// busy is set from the moment a run is admitted until its result has
	// been reported: while set, the flow's due runs skip as overlaps.
	busy atomic.Bool
	// waiting is set while the admitted run waits for a slot, reporting
	// while its result is handed on (OnResult: the store): a due run
	// meanwhile is "behind" (the monitor is slow), not "overlap" (the
	// target is).
	waiting, reporting atomic.Bool
	deferUntil         atomic.Int64 // UnixNano; 0: not deferred
	runs               atomic.Uint64
	skipped            atomic.Uint64
	behind             atomic.Uint64
	deferred           atomic.Uint64
}

func (st *flowState) deferredUntil() time.Time {
	if n := st.deferUntil.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (st *flowState) stats() FlowStats {
	return FlowStats{Runs: st.runs.Load(), Skipped: st.skipped.Load(), Behind: st.behind.Load(), Deferred: st.deferred.Load(),
		DeferredUntil: st.deferredUntil(), InProgress: st.busy.Load()}
}

// fire is the timer loop's call for j as it falls due. It applies the
// policies and hands an admitted run to a worker goroutine of ours,
// returning at once.
func (s *Scheduler) fire(j *job) {
	if j.gone.Load() {
		return
	}
	var admission any
	var live *liveRun
	if s.ours != nil {
		var ours bool
		if admission, live, ours = s.admission(j.flow.Name); !ours {
			return
		}
	}
	now := s.clock.Now()
	st := j.state
	if until := st.deferredUntil(); now.Before(until) {
		s.forget(live)
		st.deferred.Add(1)
		s.skip(j.flow.Name, SkipRetryAfter)
		return
	}
	ok, busy := s.admit(st)
	if !ok {
		s.forget(live)
	}
	switch {
	case busy && (st.waiting.Load() || st.reporting.Load()):
		st.behind.Add(1)
		s.skip(j.flow.Name, SkipBehind)
	case busy:
		st.skipped.Add(1)
		s.skip(j.flow.Name, SkipOverlap)
	}
	if ok {
		s.start(admitted{j, j.plan.at(now), admission, live})
	}
}

// start hands an admitted run to a worker if a slot is free; otherwise it
// waits in the limiter's queue until a finishing run (release) or a higher
// limit (adapt) passes it one.
func (s *Scheduler) start(a admitted) {
	switch granted, refused := s.slots.take(a); {
	case granted:
		s.dispatch(a)
	case refused:
		s.giveUp(a)
	}
}

// giveUp ends an admitted run that will not be made (Shutdown began
// while it waited for a slot).
func (s *Scheduler) giveUp(a admitted) {
	s.forget(a.live)
	a.j.state.waiting.Store(false)
	a.j.state.busy.Store(false)
	s.runs.Done()
}

// releaseSlot frees a run's slot, or starts the oldest waiting run in it.
func (s *Scheduler) releaseSlot() {
	if next, ok := s.slots.release(); ok {
		s.dispatch(next)
	}
}

// admit marks st busy (and waiting for a slot) and counts the run in
// progress, unless a run of the flow is already in progress (busy) or
// Shutdown has begun.
func (s *Scheduler) admit(st *flowState) (ok, busy bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, false
	}
	if !st.busy.CompareAndSwap(false, true) {
		return false, true
	}
	st.waiting.Store(true)
	s.runs.Add(1)
	return true, false
}

func (s *Scheduler) skip(flow, why string) {
	s.log.Debug("run skipped", "flow", flow, "why", why)
	if h := s.hooks.OnSkip; h != nil {
		h(flow, why)
	}
}

// execute runs the flow in the slot it was given and reports the result.
func (s *Scheduler) execute(a admitted) {
	j := a.j
	defer s.runs.Done()
	defer j.state.busy.Store(false)
	defer j.state.reporting.Store(false)
	j.state.waiting.Store(false)
	select {
	case <-s.stop: // the slot came as Shutdown began: no run starts now
		s.forget(a.live)
		s.releaseSlot()
		return
	default:
	}
	started := s.clock.Now()
	lateness := max(started.Sub(a.planned), 0)
	ev := Event{Flow: j.flow, Planned: a.planned, Started: started, Lateness: lateness, Admission: a.admission}
	parent, cancel, ok := s.runContext(a.live)
	if !ok { // revoked while it waited for a slot
		s.releaseSlot()
		s.revoked(ev, s.forget(a.live))
		return
	}
	if h := s.hooks.OnLateness; h != nil {
		h(j.flow.Name, lateness)
	}
	ev.Result = s.runOnce(parent, j.flow)
	if cancel != nil {
		cancel(nil)
	}
	revoked := s.forget(a.live)
	if revoked == nil {
		s.latency.observe(s.clock.Since(started))
	}
	s.releaseSlot()
	if revoked != nil {
		s.revoked(ev, revoked)
		return
	}
	j.state.reporting.Store(true)
	j.state.runs.Add(1)
	if ev.Result == nil {
		s.log.Error("run returned no result", "flow", j.flow.Name)
		return
	}
	s.honourRetryAfter(j, ev.Result)
	if h := s.hooks.OnResult; h != nil {
		h(ev)
	}
}

// revoked hands on a run whose admission Revoke withdrew; its result (nil
// if it had not started) is not the flow's.
func (s *Scheduler) revoked(ev Event, cause error) {
	if h := s.hooks.OnRevoked; h != nil {
		h(ev, cause)
	}
}

// runOnce runs f under its deadline, measured on the scheduler's clock,
// within parent (the root, or the run's admission's).
func (s *Scheduler) runOnce(parent context.Context, f *flows.Flow) *flows.Result {
	ctx, cancel := clockwork.WithTimeout(parent, s.clock, f.RunTimeout())
	defer cancel()
	s.running.Add(1)
	defer s.running.Add(-1)
	return s.run(ctx, f)
}

// honourRetryAfter defers the flow when its failure says when the target
// allows the next try.
func (s *Scheduler) honourRetryAfter(j *job, res *flows.Result) {
	f := res.Failure()
	if f == nil || !f.RetryAfter.After(s.clock.Now()) {
		return
	}
	until := s.deferFlow(j.state, f.RetryAfter)
	s.log.Info("deferring flow: the target asked to wait (Retry-After)", "flow", j.flow.Name, "until", until)
}

// deferFlow sets st's deferral to t, at most MaxDeferral from now, and
// returns it.
func (s *Scheduler) deferFlow(st *flowState, t time.Time) time.Time {
	if t.IsZero() {
		st.deferUntil.Store(0)
		return t
	}
	if limit := s.clock.Now().Add(MaxDeferral); t.After(limit) {
		t = limit
	}
	st.deferUntil.Store(t.UnixNano())
	return t
}

// The daemon passes the runner's Run.
var _ RunFunc = (*flows.Runner)(nil).Run
