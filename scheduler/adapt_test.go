package scheduler

import (
	"context"
	"fmt"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// TestAutoLimit: the limit follows demand × latency with headroom, grows
// while runs wait (at most doubling per step), shrinks by at most a
// quarter per step, and stays within its floor and cap.
func TestAutoLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		cur  int
		s    loadSample
		want int
	}{
		{"idle stays at the floor", 64, loadSample{}, AutoMinConcurrent},
		{"light load stays at the floor", 64, loadSample{demand: 200, latency: 20 * time.Millisecond}, 64},
		{"1,000 runs/s at 73 ms needs 146", 64, loadSample{demand: 1000, latency: 73 * time.Millisecond}, 146},
		{"waiting runs grow it by their number", 64, loadSample{waiting: 10}, 74},
		{"at most doubling per step", 64, loadSample{waiting: 1000}, 128},
		{"Little's law above the doubling wins", 64, loadSample{demand: 1000, latency: 100 * time.Millisecond, waiting: 1}, 200},
		{"never above the cap", 1000, loadSample{demand: 1000, latency: 5 * time.Second}, AutoMaxConcurrent},
		{"shrinks by a quarter per step", 400, loadSample{demand: 10, latency: 10 * time.Millisecond}, 300},
		{"shrinks to the need when close", 400, loadSample{demand: 1000, latency: 160 * time.Millisecond}, 320},
		{"never below the floor", 70, loadSample{}, AutoMinConcurrent},
		{"no shrinking while runs wait", 400, loadSample{waiting: 1}, 401},
		{"no growing while short of CPU", 100, loadSample{demand: 1000, latency: 100 * time.Millisecond, waiting: 50, cpuBusy: true}, 100},
		{"shrinking while short of CPU", 400, loadSample{demand: 10, latency: 10 * time.Millisecond, cpuBusy: true}, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := autoLimit(tc.cur, tc.s); got != tc.want {
				t.Errorf("autoLimit(%d, %+v) = %d, want %d", tc.cur, tc.s, got, tc.want)
			}
		})
	}
}

// TestAdaptiveLimitFollowsLoad: with the default (adaptive) limit, 100
// flows every second whose runs all hang fill the 64 slots of the floor;
// the next step gives the 36 waiting runs slots of their own. Once the
// runs end quickly the limit shrinks back to the floor.
func TestAdaptiveLimitFollowsLoad(t *testing.T) {
	const n = 100
	r := newRig(t, 0)
	r.s.cpuBusy = func() bool { return false } // the test machine's own load must not stop the growth
	r.gate = make(chan struct{})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go drain(r.starts, stop)
	go drain(r.late, stop)
	fs := make([]*flows.Flow, n)
	for i := range fs {
		fs[i] = every(fmt.Sprintf("f%03d", i), time.Second)
	}
	r.apply(fs...)
	r.s.Start()
	if l := r.s.Load(); !l.Auto || l.Limit != AutoMinConcurrent {
		t.Fatalf("load at start %+v, want the adaptive floor", l)
	}
	// Every flow is due once within the second after t0 (phases spread
	// over it); the adapting step at t0+1s sees the runs waiting.
	r.advanceTo(t0.Add(time.Second - time.Nanosecond))
	eventually(t, func() bool {
		l := r.s.Load()
		return l.Running == AutoMinConcurrent && l.Waiting == n-AutoMinConcurrent
	})
	if l := r.s.Load(); l.OldestWaiting <= 0 {
		t.Errorf("the oldest waiting run is not late: %+v", l)
	}
	r.advanceTo(t0.Add(time.Second))
	eventually(t, func() bool { l := r.s.Load(); return l.Waiting == 0 && l.Running == n })
	if l := r.s.Load(); l.Limit < n {
		t.Errorf("limit %d with %d runs in progress", l.Limit, n)
	}
	// The hung runs took a second or so: Little's law now asks for
	// 2 × 100/s × ~1 s; then runs take no time and the limit decays.
	close(r.gate)
	for range n {
		recv(t, r.results)
	}
	grown := r.s.Load().Limit
	for i := 2; i < 60 && r.s.Load().Limit > AutoMinConcurrent; i++ {
		for _, f := range fs {
			r.idle(f.Name)
		}
		r.advanceTo(t0.Add(time.Duration(i) * time.Second))
		for range n {
			recv(t, r.results)
		}
	}
	if l := r.s.Load(); l.Limit != AutoMinConcurrent || grown <= AutoMinConcurrent {
		t.Errorf("limit grew to %d and came back to %d, want back to %d", grown, l.Limit, AutoMinConcurrent)
	}
}

// TestFixedLimitDoesNotAdapt: an explicit MaxConcurrent is a hard limit.
func TestFixedLimitDoesNotAdapt(t *testing.T) {
	r := newRig(t, 1)
	r.gate = make(chan struct{})
	r.apply(every("a", time.Second), every("b", time.Second))
	r.s.Start()
	r.advanceTo(t0.Add(time.Second - time.Nanosecond))
	// Running counts a run once its goroutine is in runOnce: waiting for
	// the slot's holder to get there too keeps the check below from racing
	// it (a flake on a busy machine).
	eventually(t, func() bool { l := r.s.Load(); return l.Waiting == 1 && l.Running == 1 })
	r.advanceTo(t0.Add(time.Second + time.Millisecond))
	r.advanceTo(t0.Add(2*time.Second + time.Millisecond))
	if l := r.s.Load(); l.Auto || l.Limit != 1 || l.Running != 1 {
		t.Errorf("load %+v, want a fixed limit of 1", l)
	}
	close(r.gate)
}

// TestWaitingRunIsDelayedNotSkipped: a flow whose run waits for a slot is
// not skipped as an overlap; the run starts when a slot frees, late by the
// wait, and a start that passes while it still waits is counted as
// "behind". The flow holding the slot (the slow target) skips as an
// overlap.
func TestWaitingRunIsDelayedNotSkipped(t *testing.T) {
	r := newRig(t, 1)
	r.gate = make(chan struct{})
	slow, waiter := every("slow", 10*time.Second), every("waiter", 10*time.Second)
	r.apply(slow, waiter)
	r.s.Start()
	first, second := r.next("slow"), r.next("waiter")
	order := []string{"slow", "waiter"}
	if second.Before(first) {
		first, second = second, first
		order[0], order[1] = order[1], order[0]
	}
	r.advanceTo(first)
	if st := recv(t, r.starts); st.flow != order[0] {
		t.Fatalf("started %s, want %s", st.flow, order[0])
	}
	r.advanceTo(second)
	eventually(t, func() bool { return r.s.Load().Waiting == 1 })
	// A whole interval later both are due again: the running one skips
	// (overlap), the waiting one stands for this start too (behind).
	r.advanceTo(second.Add(10 * time.Second))
	got := map[string]string{}
	for range 2 {
		sk := recv(t, r.skips)
		got[sk.flow] = sk.why
	}
	if got[order[0]] != SkipOverlap || got[order[1]] != SkipBehind {
		t.Errorf("skips %v, want %s overlap and %s behind", got, order[0], order[1])
	}
	close(r.gate)
	evs := map[string]Event{}
	for range 2 {
		ev := recv(t, r.results)
		evs[ev.Flow.Name] = ev
	}
	late := evs[order[1]]
	if !late.Planned.Equal(second) || late.Lateness != 10*time.Second {
		t.Errorf("the waiting run: planned %s lateness %s, want planned %s and 10s late", late.Planned, late.Lateness, second)
	}
	st := r.s.Stats().Flows
	if st[order[1]].Skipped != 0 || st[order[1]].Behind != 1 || st[order[1]].Runs != 1 || st[order[0]].Skipped != 1 {
		t.Errorf("stats %+v", st)
	}
}

// drain empties ch until stop is closed, so that hooks never block.
func drain[T any](ch <-chan T, stop <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-stop:
			return
		}
	}
}

// TestSlowReportIsBehind: a start that comes while the previous result is
// still being handed on (a slow store behind OnResult) is the monitor
// behind, not the target slow.
func TestSlowReportIsBehind(t *testing.T) {
	r := newRig(t, 0)
	hold := make(chan struct{})
	reporting := make(chan struct{}, 1)
	hooks := r.s.hooks
	hooks.OnResult = func(ev Event) {
		reporting <- struct{}{}
		<-hold
		r.results <- ev
	}
	s, err := New(r.run, Options{Clock: r.clock, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	r.apply(every("a", 10*time.Second))
	s.Start()
	first := r.next("a")
	r.advanceTo(first)
	recv(t, reporting)
	r.advanceTo(first.Add(10 * time.Second))
	if sk := recv(t, r.skips); sk != (skipped{"a", SkipBehind}) {
		t.Errorf("skip %+v, want behind", sk)
	}
	close(hold)
	recv(t, r.results)
	if st := s.Stats().Flows["a"]; st.Behind != 1 || st.Skipped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestSchedLatencyIsRead: the runtime still exports the histogram the CPU
// check reads (a renamed metric would silently read as "never busy").
func TestSchedLatencyIsRead(t *testing.T) {
	sl := newSchedLatency()
	sl.p99()
	if k := sl.sample[0].Value.Kind(); k != metrics.KindFloat64Histogram {
		t.Fatalf("/sched/latencies:seconds is of kind %v", k)
	}
	if sl.prev == nil {
		t.Error("no counts kept for the next delta")
	}
}
