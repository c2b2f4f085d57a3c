package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/daemon"
)

// runInProcess runs the daemon's own code (internal/daemon: loader,
// runner, scheduler, sqlite store, metrics, HTTP endpoints) inside this
// process, so that a CPU profile of the window can be taken: the daemon
// has no pprof endpoint. Only the flow-directory watcher of `authwatch
// run` is missing. The figures include this program's own sampling (a
// /proc read per second), which is negligible.
func runInProcess(ctx context.Context, e *env, sc scenario, r *result) error {
	tg, err := startInProcess(ctx, e, sc, "inprocess-"+sc.label, 0)
	if err != nil {
		return err
	}
	f, err := os.Create(e.o.profile)
	if err != nil {
		_, _ = tg.stop()
		return err
	}
	var perr error
	err = measureDaemon(ctx, e, sc, r, tg,
		func() { perr = pprof.StartCPUProfile(f) },
		func() {
			pprof.StopCPUProfile()
			perr = errors.Join(perr, f.Close(), writeHeapProfile(e.o.profile+".heap"))
		})
	if perr != nil {
		return fmt.Errorf("cpu profile: %w", perr)
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: CPU profile of the window in %s (go tool pprof -top %s), heap profile at its end in %s.heap\n", e.o.profile, e.o.profile, e.o.profile)
	return err
}

// startInProcess starts internal/daemon in this process on sc's flows.
func startInProcess(ctx context.Context, e *env, sc scenario, name string, failEvery int) (*target, error) {
	dir, flowsDir, stateDir, listen, err := e.prepare(sc, name, failEvery)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(os.Setenv(secretEnv, clientSec), os.Setenv(badSecEnv, "not-the-secret")); err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.FlowsDir, cfg.StateDir, cfg.Listen, cfg.MaxConcurrent = flowsDir, stateDir, listen, e.o.maxConcurrent
	logPath := filepath.Join(dir, "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := daemon.New(cfg, log, daemon.SystemdNotifier{})
	if err != nil {
		logf.Close()
		return nil, err
	}
	dctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(dctx, make(chan struct{})) }()
	stop := func() (time.Duration, error) {
		defer logf.Close()
		t0 := time.Now()
		cancel()
		select {
		case err := <-done:
			return time.Since(t0), err
		case <-time.After(60 * time.Second):
			return time.Since(t0), errors.New("the in-process daemon did not stop within 60 s")
		}
	}
	if err := waitHTTP(ctx, "http://"+listen+"/readyz", 120*time.Second, nil); err != nil {
		_, _ = stop()
		return nil, err
	}
	return &target{pid: os.Getpid(), metrics: "http://" + listen, stateDir: stateDir, logPath: logPath, stop: stop}, nil
}

// writeHeapProfile writes a heap profile after a GC.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}

// runtimeGC reads this process's live heap (as marked by the last GC) and
// the GC's share of the CPU it used since it started (runtime/metrics:
// an estimate that counts the mark assists of allocating goroutines).
func runtimeGC() (liveBytes, gcShare float64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		liveBytes = float64(s[0].Value.Uint64())
	}
	if s[1].Value.Kind() == metrics.KindFloat64 {
		if used := s[2].Value.Float64() - s[3].Value.Float64(); used > 0 {
			gcShare = s[1].Value.Float64() / used
		}
	}
	return liveBytes, gcShare
}
