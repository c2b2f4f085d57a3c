package scheduler

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

func TestRunsOnSchedule(t *testing.T) {
	r := newRig(t, 0)
	f := every("a", 10*time.Second)
	f.Timeout = conf.Dur(3 * time.Second)
	r.apply(f)
	r.s.Start()
	first := r.next("a")
	if want := firstRun("a", 10*time.Second, t0); !first.Equal(want) {
		t.Fatalf("first run %s, want %s", first, want)
	}
	r.advanceTo(first.Add(-time.Millisecond))
	nothing(t, r.starts)

	for i := range 3 {
		planned := first.Add(time.Duration(i) * 10 * time.Second)
		r.advanceTo(planned)
		st := recv(t, r.starts)
		if dl, ok := st.ctx.Deadline(); !ok || !dl.Equal(planned.Add(3*time.Second)) {
			t.Errorf("run %d: deadline %s, want start + timeout %s", i, dl, planned.Add(3*time.Second))
		}
		ev := recv(t, r.results)
		if !ev.Planned.Equal(planned) || !ev.Started.Equal(planned) || ev.Lateness != 0 || ev.Flow != f || !ev.Result.OK {
			t.Errorf("run %d: %+v, want planned and started at %s", i, ev, planned)
		}
		if d := recv(t, r.late); d != 0 {
			t.Errorf("run %d: lateness %s", i, d)
		}
		r.idle("a")
	}
	if st := r.s.Stats().Flows["a"]; st.Runs != 3 || st.Skipped != 0 {
		t.Errorf("stats %+v", st)
		close(r.skips)
		for sk := range r.skips {
			t.Logf("%+v", sk)
		}
	}
}

func TestCronRunsOnSchedule(t *testing.T) {
	r := newRig(t, 0)
	r.apply(cronFlow("c", "*/5 * * * *"))
	r.s.Start()
	first := r.next("c")
	delay := first.Sub(t0) // t0 matches */5; its shifted time is still ahead
	if delay < 0 || delay >= MaxCronDelay {
		t.Fatalf("first run %s: delay %s", first, delay)
	}
	for i := range 2 {
		planned := first.Add(time.Duration(i) * 5 * time.Minute)
		r.advanceTo(planned)
		ev := recv(t, r.results)
		if !ev.Planned.Equal(planned) || ev.Lateness != 0 {
			t.Errorf("run %d: planned %s lateness %s, want %s", i, ev.Planned, ev.Lateness, planned)
		}
		r.idle("c")
	}
}

func TestOverlapIsSkippedAndCounted(t *testing.T) {
	r := newRig(t, 0)
	r.gate = make(chan struct{})
	r.apply(every("slow", 10*time.Second))
	r.s.Start()
	first := r.next("slow")
	r.advanceTo(first)
	recv(t, r.starts)
	for i := 1; i <= 2; i++ {
		r.advanceTo(first.Add(time.Duration(i) * 10 * time.Second))
		if sk := recv(t, r.skips); sk != (skipped{"slow", SkipOverlap}) {
			t.Fatalf("skip %+v", sk)
		}
	}
	if st := r.s.Stats(); st.Flows["slow"].Skipped != 2 || st.Running != 1 || !st.Flows["slow"].InProgress {
		t.Errorf("stats %+v", st)
	}
	close(r.gate)
	ev := recv(t, r.results)
	if !ev.Planned.Equal(first) {
		t.Errorf("planned %s, want %s", ev.Planned, first)
	}
	r.idle("slow")
	// The next start runs again, and its plan skips the missed ones.
	next := first.Add(30 * time.Second)
	r.advanceTo(next)
	if ev := recv(t, r.results); !ev.Planned.Equal(next) || ev.Lateness != 0 {
		t.Errorf("after the overlap: planned %s lateness %s, want %s", ev.Planned, ev.Lateness, next)
	}
}

func TestDeferUntilSkipsThenResumes(t *testing.T) {
	r := newRig(t, 0)
	r.apply(every("limited", 10*time.Second))
	r.s.Start()
	first := r.next("limited")
	r.s.DeferUntil("limited", first.Add(15*time.Second))
	for i := range 2 {
		r.advanceTo(first.Add(time.Duration(i) * 10 * time.Second))
		if sk := recv(t, r.skips); sk != (skipped{"limited", SkipRetryAfter}) {
			t.Fatalf("skip %+v", sk)
		}
	}
	if st := r.s.Stats().Flows["limited"]; st.Deferred != 2 || st.Runs != 0 || !st.DeferredUntil.Equal(first.Add(15*time.Second)) {
		t.Errorf("stats %+v", st)
	}
	resume := first.Add(20 * time.Second)
	r.advanceTo(resume)
	if ev := recv(t, r.results); !ev.Planned.Equal(resume) {
		t.Errorf("resumed at %s, want %s", ev.Planned, resume)
	}
	r.s.DeferUntil("unknown", resume) // ignored
}

func TestRetryAfterDefersAutomatically(t *testing.T) {
	r := newRig(t, 0)
	var calls atomic.Int32
	r.result = func(f *flows.Flow) *flows.Result {
		if calls.Add(1) > 1 {
			return &flows.Result{Flow: f.Name, OK: true}
		}
		fail := &flows.Failure{Reason: "rate_limited", RetryAfter: r.clock.Now().Add(25 * time.Second)}
		return &flows.Result{Flow: f.Name, Steps: []flows.StepResult{{ID: "token", Status: flows.StepFailed, Failure: fail}}}
	}
	r.apply(every("rl", 10*time.Second))
	r.s.Start()
	first := r.next("rl")
	r.advanceTo(first)
	recv(t, r.results)
	r.idle("rl")
	for i := 1; i <= 2; i++ {
		r.advanceTo(first.Add(time.Duration(i) * 10 * time.Second))
		if sk := recv(t, r.skips); sk.why != SkipRetryAfter {
			t.Fatalf("skip %+v", sk)
		}
	}
	r.advanceTo(first.Add(30 * time.Second))
	if ev := recv(t, r.results); !ev.Result.OK {
		t.Errorf("after Retry-After: %+v", ev.Result)
	}
}

func TestDeferralIsCapped(t *testing.T) {
	r := newRig(t, 0)
	r.apply(every("x", time.Minute))
	r.s.DeferUntil("x", t0.Add(24*time.Hour))
	if got := r.s.Stats().Flows["x"].DeferredUntil; !got.Equal(t0.Add(MaxDeferral)) {
		t.Errorf("deferred until %s, want now + MaxDeferral", got)
	}
	r.s.DeferUntil("x", time.Time{})
	if got := r.s.Stats().Flows["x"].DeferredUntil; !got.IsZero() {
		t.Errorf("zero time must end the deferral, got %s", got)
	}
}

func TestMaxConcurrent(t *testing.T) {
	const limit, n = 3, 20
	r := newRig(t, limit)
	r.gate = make(chan struct{})
	var now, peak atomic.Int32
	inner := r.run
	s, err := New(func(ctx context.Context, f *flows.Flow) *flows.Result {
		c := now.Add(1)
		for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
		}
		defer now.Add(-1)
		return inner(ctx, f)
	}, Options{MaxConcurrent: limit, Clock: r.clock, Hooks: r.s.hooks})
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	fs := make([]*flows.Flow, n)
	for i := range fs {
		fs[i] = every(string(rune('a'+i)), time.Hour)
	}
	r.apply(fs...)
	s.Start()
	r.advanceTo(t0.Add(time.Hour)) // every flow is due once
	eventually(t, func() bool { st := s.Stats(); return st.Running == limit && st.Waiting == n-limit })
	close(r.gate)
	for range n {
		recv(t, r.results)
	}
	if p := peak.Load(); p != limit {
		t.Errorf("peak concurrency %d, want %d", p, limit)
	}
}

func TestShutdownWaitsForRunWithinGrace(t *testing.T) {
	r := newRig(t, 0)
	r.gate = make(chan struct{})
	r.apply(every("a", time.Minute))
	r.s.Start()
	r.advanceTo(r.next("a"))
	recv(t, r.starts)
	done := make(chan error, 1)
	go func() { done <- r.s.Shutdown(context.Background()) }()
	nothing(t, done)
	close(r.gate)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, r.results); ev.Result.Cancelled || !ev.Result.OK {
		t.Errorf("result %+v", ev.Result)
	}
	if _, _, _, err := r.s.Apply(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Shutdown: %v", err)
	}
}

func TestShutdownCancelsAfterGrace(t *testing.T) {
	r := newRig(t, 1)
	r.gate = make(chan struct{}) // never opened: runs end only by cancellation
	r.apply(every("a", time.Minute), every("b", time.Minute))
	r.s.Start()
	r.advanceTo(t0.Add(time.Minute)) // both due: one runs, one waits
	st := recv(t, r.starts)
	eventually(t, func() bool { return r.s.Stats().Waiting == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := r.s.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "cancelled 1 running") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	if !errors.Is(context.Cause(st.ctx), context.Canceled) {
		t.Errorf("run context cause %v, want context.Canceled", context.Cause(st.ctx))
	}
	if ev := recv(t, r.results); !ev.Result.Cancelled {
		t.Errorf("result %+v", ev.Result)
	}
	nothing(t, r.starts) // the waiting run gave up
	r.clock.Advance(time.Hour)
	nothing(t, r.starts) // and nothing is scheduled any more
	if st := r.s.Stats(); st.Running != 0 || st.Waiting != 0 {
		t.Errorf("stats after Shutdown %+v", st)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newRig(t, 2)
	r.apply(every("a", time.Second), every("b", time.Second), cronFlow("c", "* * * * *"))
	r.s.Start()
	for i := 1; i <= 3; i++ {
		r.advanceTo(t0.Add(time.Duration(i) * time.Second))
		recv(t, r.results)
		recv(t, r.results)
		r.idle("a")
		r.idle("b")
	}
	r.advanceTo(t0.Add(time.Minute))
	if err := r.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return runtime.NumGoroutine() <= before })
}

func TestNewRejects(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("nil RunFunc accepted")
	}
	if _, err := New(func(context.Context, *flows.Flow) *flows.Result { return nil }, Options{MaxConcurrent: -1}); err == nil {
		t.Error("negative MaxConcurrent accepted")
	}
}
