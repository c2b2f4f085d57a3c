package sqlite

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// BenchmarkRecordRun records runs of a typical three-step flow (~1 KB of
// steps JSON) one after the other, one commit (and fsync) each, and reports
// the database size per run once the WAL is checkpointed (run with
// -benchtime=10000x for the size of 10k runs).
func BenchmarkRecordRun(b *testing.B) {
	s, path := openTemp(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.RecordRun(ctx, sampleRun(fmt.Sprintf("flow-%d", i%20), i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	if _, err := s.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/float64(i), "dbbytes/run")
}

// BenchmarkRecordRunConcurrent records b.N runs from 1, 8 and 32 goroutines:
// the group commit shares one fsync among the runs that arrive during the
// previous one, so ns/op falls with more writers.
func BenchmarkRecordRunConcurrent(b *testing.B) {
	for _, writers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, _ := openTemp(b)
			ctx := context.Background()
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range writers {
				wg.Go(func() {
					for i := g; i < b.N; i += writers {
						if _, err := s.RecordRun(ctx, sampleRun(fmt.Sprintf("flow-%d", i%20), i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkReadsDuringWrites records runs while two readers poll (every 2 ms:
// FlowStates of 20 flows and the last 50 runs of one), with reads on their
// own pool ("split", as Open does) or on the writer's one connection
// ("single"), and reports the read latency.
func BenchmarkReadsDuringWrites(b *testing.B) {
	for _, layout := range []string{"split", "single"} {
		b.Run(layout, func(b *testing.B) {
			s, _ := openTemp(b)
			if layout == "single" {
				s = &Store{write: s.write, read: s.write, records: s.records, closing: s.closing}
			}
			ctx := context.Background()
			for i := range 200 * 20 {
				if _, err := s.RecordRun(ctx, sampleRun(fmt.Sprintf("flow-%d", i%20), i)); err != nil {
					b.Fatal(err)
				}
			}
			stop := make(chan struct{})
			lat := pollReads(b, s, stop)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, err := s.RecordRun(ctx, sampleRun(fmt.Sprintf("flow-%d", i%20), 4000+i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			close(stop)
			l := <-lat
			slices.Sort(l)
			if len(l) > 0 {
				b.ReportMetric(float64(l[len(l)/2].Microseconds()), "read-p50-µs")
				b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), "read-p99-µs")
			}
		})
	}
}

// pollReads starts two readers and sends their latencies once stop closes.
func pollReads(b *testing.B, s *Store, stop chan struct{}) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				start := time.Now()
				if _, err := s.FlowStates(context.Background()); err != nil {
					b.Error(err)
					return
				}
				if _, err := s.Runs(context.Background(), "flow-3", 50); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(start))
				mu.Unlock()
			}
		})
	}
	go func() {
		wg.Wait()
		out <- lat
	}()
	return out
}

// BenchmarkRecordRunFlows records passing runs of 10,000 flows, each flow
// every 10 s of synthetic time (1,000 runs/s), from 256 goroutines with the
// daemon's 25 ms commit interval, and reports the process CPU per run (the
// store's cost: the benchmark itself only builds runs). "kept=all" keeps
// every run whole (no Prune called); "kept=20" keeps each flow's 20 newest
// passing runs whole, so that in steady state every run deletes one. Before
// the timer starts, each flow has run once (kept=all) or 21 times
// (kept=20), so that what is timed is the steady state.
func BenchmarkRecordRunFlows(b *testing.B) {
	const flows = 10000
	for _, kept := range []int{0, 20} {
		name := "kept=all"
		if kept > 0 {
			name = fmt.Sprintf("kept=%d", kept)
		}
		b.Run(name, func(b *testing.B) {
			s, _ := openTemp(b)
			s.SetCommitInterval(25 * time.Millisecond)
			ctx := context.Background()
			if kept > 0 {
				if _, err := s.Prune(ctx, t0, store.Retention{PassingRunsKept: kept}); err != nil {
					b.Fatal(err)
				}
			}
			names := make([]string, flows)
			for i := range names {
				names[i] = fmt.Sprintf("flow-%05d", i)
			}
			var next atomic.Int64
			record := func(n int64) {
				var wg sync.WaitGroup
				for range 256 {
					wg.Go(func() {
						for {
							i := next.Add(1) - 1
							if i >= n {
								return
							}
							r := store.Run{Flow: names[i%flows], Start: t0.Add(time.Duration(i) * time.Millisecond),
								DurationMS: 120, OK: true, Summary: "ok", Steps: sampleSteps}
							if _, err := s.RecordRun(ctx, r); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			warm := int64(flows * (kept + 1))
			record(warm)
			cpu0 := processCPU()
			b.ResetTimer()
			record(warm + int64(b.N))
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/run")
		})
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordRunPassing records plain passing runs of 10,000 flows
// (one every 10 s of synthetic time each) with the default 50 kept whole,
// from 256 goroutines with the daemon's 25 ms commit interval. Before the
// timer starts every flow has run 51 times: its state is cached and each
// timed run pushes one out of the flow's kept runs. It reports the process
// CPU per run and the rows the writer inserted, updated or deleted per run
// (SQLite's total_changes, roll-up upserts included).
func BenchmarkRecordRunPassing(b *testing.B) {
	const flows, kept = 10000, 50
	s, names := passingRunsStore(b, flows, kept, 25*time.Millisecond)
	ctx := context.Background()
	var next atomic.Int64
	record := func(n int64) {
		var wg sync.WaitGroup
		for range 256 {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= n {
						return
					}
					r := store.Run{Flow: names[i%flows], Start: t0.Add(time.Duration(i) * time.Millisecond),
						DurationMS: 120, OK: true, Summary: "ok", Steps: sampleSteps}
					if _, err := s.RecordRun(ctx, r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	warm := int64(flows * (kept + 1))
	record(warm)
	changes := func() int64 {
		var n int64
		if err := s.write.QueryRow(`SELECT total_changes()`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	rows0, cpu0 := changes(), processCPU()
	b.ReportAllocs()
	b.ResetTimer()
	record(warm + int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/run")
	b.ReportMetric(float64(changes()-rows0)/float64(b.N), "rows/run")
}

// BenchmarkRecordRunPaced records passing runs of 10,000 flows at the
// daemon's 10,000-flow rate (1,000 runs/s, a goroutine per run as the
// scheduler makes), not as fast as callers can, so that each commit carries
// what the commit interval gathers at that rate (25 runs at 25 ms). It
// reports the process CPU per run for several commit intervals: the
// writer's cost per run falls as a commit's pages are shared by more runs.
// b.N runs take b.N ms of wall time.
func BenchmarkRecordRunPaced(b *testing.B) {
	for _, every := range []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond} {
		b.Run(every.String(), func(b *testing.B) {
			const flows, kept, perTick, warmChunk = 10000, 50, 10, 1000
			s, names := passingRunsStore(b, flows, kept, every)
			ctx := context.Background()
			var i int64
			record := func(n int64, paced bool) {
				var wg sync.WaitGroup
				tick := time.NewTicker(perTick * time.Millisecond)
				defer tick.Stop()
				for i < n {
					if paced {
						<-tick.C
					}
					chunk := perTick
					if !paced {
						chunk = warmChunk
					}
					for range chunk {
						if i >= n {
							break
						}
						r := store.Run{Flow: names[i%flows], Start: t0.Add(time.Duration(i) * time.Millisecond),
							DurationMS: 120, OK: true, Summary: "ok", Steps: sampleSteps}
						i++
						wg.Go(func() {
							if _, err := s.RecordRun(ctx, r); err != nil {
								b.Error(err)
							}
						})
					}
					if !paced {
						wg.Wait()
					}
				}
				wg.Wait()
			}
			record(int64(flows*2), false) // every flow's state cached
			cpu0, commits0 := processCPU(), s.commits.Load()
			b.ReportAllocs()
			b.ResetTimer()
			record(i+int64(b.N), true)
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/run")
			b.ReportMetric(float64(b.N)/float64(s.commits.Load()-commits0), "runs/commit")
		})
	}
}

// passingRunsStore is a store that keeps kept passing runs whole per flow
// and commits at most every commitEvery, and the names of flows flows.
func passingRunsStore(b *testing.B, flows, kept int, commitEvery time.Duration) (*Store, []string) {
	b.Helper()
	s, _ := openTemp(b)
	s.SetCommitInterval(commitEvery)
	if _, err := s.Prune(context.Background(), t0, store.Retention{PassingRunsKept: kept}); err != nil {
		b.Fatal(err)
	}
	names := make([]string, flows)
	for i := range names {
		names[i] = fmt.Sprintf("flow-%05d", i)
	}
	return s, names
}
