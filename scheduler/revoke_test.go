package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"
)

type revocation struct {
	ev    Event
	cause error
}

var errShardLost = errors.New("shard 7 lost")

// revocableRig is a rig whose flows are admitted with their own name as
// admission (nil for "plain"), reporting revoked runs on a channel.
func revocableRig(t *testing.T, maxConcurrent int) (*rig, chan revocation) {
	revoked := make(chan revocation, 100)
	r := newRig(t, maxConcurrent, func(o *Options) {
		o.Admit = func(flow string) (any, bool) {
			if flow == "plain" {
				return nil, true
			}
			return flow, true
		}
		o.Hooks.OnRevoked = func(ev Event, cause error) { revoked <- revocation{ev, cause} }
	})
	return r, revoked
}

// revokeFlow withdraws the admission of flow's runs.
func revokeFlow(flow string) func(any) error {
	return func(a any) error {
		if a == flow {
			return errShardLost
		}
		return nil
	}
}

// Revoking an admission cancels its run's context at once, with a cause
// that names why and is context.Canceled; the run's result goes to
// OnRevoked, not OnResult, and is not counted; the flow's next run,
// admitted again, runs and reports as usual.
func TestRevokeCancelsTheRunAndDiscardsItsResult(t *testing.T) {
	r, revoked := revocableRig(t, 0)
	r.gate = make(chan struct{}) // runs hang until their context ends
	r.apply(every("a", 10*time.Second))
	r.s.Start()
	first := r.next("a")
	r.advanceTo(first)
	st := recv(t, r.starts)
	if n := r.s.Revoke(revokeFlow("other")); n != 0 {
		t.Fatalf("Revoke of another admission revoked %d runs", n)
	}
	if n := r.s.Revoke(revokeFlow("a")); n != 1 {
		t.Fatalf("Revoke revoked %d runs, want 1", n)
	}
	select {
	case <-st.ctx.Done():
	case <-time.After(wait):
		t.Fatal("the run's context was not cancelled")
	}
	if cause := context.Cause(st.ctx); !errors.Is(cause, errShardLost) || !errors.Is(cause, context.Canceled) {
		t.Errorf("the run's context cause %v; want one wrapping %v and context.Canceled", cause, errShardLost)
	}
	rv := recv(t, revoked)
	if rv.cause != errShardLost || rv.ev.Admission != "a" || rv.ev.Result == nil || !rv.ev.Result.Cancelled {
		t.Errorf("OnRevoked(%+v, %v)", rv.ev, rv.cause)
	}
	nothing(t, r.results)
	r.idle("a")
	if st := r.s.Stats().Flows["a"]; st.Runs != 0 {
		t.Errorf("a revoked run counted: %+v", st)
	}
	if n := r.s.Revoke(revokeFlow("a")); n != 0 {
		t.Errorf("a second Revoke revoked %d runs", n)
	}

	close(r.gate)
	r.advanceTo(first.Add(10 * time.Second))
	if ev := recv(t, r.results); ev.Flow.Name != "a" || !ev.Result.OK {
		t.Errorf("the next run: %+v", ev)
	}
	nothing(t, revoked)
}

// Revoking the admission of a run that has returned is a no-op: its
// result was handed on, and nothing is cancelled or reported again.
// Runs without an admission cannot be revoked.
func TestRevokeAfterTheRunIsANoOp(t *testing.T) {
	r, revoked := revocableRig(t, 0)
	r.apply(every("a", 10*time.Second), every("plain", 10*time.Second))
	r.s.Start()
	later := r.next("a")
	if p := r.next("plain"); p.After(later) {
		later = p
	}
	r.advanceTo(later)
	for range 2 {
		recv(t, r.starts)
		recv(t, r.results)
	}
	r.idle("a")
	asked := 0
	if n := r.s.Revoke(func(any) error { asked++; return errShardLost }); n != 0 || asked != 0 {
		t.Errorf("Revoke after the runs: revoked %d, asked %d times; want 0, 0", n, asked)
	}
	nothing(t, revoked)
	if st := r.s.Stats().Flows["a"]; st.Runs != 1 {
		t.Errorf("stats %+v, want 1 run", st)
	}

	// Only plain from here: a's next run comes before plain's, and a run
	// of a, held at the gate, is revocable if it starts before Revoke.
	r.apply(every("plain", 10*time.Second))
	r.gate = make(chan struct{})
	defer close(r.gate)
	r.advanceTo(r.next("plain"))
	recv(t, r.starts)
	if n := r.s.Revoke(func(any) error { return errShardLost }); n != 0 {
		t.Errorf("Revoke reached %d runs admitted without an admission", n)
	}
}

// A run revoked while it waits for a slot does not start: OnRevoked
// hears of it without a result, and the slot goes to the next run.
func TestRevokeWaitingRunDoesNotStart(t *testing.T) {
	r, revoked := revocableRig(t, 1)
	r.gate = make(chan struct{})
	r.apply(every("a", 10*time.Second), every("b", 10*time.Second))
	r.s.Start()
	first, second := "a", "b"
	if r.next("b").Before(r.next("a")) {
		first, second = "b", "a"
	}
	r.advanceTo(r.next(first))
	recv(t, r.starts)
	r.advanceTo(r.next(second))
	eventually(t, func() bool { return r.s.Load().Waiting == 1 })
	if n := r.s.Revoke(revokeFlow(second)); n != 1 {
		t.Fatalf("Revoke revoked %d runs, want the waiting one", n)
	}
	close(r.gate)
	if ev := recv(t, r.results); ev.Flow.Name != first {
		t.Errorf("result of %s", ev.Flow.Name)
	}
	rv := recv(t, revoked)
	if rv.ev.Flow.Name != second || rv.ev.Result != nil || rv.cause != errShardLost {
		t.Errorf("OnRevoked(%+v, %v); want %s without a result", rv.ev, rv.cause, second)
	}
	nothing(t, r.starts)
	r.idle(second)
}

// A revocation during a DeferRevocation section withdraws the admission
// at once but cancels the run's context only when the section ends (a
// refresh holding its token's lock stores the rotated token first).
// Outside a revocable run, DeferRevocation does nothing.
func TestDeferRevocation(t *testing.T) {
	DeferRevocation(context.Background())() // no run: a no-op
	r, revoked := revocableRig(t, 0)
	r.gate = make(chan struct{})
	r.apply(every("a", 10*time.Second))
	r.s.Start()
	r.advanceTo(r.next("a"))
	st := recv(t, r.starts)
	resume := DeferRevocation(st.ctx)
	if n := r.s.Revoke(revokeFlow("a")); n != 1 {
		t.Fatalf("Revoke revoked %d runs, want 1", n)
	}
	select { // not ctx.Err(): the fake clock's context blocks in Err until it ends
	case <-st.ctx.Done():
		t.Fatalf("the run's context ended within its deferred section: %v", context.Cause(st.ctx))
	default:
	}
	if n := r.s.Revoke(revokeFlow("a")); n != 0 {
		t.Errorf("a second Revoke revoked %d runs", n)
	}
	resume()
	resume() // a second call changes nothing
	select {
	case <-st.ctx.Done():
	case <-time.After(wait):
		t.Fatal("the run's context was not cancelled at the end of its deferred section")
	}
	if !errors.Is(context.Cause(st.ctx), errShardLost) {
		t.Errorf("cause %v", context.Cause(st.ctx))
	}
	if rv := recv(t, revoked); rv.cause != errShardLost {
		t.Errorf("OnRevoked cause %v", rv.cause)
	}
	nothing(t, r.results)
}
