package sqlite

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
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
