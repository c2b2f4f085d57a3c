package scheduler

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// A flow's runs after the first start on a worker goroutine that already
// ran one (its stack has grown), not each on a new goroutine.
func TestRunsReuseWorkerGoroutines(t *testing.T) {
	r := newRig(t, 2)
	goroutines := make(chan string, 100)
	r.result = func(f *flows.Flow) *flows.Result {
		goroutines <- goroutineID()
		return &flows.Result{Flow: f.Name, OK: true}
	}
	r.apply(every("a", time.Second))
	r.s.Start()
	const runs = 20
	seen := map[string]bool{}
	for i := 1; i <= runs; i++ {
		r.advanceTo(t0.Add(time.Duration(i) * time.Second))
		recv(t, r.results)
		seen[<-goroutines] = true
		r.idle("a")
	}
	// A worker may not be back in time for the next run now and then (a
	// busy machine): a new one takes it. Each on its own goroutine was 20.
	if len(seen) > runs/2 {
		t.Errorf("%d runs ran on %d goroutines, want them reused", runs, len(seen))
	}
	if err := r.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// goroutineID is the number in the first line of the calling goroutine's
// stack ("goroutine 42 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	return string(id)
}

// Runs waiting for a slot are kept as data, not as goroutines: at 10,000
// flows on a busy machine thousands wait at once, and each goroutine kept
// a stack that had grown to a run's depth (50–73 MiB of stacks at 10,000
// flows @ 10 s with 6,000–9,500 goroutines; docs/benchmarks.md).
func TestWaitingRunsHoldNoGoroutine(t *testing.T) {
	const n = 200
	r := newRig(t, 1)
	r.gate = make(chan struct{})
	fs := make([]*flows.Flow, n)
	for i := range fs {
		fs[i] = every(fmt.Sprintf("f%03d", i), time.Hour)
	}
	r.apply(fs...)
	before := runtime.NumGoroutine()
	r.s.Start()
	r.advanceTo(t0.Add(time.Hour)) // every flow is due once: one runs, the others wait
	recv(t, r.starts)
	eventually(t, func() bool { return r.s.Stats().Waiting == n-1 })
	if extra := runtime.NumGoroutine() - before; extra > 20 {
		t.Errorf("%d goroutines more with %d runs waiting for a slot, want a handful", extra, n-1)
	}
	close(r.gate)
	for range n {
		recv(t, r.results)
	}
	if st := r.s.Stats(); st.Waiting != 0 || st.Running != 0 {
		t.Errorf("stats after all ran: %+v", st.Load)
	}
	if err := r.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
