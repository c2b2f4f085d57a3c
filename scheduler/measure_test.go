package scheduler

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/authwatch/authwatch/flows"
)

// TestMeasureJobMemory measures RSS, goroutines, CPU and lateness with n
// no-op flows (AUTHWATCH_MEASURE_N, default 2,000) every n/1000 s, that is
// 1,000 runs/s, in a process of its own:
//
//	AUTHWATCH_MEASURE=scheduler go test ./scheduler -run MeasureJobMemory -v -count=1
//	AUTHWATCH_MEASURE=gocron-singleton ...   # gocron jobs WithSingletonMode(LimitModeReschedule)
//	AUTHWATCH_MEASURE=gocron-plain ...       # gocron jobs without it
func TestMeasureJobMemory(t *testing.T) {
	mode := os.Getenv("AUTHWATCH_MEASURE")
	if mode == "" {
		t.Skip("set AUTHWATCH_MEASURE to scheduler, gocron-singleton or gocron-plain")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("AUTHWATCH_MEASURE_N")); err == nil && v > 0 {
		n = v
	}
	interval := time.Duration(n) * time.Millisecond
	warm, window := interval+time.Second, 6*time.Second
	runtime.GC()
	rss0, g0 := rss(t), runtime.NumGoroutine()
	var (
		mu   sync.Mutex
		late []time.Duration
	)
	var stop func()
	switch mode {
	case "scheduler":
		s, err := New(noop, Options{MaxConcurrent: n, Hooks: Hooks{OnLateness: func(_ string, d time.Duration) {
			mu.Lock()
			late = append(late, d)
			mu.Unlock()
		}}})
		if err != nil {
			t.Fatal(err)
		}
		fs := make([]*flows.Flow, n)
		for i := range fs {
			fs[i] = every(fmt.Sprintf("flow-%d", i), interval)
		}
		if _, _, _, err := s.Apply(fs); err != nil {
			t.Fatal(err)
		}
		s.Start()
		stop = func() { _ = s.Shutdown(context.Background()) }
	case "gocron-singleton", "gocron-plain":
		s, _ := gocron.NewScheduler()
		start := time.Now().Add(100 * time.Millisecond)
		for i := range n {
			opts := []gocron.JobOption{gocron.WithStartAt(gocron.WithStartDateTime(start.Add(time.Duration(i) * interval / time.Duration(n))))}
			if mode == "gocron-singleton" {
				opts = append(opts, gocron.WithSingletonMode(gocron.LimitModeReschedule))
			}
			if _, err := s.NewJob(gocron.DurationJob(interval), gocron.NewTask(func() {}), opts...); err != nil {
				t.Fatal(err)
			}
		}
		s.Start()
		stop = func() { _ = s.Shutdown() }
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	time.Sleep(warm)
	mu.Lock()
	late = late[:0]
	mu.Unlock()
	cpu0, t0 := cpuTime(t), time.Now()
	time.Sleep(window)
	cpu := cpuTime(t) - cpu0
	wall := time.Since(t0)
	runtime.GC()
	rss1, g1 := rss(t), runtime.NumGoroutine()
	stop()
	t.Logf("%s: %d jobs every %s: RSS +%.1f MB (%.1f KB/job), goroutines %d -> %d, CPU %.1f%% of one core",
		mode, n, interval, float64(rss1-rss0)/(1<<20), float64(rss1-rss0)/1024/float64(n), g0, g1, 100*cpu.Seconds()/wall.Seconds())
	if len(late) > 0 {
		slices.Sort(late)
		t.Logf("runs %d (%.0f/s), lateness p50 %s p99 %s max %s", len(late), float64(len(late))/wall.Seconds(),
			late[len(late)/2], late[len(late)*99/100], late[len(late)-1])
	}
}

func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip(err)
	}
	pages, _ := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Skip(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
