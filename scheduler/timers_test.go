package scheduler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// TestTimersFireInOrder: 40 flows of four intervals fire one at a time,
// each at its own planned start, in the order of those starts.
func TestTimersFireInOrder(t *testing.T) {
	r := newRig(t, 100)
	var (
		names []string
		fs    []*flows.Flow
	)
	for i := range 40 {
		d := []time.Duration{time.Minute, 2 * time.Minute, 90 * time.Second, 5 * time.Minute}[i%4]
		fs = append(fs, every(fmt.Sprintf("flow-%02d", i), d))
		names = append(names, fs[i].Name)
	}
	r.apply(fs...)
	r.s.Start()
	type fire struct {
		at   time.Time
		flow string
	}
	for range 60 {
		var due []fire
		for _, n := range names {
			due = append(due, fire{r.next(n), n})
		}
		slices.SortFunc(due, func(a, b fire) int { return a.at.Compare(b.at) })
		if due[0].at.Equal(due[1].at) {
			t.Fatalf("%s and %s due at the same instant: pick other names", due[0].flow, due[1].flow)
		}
		r.advanceTo(due[0].at)
		ev := recv(t, r.results)
		if ev.Flow.Name != due[0].flow || !ev.Planned.Equal(due[0].at) || ev.Lateness != 0 {
			t.Fatalf("ran %s planned %s (late %s), want %s at %s", ev.Flow.Name, ev.Planned, ev.Lateness, due[0].flow, due[0].at)
		}
		r.idle(ev.Flow.Name)
		if next := r.next(ev.Flow.Name); !next.Equal(due[0].at.Add(ev.Flow.Every.Std())) {
			t.Fatalf("%s: next run %s, want one interval after %s", ev.Flow.Name, next, due[0].at)
		}
	}
	nothing(t, r.results)
}

// TestTimersApplyWhileRunning: once the loop sleeps until one flow's
// start, a flow added to start earlier still runs on time, a removed one
// no longer runs, and a changed one runs at its new times.
func TestTimersApplyWhileRunning(t *testing.T) {
	r := newRig(t, 0)
	slow, gone := every("slow", time.Hour), every("gone", time.Hour)
	r.apply(slow, gone)
	r.s.Start()
	r.advanceTo(t0.Add(time.Second)) // the loop sleeps until slow's or gone's start
	nothing(t, r.starts)

	early := every("early", time.Minute)
	r.apply(slow, gone, early)
	at := r.next("early")
	if !at.Before(r.next("slow")) || !at.Before(r.next("gone")) {
		t.Fatalf("pick another name: early runs at %s, after another flow", at)
	}
	r.advanceTo(at)
	if ev := recv(t, r.results); ev.Flow.Name != "early" || !ev.Planned.Equal(at) || ev.Lateness != 0 {
		t.Fatalf("ran %s planned %s late %s, want early at %s", ev.Flow.Name, ev.Planned, ev.Lateness, at)
	}
	r.idle("early")

	goneAt := r.next("gone")
	faster := every("slow", 10*time.Minute) // changed: new digest
	r.apply(faster, early)
	if _, ok := r.s.NextRun("gone"); ok {
		t.Error("removed flow still scheduled")
	}
	want := firstRun("slow", 10*time.Minute, r.clock.Now())
	if got := r.next("slow"); !got.Equal(want) {
		t.Fatalf("changed flow: next run %s, want %s", got, want)
	}
	for now := r.clock.Now(); now.Before(goneAt.Add(time.Minute)); now = r.clock.Now() {
		next := earliest(r.next("slow"), r.next("early"))
		r.advanceTo(next)
		ev := recv(t, r.results)
		if ev.Flow.Name == "gone" || !ev.Planned.Equal(next) {
			t.Fatalf("ran %s planned %s, want a kept flow at %s", ev.Flow.Name, ev.Planned, next)
		}
		if ev.Flow.Name == "slow" && ev.Flow != faster {
			t.Fatal("slow ran its old definition")
		}
		r.idle(ev.Flow.Name)
	}
}

// TestTimersStalledLoopFiresOnce: when the clock jumps over several
// starts (a stalled process), a flow fires once, for the latest start it
// missed, and its next fire is the first start after now, on its phase.
func TestTimersStalledLoopFiresOnce(t *testing.T) {
	r := newRig(t, 0)
	r.apply(every("a", 10*time.Second), cronFlow("c", "* * * * *"))
	r.s.Start()
	a, c := r.next("a"), r.next("c")
	jump := c.Add(2*time.Minute + 5*time.Second)
	r.advanceTo(jump)
	got := map[string]Event{}
	for range 2 {
		ev := recv(t, r.results)
		got[ev.Flow.Name] = ev
	}
	nothing(t, r.results)
	wantA := a.Add(jump.Sub(a) / (10 * time.Second) * 10 * time.Second)
	if ev := got["a"]; !ev.Planned.Equal(wantA) || ev.Lateness != jump.Sub(wantA) {
		t.Errorf("a: planned %s late %s, want %s late %s", ev.Planned, ev.Lateness, wantA, jump.Sub(wantA))
	}
	if ev := got["c"]; !ev.Planned.Equal(c.Add(2*time.Minute)) || ev.Lateness != 5*time.Second {
		t.Errorf("c: planned %s late %s, want %s late 5s", ev.Planned, ev.Lateness, c.Add(2*time.Minute))
	}
	r.idle("a")
	r.idle("c")
	if next := r.next("a"); !next.Equal(wantA.Add(10 * time.Second)) {
		t.Errorf("a: next %s, want %s", next, wantA.Add(10*time.Second))
	}
	if next := r.next("c"); !next.Equal(c.Add(3 * time.Minute)) {
		t.Errorf("c: next %s, want %s", next, c.Add(3*time.Minute))
	}
}

// TestTimersAppliedBeforeStart: flows applied long before Start do not
// fire at once for the starts that passed meanwhile; they keep their
// phase.
func TestTimersAppliedBeforeStart(t *testing.T) {
	r := newRig(t, 0)
	r.apply(every("a", time.Minute))
	if _, ok := r.s.NextRun("a"); ok {
		t.Error("a next run before Start")
	}
	r.clock.Advance(10 * time.Minute)
	r.s.Start()
	want := firstRun("a", time.Minute, r.clock.Now())
	if got := r.next("a"); !got.Equal(want) {
		t.Fatalf("next run %s, want %s", got, want)
	}
	nothing(t, r.starts)
	r.advanceTo(want)
	if ev := recv(t, r.results); !ev.Planned.Equal(want) {
		t.Errorf("planned %s, want %s", ev.Planned, want)
	}
}

// TestTimersOneGoroutine: a thousand flows cost the scheduler one timer
// goroutine, not one per flow, and Shutdown ends it.
func TestTimersOneGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newRig(t, 0)
	r.apply(thousandFlows("v1")...)
	r.s.Start()
	eventually(t, r.s.settled)
	if n := runtime.NumGoroutine() - before; n > 3 {
		t.Errorf("%d goroutines for 1,000 flows", n)
	}
	if err := r.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return runtime.NumGoroutine() <= before })
	r.clock.Advance(2 * time.Hour)
	nothing(t, r.starts)
	if _, _, _, err := r.s.Apply(thousandFlows("v2")); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Shutdown: %v", err)
	}
}
