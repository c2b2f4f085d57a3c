package scheduler

import (
	"sync/atomic"
	"testing"
	"time"
)

// A run that Admit refuses (another cluster node runs the flow) is
// dropped silently: it does not start, is not a skip nor late, and the
// flow's next run is asked again, so a flow whose shard this node takes
// over runs at its next planned start.
func TestAdmitDropsRunsSilently(t *testing.T) {
	var ours atomic.Bool
	asked := make(chan string, 100)
	r := newRig(t, 0, func(o *Options) {
		o.Admit = func(flow string) (any, bool) { asked <- flow; return nil, ours.Load() }
	})
	r.apply(every("a", 10*time.Second))
	r.s.Start()
	first := r.next("a")
	r.advanceTo(first)
	if got := recv(t, asked); got != "a" {
		t.Fatalf("Admit asked about %q", got)
	}
	nothing(t, r.starts)
	nothing(t, r.skips)
	nothing(t, r.late)
	if st := r.s.Stats().Flows["a"]; st.Runs != 0 || st.Skipped != 0 || st.Behind != 0 || st.InProgress {
		t.Errorf("stats after a run not ours: %+v", st)
	}

	ours.Store(true)
	r.advanceTo(first.Add(10 * time.Second))
	recv(t, asked)
	if st := recv(t, r.starts); st.flow != "a" {
		t.Errorf("started %q", st.flow)
	}
	if ev := recv(t, r.results); !ev.Planned.Equal(first.Add(10 * time.Second)) {
		t.Errorf("planned %s, want the next start after taking the flow over", ev.Planned)
	}
}

// What Admit returns for a run (a cluster node's lease fence) belongs to
// that run: it comes back with its result, and a later fire skipped as an
// overlap, though Admit answered it too, does not replace it.
func TestAdmissionBelongsToItsRun(t *testing.T) {
	var n atomic.Int64
	r := newRig(t, 0, func(o *Options) {
		o.Admit = func(string) (any, bool) { return n.Add(1), true }
	})
	r.gate = make(chan struct{})
	r.apply(every("slow", 10*time.Second))
	r.s.Start()
	first := r.next("slow")
	r.advanceTo(first)
	recv(t, r.starts)
	r.advanceTo(first.Add(10 * time.Second))
	if sk := recv(t, r.skips); sk != (skipped{"slow", SkipOverlap}) {
		t.Fatalf("skip %+v", sk)
	}
	if n.Load() != 2 {
		t.Fatalf("Admit asked %d times, want 2", n.Load())
	}
	close(r.gate)
	if ev := recv(t, r.results); ev.Admission != int64(1) {
		t.Errorf("the run's admission: %v, want 1 (the later fire's, 2, was skipped as an overlap)", ev.Admission)
	}
}
