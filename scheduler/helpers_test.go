package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// t0 is the fake clock's start: a round instant, so that a flow's first
// run is t0 plus its jitter.
var t0 = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

// wait bounds every wait for something asynchronous.
const wait = 5 * time.Second

type skipped struct{ flow, why string }

type started struct {
	flow string
	ctx  context.Context
}

// rig is a Scheduler on a fake clock whose hooks and RunFunc report on
// channels.
type rig struct {
	t       *testing.T
	clock   *clockwork.FakeClock
	s       *Scheduler
	results chan Event
	skips   chan skipped
	starts  chan started
	late    chan time.Duration
	// gate, when not nil, holds every run until it is closed or the run's
	// context ends.
	gate chan struct{}
	// result, when not nil, makes a run's result.
	result func(f *flows.Flow) *flows.Result
}

func newRig(t *testing.T, maxConcurrent int, tweak ...func(*Options)) *rig {
	t.Helper()
	r := &rig{t: t, clock: clockwork.NewFakeClockAt(t0), results: make(chan Event, 1000), skips: make(chan skipped, 1000),
		starts: make(chan started, 1000), late: make(chan time.Duration, 1000)}
	o := Options{MaxConcurrent: maxConcurrent, Clock: r.clock, Hooks: Hooks{
		OnResult:   func(ev Event) { r.results <- ev },
		OnSkip:     func(flow, why string) { r.skips <- skipped{flow, why} },
		OnLateness: func(_ string, d time.Duration) { r.late <- d },
	}}
	for _, f := range tweak {
		f(&o)
	}
	s, err := New(r.run, o)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return r
}

func (r *rig) run(ctx context.Context, f *flows.Flow) *flows.Result {
	r.starts <- started{f.Name, ctx}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return &flows.Result{Flow: f.Name, Cancelled: true}
		}
	}
	if r.result != nil {
		return r.result(f)
	}
	return &flows.Result{Flow: f.Name, OK: true}
}

func (r *rig) apply(fs ...*flows.Flow) (added, removed, kept int) {
	r.t.Helper()
	added, removed, kept, err := r.s.Apply(fs)
	if err != nil {
		r.t.Fatal(err)
	}
	return added, removed, kept
}

// advanceTo moves the fake clock to t, once the timer loop has fired
// what was due and sleeps until a later time: an advance while it still
// works on the previous one would make the two one instant.
func (r *rig) advanceTo(t time.Time) {
	r.t.Helper()
	eventually(r.t, func() bool { return r.s.settled() })
	r.clock.Advance(t.Sub(r.clock.Now()))
}

// settled reports whether the timer loop waits with nothing due (or has
// not started).
func (s *Scheduler) settled() bool {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	tm := &s.timers
	return !tm.started || tm.parked && (tm.armed.IsZero() || tm.armed.After(s.clock.Now()))
}

func (r *rig) next(flow string) time.Time {
	r.t.Helper()
	t, ok := r.s.NextRun(flow)
	if !ok {
		r.t.Fatalf("flow %q has no next run", flow)
	}
	return t
}

// idle waits until flow has no run in progress.
func (r *rig) idle(flow string) {
	r.t.Helper()
	eventually(r.t, func() bool { return !r.s.Stats().Flows[flow].InProgress })
}

func every(name string, d time.Duration) *flows.Flow {
	return &flows.Flow{Name: name, Every: conf.Dur(d), Digest: "every " + d.String()}
}

func cronFlow(name, expr string) *flows.Flow {
	return &flows.Flow{Name: name, Cron: expr, Digest: "cron " + expr}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("nothing received within %s", wait)
		panic("unreachable")
	}
}

// nothing checks that ch stays empty for a short while: the one place
// where a test must wait for something not to happen.
func nothing[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %+v", v)
	case <-time.After(50 * time.Millisecond):
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", wait)
		}
		time.Sleep(time.Millisecond)
	}
}
