package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/scheduler"
)

// BenchmarkLiveHeapPerFlow measures what each flow keeps live in a daemon
// with 10,000 flows shaped like the benchmark's (bench/: half a
// client_credentials token and a GET with it, half a GET): the loaded
// flows, the scheduler's jobs (started: gocron's timers exist), and what a
// first result leaves behind (metrics series, the last state, the incident
// state, the store's caches). Results are handed to onResult as the
// scheduler does, without HTTP; the intervals are a day, so that the
// scheduler runs (nearly) nothing meanwhile. Live heap after a GC, bytes
// per flow, cumulative:
//
//	go test -run='^$' -bench=BenchmarkLiveHeapPerFlow -benchtime=1x ./internal/daemon/
func BenchmarkLiveHeapPerFlow(b *testing.B) {
	const n = 10_000
	for b.Loop() {
		flowsDir := b.TempDir()
		var y strings.Builder
		y.WriteString("flows:\n")
		for i := range n {
			if i%2 == 0 {
				fmt.Fprintf(&y, `  - name: bench-cc-%05d
    every: 24h
    steps:
      - id: token
        kind: client_credentials
        token_url: http://127.0.0.1:1/token
        client_id: cc-client
        client_secret: ${env:AUTHWATCH_BENCH_SECRET}
        resource: [https://api.example.test/]
        scopes: [api:read]
      - id: api
        kind: http
        url: http://127.0.0.1:1/api/cc/%05d
        auth: {bearer: "${steps.token.access_token}"}
        expect: {status: 200}
`, i, i)
			} else {
				fmt.Fprintf(&y, "  - {name: bench-plain-%05d, every: 24h, steps: [{id: api, kind: http, url: \"http://127.0.0.1:1/api/plain/%05d\", expect: {status: 200}}]}\n", i, i)
			}
		}
		if err := os.WriteFile(filepath.Join(flowsDir, "flows.yaml"), []byte(y.String()), 0o600); err != nil {
			b.Fatal(err)
		}
		y = strings.Builder{}
		b.Setenv("AUTHWATCH_BENCH_SECRET", "bench-client-secret-0123456789")
		cfg := config.Default()
		cfg.StateDir, cfg.FlowsDir, cfg.Listen = filepath.Join(b.TempDir(), "state"), flowsDir, "127.0.0.1:0"

		base := liveHeapNow()
		m, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})), &e2eNotifier{})
		if err != nil {
			b.Fatal(err)
		}
		empty := liveHeapNow()
		set, err := m.loadFlows()
		if err != nil {
			b.Fatal(err)
		}
		loaded := liveHeapNow()
		if _, _, _, err := m.sched.Apply(scheduled(set.Flows)); err != nil {
			b.Fatal(err)
		}
		m.sched.Start()
		scheduledHeap := liveHeapNow()
		m.setFlows(set.Flows)
		if err := m.alert.load(context.Background()); err != nil {
			b.Fatal(err)
		}
		m.alert.setFlows(set.Flows)
		// Handed on by 100 goroutines, as runs finishing together are, so
		// that they share the store's commits (one at a time, each waits
		// for its own: about 25 ms).
		now := time.Now()
		var wg sync.WaitGroup
		for w := range 100 {
			wg.Go(func() {
				for i := w; i < len(set.Flows); i += 100 {
					f := set.Flows[i]
					m.onResult(scheduler.Event{Flow: f, Result: passingResult(f, now)})
				}
			})
		}
		wg.Wait()
		ran := liveHeapNow()
		per := func(from, to uint64) float64 { return (float64(to) - float64(from)) / n }
		b.ReportMetric(per(empty, loaded), "flows-B/flow")
		b.ReportMetric(per(loaded, scheduledHeap), "scheduler-B/flow")
		b.ReportMetric(per(scheduledHeap, ran), "first-result-B/flow")
		b.ReportMetric(per(empty, ran), "total-B/flow")
		b.ReportMetric(float64(empty-base)/(1<<20), "empty-daemon-MB")
		runtime.KeepAlive(set)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = m.sched.Shutdown(ctx)
		cancel()
		_ = m.closeState()
	}
}

// passingResult is what a passing run of the benchmark's flow f returns,
// as far as the daemon reads it.
func passingResult(f *flows.Flow, start time.Time) *flows.Result {
	r := &flows.Result{Flow: f.Name, Start: start, OK: true}
	for _, s := range f.Steps {
		sr := flows.StepResult{ID: s.ID, Kind: s.Kind, Status: flows.StepPassed, Duration: 3 * time.Millisecond}
		if s.Kind == "client_credentials" {
			sr.Measurements = []flows.Measurement{{Name: flows.MeasureTokenLifetime, Value: 3600}}
		} else {
			sr.HTTPStatus = 200
		}
		r.Steps = append(r.Steps, sr)
	}
	return r
}

// liveHeapNow is the heap live after a full collection.
func liveHeapNow() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
