package flows_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// BenchmarkLoad10000Flows loads the benchmark's 10,000 flows (half a
// client_credentials token and an API call, half an API call; as
// bench/cmd/authwatch-bench writes them) from one flow per file and from
// 250 per file, and reports the most heap the load held: peak-live-MB is
// the largest heap a GC found live during the load, peak-heap-MB the
// largest heap in use (live and not yet collected), both sampled every
// millisecond, and kept-MB what the loaded set holds after a GC. It is
// what a daemon's start adds to its resident memory at 10,000 flows.
//
//	go test -run='^$' -bench=BenchmarkLoad10000Flows -benchtime=3x ./flows/
func BenchmarkLoad10000Flows(b *testing.B) {
	for _, perFile := range []int{1, 250} {
		b.Run(fmt.Sprintf("per-file=%d", perFile), func(b *testing.B) {
			dir := b.TempDir()
			writeBenchFlows(b, dir, 10_000, perFile)
			b.Setenv("AUTHWATCH_BENCH_SECRET", "cc-secret")
			var peakLive, peakHeap, kept uint64
			for b.Loop() {
				runtime.GC()
				base := heapLive()
				stop := sampleHeap(&peakLive, &peakHeap)
				set, err := flows.Load(flows.LoadOptions{}, dir)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				kept = heapLive() - base
				peakLive, peakHeap = peakLive-min(base, peakLive), peakHeap-min(base, peakHeap)
				runtime.KeepAlive(set)
			}
			b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-MB")
			b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(kept)/(1<<20), "kept-MB")
		})
	}
}

func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap records the largest live heap and heap in use until stop is
// called.
func sampleHeap(peakLive, peakHeap *uint64) (stop func()) {
	*peakLive, *peakHeap = 0, 0
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			*peakLive, *peakHeap = max(*peakLive, s[0].Value.Uint64()), max(*peakHeap, s[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// writeBenchFlows writes n flows, perFile per file, as the benchmark
// harness does.
func writeBenchFlows(b *testing.B, dir string, n, perFile int) {
	var sb strings.Builder
	file := 0
	flush := func() {
		if sb.Len() == 0 {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bench-%05d.yaml", file)), []byte("flows:\n"+sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		sb.Reset()
		file++
	}
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&sb, `  - name: bench-cc-%05d
    every: 10s
    steps:
      - id: token
        kind: client_credentials
        token_url: http://127.0.0.1:3000/token
        client_id: cc-client
        client_secret: ${env:AUTHWATCH_BENCH_SECRET}
        resource: [https://api.example.test/]
        scopes: [api:read]
      - id: api
        kind: http
        url: http://127.0.0.1:8080/api/cc/%05d
        auth: {bearer: "${steps.token.access_token}"}
        expect: {status: 200}
`, i, i)
		} else {
			fmt.Fprintf(&sb, `  - name: bench-plain-%05d
    every: 10s
    steps:
      - id: api
        kind: http
        url: http://127.0.0.1:8080/api/plain/%05d
        expect: {status: 200}
`, i, i)
		}
		if (i+1)%perFile == 0 {
			flush()
		}
	}
	flush()
}
