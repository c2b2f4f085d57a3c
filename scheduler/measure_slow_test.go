package scheduler

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// TestMeasureSlowTarget measures what a slow target does to the schedule:
// n flows (AUTHWATCH_MEASURE_N, default 2,000) every n/1000 s (1,000
// runs/s), each run one GET to a local server that answers after
// AUTHWATCH_MEASURE_DELAY (default 100ms), with max_concurrent
// AUTHWATCH_MEASURE_LIMIT (default 0: adaptive). It reports runs, skips,
// lateness and the most connections the server saw open at once:
//
//	AUTHWATCH_MEASURE=slow-target AUTHWATCH_MEASURE_LIMIT=64 go test ./scheduler -run MeasureSlowTarget -v -count=1
func TestMeasureSlowTarget(t *testing.T) {
	if os.Getenv("AUTHWATCH_MEASURE") != "slow-target" {
		t.Skip("set AUTHWATCH_MEASURE=slow-target")
	}
	n, limit, delay := 2000, 0, 100*time.Millisecond
	if v, err := strconv.Atoi(os.Getenv("AUTHWATCH_MEASURE_N")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("AUTHWATCH_MEASURE_LIMIT")); err == nil && v >= 0 {
		limit = v
	}
	if v, err := time.ParseDuration(os.Getenv("AUTHWATCH_MEASURE_DELAY")); err == nil {
		delay = v
	}
	var open, peak atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			c := open.Add(1)
			for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: flows.NewTransport()}
	run := func(ctx context.Context, f *flows.Flow) *flows.Result {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			return &flows.Result{Flow: f.Name}
		}
		resp.Body.Close()
		return &flows.Result{Flow: f.Name, OK: true}
	}
	var mu sync.Mutex
	var late []time.Duration
	var runs, overlap, behind atomic.Int64
	measuring := atomic.Bool{}
	s, err := New(run, Options{MaxConcurrent: limit, Hooks: Hooks{
		OnResult: func(Event) {
			if measuring.Load() {
				runs.Add(1)
			}
		},
		OnSkip: func(_, why string) {
			if !measuring.Load() {
				return
			}
			if why == SkipBehind {
				behind.Add(1)
			} else {
				overlap.Add(1)
			}
		},
		OnLateness: func(_ string, d time.Duration) {
			if measuring.Load() {
				mu.Lock()
				late = append(late, d)
				mu.Unlock()
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	interval := time.Duration(n) * time.Millisecond
	fs := make([]*flows.Flow, n)
	for i := range fs {
		fs[i] = every(fmt.Sprintf("slow-%05d", i), interval)
	}
	if _, _, _, err := s.Apply(fs); err != nil {
		t.Fatal(err)
	}
	s.Start()
	warm, window := 2*interval+5*time.Second, 20*time.Second
	time.Sleep(warm) // a measurement, not a synchronisation
	peak.Store(open.Load())
	measuring.Store(true)
	var limits []int
	for range int(window / time.Second) {
		time.Sleep(time.Second)
		limits = append(limits, s.Load().Limit)
	}
	measuring.Store(false)
	_ = s.Shutdown(context.Background())
	mu.Lock()
	p50, p99 := quantile(late, 0.5), quantile(late, 0.99)
	mu.Unlock()
	t.Logf("%d flows every %s, target %s, max_concurrent %d: %d runs in %s (%.0f/s of %.0f planned), skipped %d overlap + %d behind, "+
		"lateness p50 %s p99 %s, connections open at most %d, limit per second %v",
		n, interval, delay, limit, runs.Load(), window, float64(runs.Load())/window.Seconds(), float64(n)/interval.Seconds(),
		overlap.Load(), behind.Load(), p50, p99, peak.Load(), limits)
}

// quantile is the q-quantile of ds (sorted in place); 0 when empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}
