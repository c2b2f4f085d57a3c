package scheduler

import (
	"bytes"
	"context"
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
