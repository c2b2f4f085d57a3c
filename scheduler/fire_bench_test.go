package scheduler

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// BenchmarkFire10000 is the scheduler's own cost per run at 10,000 flows:
// 10,000 no-op flows every second on the real clock (10,000 runs/s, each
// flow's phase spread as in the daemon), and one op is one run fired,
// executed and reported. cpu-ns/op is the process's CPU per run (every
// goroutine: the timers, the workers, the runtime); allocs/op and B/op are
// the whole process's too (runtime.MemStats). Run it with
// -benchtime=Nx (N runs, at least 20,000: two seconds):
//
//	go test -run='^$' -bench=Fire10000 -benchtime=30000x -count=5 ./scheduler/
func BenchmarkFire10000(b *testing.B) { benchmarkFire(b, nil) }

// BenchmarkFire10000Admitted is BenchmarkFire10000 as on a single daemon
// (an Admit that returns no admission) and as on a cluster node (every run
// admitted under an admission, revocable: a context and a registration of
// its own).
func BenchmarkFire10000Admitted(b *testing.B) {
	b.Run("single", func(b *testing.B) { benchmarkFire(b, func(string) (any, bool) { return nil, true }) })
	fence := &struct{ shard int }{7}
	b.Run("cluster", func(b *testing.B) { benchmarkFire(b, func(string) (any, bool) { return fence, true }) })
}

func benchmarkFire(b *testing.B, admit func(string) (any, bool)) {
	const n = 10000
	var runs, target atomic.Int64
	target.Store(1 << 62) // set after the warm-up
	done := make(chan struct{})
	s, err := New(noop, Options{MaxConcurrent: n, Admit: admit, Hooks: Hooks{OnResult: func(Event) {
		if runs.Add(1) == target.Load() {
			close(done)
		}
	}}})
	if err != nil {
		b.Fatal(err)
	}
	fs := make([]*flows.Flow, n)
	for i := range fs {
		fs[i] = every(fmt.Sprintf("bench-flow-%05d", i), time.Second)
	}
	if _, _, _, err := s.Apply(fs); err != nil {
		b.Fatal(err)
	}
	s.Start()
	defer func() { _ = s.Shutdown(context.Background()) }()
	// A second of warm-up: every flow has fired once, the workers exist.
	warm := time.NewTimer(1100 * time.Millisecond)
	<-warm.C
	target.Store(runs.Load() + int64(b.N)) // a run or two may count in the warm-up: noise of 1 in 20,000
	cpu0 := cpuTime(b)
	b.ReportAllocs()
	b.ResetTimer()
	select {
	case <-done:
	case <-time.After(time.Duration(b.N)*time.Millisecond + 30*time.Second): // 10/ms planned: bounded well above
		b.Fatalf("%d of %d runs within the bound", runs.Load(), b.N)
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
