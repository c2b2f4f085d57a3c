package statuspage

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// The flow page with 30 days of history (issue 15: "the flow page in
// < 100 ms with 30 days of history"): one flow that ran every 10 s for 30
// days (259,200 runs), about 1 % failing, recorded through the real
// store's RecordRun with the default history tiers (50 passing runs kept
// whole, minute roll-ups for 24 h, hour roll-ups for 30 days).
// FLOWPAGE_DAYS shortens the history for a quick look.

var (
	store30dOnce sync.Once
	store30d     *sqlite.Store
	store30dDir  string // removed by TestMain
	store30dNow  time.Time
	store30dErr  error
)

func flowStore30d(tb testing.TB) (*sqlite.Store, time.Time) {
	tb.Helper()
	store30dOnce.Do(func() {
		days := 30
		if d, err := strconv.Atoi(os.Getenv("FLOWPAGE_DAYS")); err == nil && d > 0 {
			days = d
		}
		store30dDir, store30dErr = os.MkdirTemp("", "flowpage30d-")
		if store30dErr != nil {
			return
		}
		store30d, store30dNow, store30dErr = fill30d(filepath.Join(store30dDir, "authwatch.db"), days)
	})
	if store30dErr != nil {
		tb.Fatal(store30dErr)
	}
	return store30d, store30dNow
}

func fill30d(path string, days int) (*sqlite.Store, time.Time, error) {
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	ret := store.Retention{MaxAge: 30 * 24 * time.Hour, MaxRunsPerFlow: 10000, PassingRunsKept: 50,
		MinuteRollups: 24 * time.Hour, HourRollups: 30 * 24 * time.Hour}
	first := now.Add(-time.Duration(days) * 24 * time.Hour)
	if _, err := st.Prune(ctx, first, ret); err != nil {
		return nil, time.Time{}, err
	}
	pass := json.RawMessage(`[{"id":"token","kind":"client_credentials","status":"passed"},{"id":"api","kind":"http","status":"passed"}]`)
	fail := json.RawMessage(`[{"id":"token","kind":"client_credentials","status":"failed","reason":"invalid_client"}]`)
	rng := rand.New(rand.NewPCG(1, 2))
	runs := days * 24 * 360
	for i := range runs {
		r := store.Run{Flow: "busy", Start: first.Add(time.Duration(i+1) * 10 * time.Second), DurationMS: 60 + 60*rng.Float64(),
			OK: true, Steps: pass}
		if rng.Float64() < 0.01 {
			r.OK, r.Reason, r.Layer, r.FailedStep, r.Summary, r.Steps, r.DurationMS =
				false, "invalid_client", "client", "token", "the token endpoint refused the client", fail, 30+rng.Float64()*10
		}
		if _, err := st.RecordRun(ctx, r); err != nil {
			return nil, time.Time{}, err
		}
		if i%(24*360) == 24*360-1 { // daily, as the daemon's hourly prune would have
			if _, err := st.Prune(ctx, r.Start, ret); err != nil {
				return nil, time.Time{}, err
			}
		}
	}
	_, err = st.Prune(ctx, now, ret)
	return st, now, err
}

func flowPageHandler(st Source, now time.Time) *server {
	infos := []FlowInfo{{Name: "busy", Schedule: "every 10s", Every: 10 * time.Second}}
	return newServer(st, Options{Flows: func() []FlowInfo { return infos }, Now: func() time.Time { return now }})
}

// BenchmarkFlowPage30d serves the flow page and /api/v1/flows/busy, cold
// (a new handler: the flow's first view) and warm (nothing ran since the
// last view). It reports the answer's size, the latency trend's points and
// the bytes the flow's cache holds (estimated, and measured on the heap).
func BenchmarkFlowPage30d(b *testing.B) {
	st, now := flowStore30d(b)
	for _, path := range []string{"/flows/busy", "/api/v1/flows/busy"} {
		b.Run("cold"+path, func(b *testing.B) {
			var size int
			for b.Loop() {
				b.StopTimer()
				h := flowPageHandler(st, now).handler()
				b.StartTimer()
				size = serveOK(b, h, path)
			}
			b.ReportMetric(float64(size), "bytes/answer")
		})
		b.Run("warm"+path, func(b *testing.B) {
			s := flowPageHandler(st, now)
			h := s.handler()
			size := serveOK(b, h, path)
			b.ResetTimer()
			for b.Loop() {
				serveOK(b, h, path)
			}
			b.ReportMetric(float64(size), "bytes/answer")
		})
	}
	b.Run("cache", func(b *testing.B) {
		var est, heap, points, hours float64
		for b.Loop() {
			b.StopTimer()
			s := flowPageHandler(st, now)
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			b.StartTimer()
			d, err := s.detail(context.Background(), flowRef{info: s.opts.Flows()[0], state: mustState(b, st)}, now)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			d.Trends.Measurements = nil // let the answer go: only the cache stays
			runtime.GC()
			runtime.ReadMemStats(&m1)
			f := s.stats.get("busy")
			est, heap = float64(f.bytes()), float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))
			points, hours = float64(len(d.Trends.Latency)), 0
			for _, p := range d.Trends.Latency {
				if p.Hour {
					hours++
				}
			}
			runtime.KeepAlive(s)
			b.StartTimer()
		}
		b.ReportMetric(est, "cache-bytes-est")
		b.ReportMetric(heap, "cache-bytes-heap")
		b.ReportMetric(points, "latency-points")
		b.ReportMetric(hours, "hour-points")
	})
}

func mustState(tb testing.TB, st Source) store.FlowState {
	s, _, err := st.FlowState(context.Background(), "busy")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
