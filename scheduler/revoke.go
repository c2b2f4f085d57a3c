package scheduler

import (
	"context"
	"sync"
)

// A run admitted under an admission (Options.Admit: a cluster node's
// shard lease) runs under a context of its own, which Revoke cancels when
// the admission no longer holds (the node lost the shard): its target is
// no longer this node's to call, and its result no longer the flow's.
// Runs without an admission (a single daemon) are not tracked and cost
// nothing more.

// liveRun is an admitted run with an admission, from its admission until
// its run returns.
type liveRun struct {
	runs      *liveRuns // whose mu guards the fields below
	admission any
	cancel    context.CancelCauseFunc // nil until the run starts
	revoked   error                   // Revoke's cause; nil while the admission holds
	deferred  int                     // DeferRevocation sections in progress
}

// liveRunKey is the context key of a revocable run's *liveRun.
type liveRunKey struct{}

// liveRuns are the runs Revoke can reach. mu is held across Admit and the
// run's registration, so that a Revoke called after the admission stopped
// holding (Admit now refuses) always finds every run admitted under it.
type liveRuns struct {
	mu   sync.Mutex
	runs map[*liveRun]struct{}
}

// revokedError is the cause of a revoked run's context: it wraps the
// revocation's cause, and context.Canceled so that the runner marks the
// result Cancelled.
type revokedError struct{ cause error }

func (e *revokedError) Error() string   { return "scheduler: run revoked: " + e.cause.Error() }
func (e *revokedError) Unwrap() []error { return []error{e.cause, context.Canceled} }

// admission asks Options.Admit whether flow's due run is ours and, if it
// comes with an admission, registers the run for Revoke (nil without
// one).
func (s *Scheduler) admission(flow string) (admission any, run *liveRun, ours bool) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if admission, ours = s.ours(flow); !ours || admission == nil {
		return admission, nil, ours
	}
	run = &liveRun{runs: &s.live, admission: admission}
	if s.live.runs == nil {
		s.live.runs = map[*liveRun]struct{}{}
	}
	s.live.runs[run] = struct{}{}
	return admission, run, true
}

// forget unregisters run (nil: nothing to do) and returns Revoke's cause
// if the run was revoked first.
func (s *Scheduler) forget(run *liveRun) (revoked error) {
	if run == nil {
		return nil
	}
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	delete(s.live.runs, run)
	return run.revoked
}

// runContext is the context of a run about to start: its admission's
// (cancelled by Revoke) under the scheduler's root, and its cancel (nil
// for the root). ok is false when the run was revoked while it waited for
// a slot.
func (s *Scheduler) runContext(run *liveRun) (ctx context.Context, cancel context.CancelCauseFunc, ok bool) {
	if run == nil {
		return s.root, nil, true
	}
	ctx, cancel = context.WithCancelCause(s.root)
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if run.revoked != nil {
		cancel(nil)
		return nil, nil, false
	}
	run.cancel = cancel
	return context.WithValue(ctx, liveRunKey{}, run), cancel, true
}

// Revoke withdraws the admissions that why returns a cause for (nil: the
// admission still holds), for the runs admitted and not yet returned: a
// run in progress has its context cancelled at once (at the end of its
// DeferRevocation section if it is in one), with a cause that
// wraps why's and context.Canceled; a run still waiting for a slot will
// not start. The result of a revoked run is not the flow's: Hooks.OnResult
// is not called for it, Hooks.OnRevoked is, and it is not counted in
// FlowStats.Runs. Runs that have returned (their result is being or has
// been handed on) are out of reach: revoking them is a no-op. Runs
// admitted without an admission (nil) cannot be revoked.
//
// why is called under a lock that Options.Admit also runs under: it must
// be fast and must not call the scheduler. Revoke returns how many runs
// it revoked.
func (s *Scheduler) Revoke(why func(admission any) error) int {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	n := 0
	for run := range s.live.runs {
		if run.revoked != nil {
			continue
		}
		cause := why(run.admission)
		if cause == nil {
			continue
		}
		run.revoked = cause
		if run.cancel != nil && run.deferred == 0 {
			run.cancel(&revokedError{cause})
		}
		n++
	}
	return n
}

// DeferRevocation holds off the cancellation of the revocable run whose
// context ctx is (or derives from) until resume is called: Revoke
// meanwhile withdraws the admission but cancels the context only at
// resume. It is for a section that cancelling would make worse than
// finishing: a refresh holding its rotating token's lock, whose answer
// (the token the IdP rotated in) must be stored, while the lock keeps
// every other node from presenting that token anyway. The run's deadline
// still applies. Outside a revocable run it does nothing. resume may be
// called more than once.
func DeferRevocation(ctx context.Context) (resume func()) {
	run, ok := ctx.Value(liveRunKey{}).(*liveRun)
	if !ok {
		return func() {}
	}
	run.runs.mu.Lock()
	run.deferred++
	run.runs.mu.Unlock()
	var once sync.Once
	return func() { once.Do(run.resume) }
}

// resume ends a DeferRevocation section, cancelling the run if it was
// revoked meanwhile and no other section is in progress.
func (run *liveRun) resume() {
	run.runs.mu.Lock()
	defer run.runs.mu.Unlock()
	run.deferred--
	if run.deferred == 0 && run.revoked != nil && run.cancel != nil {
		run.cancel(&revokedError{run.revoked})
	}
}
