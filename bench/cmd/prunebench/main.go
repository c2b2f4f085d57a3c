// Command prunebench times the daemon's hourly history prune on a large
// state database, and how long RecordRun waits behind it: the store has a
// single writer connection, and a flow stays busy (its next run skips as
// an overlap) until its result is recorded.
//
// It fills a fresh database in a temporary directory with -flows × -runs
// runs of about -blob bytes each, through the store's own RecordRun (group
// commit), then calls Prune with MaxRunsPerFlow = -keep while one
// goroutine records a run every 10 ms and notes the slowest RecordRun.
//
//	go run ./bench/cmd/prunebench -flows 200 -runs 1360 -keep 1000
//
// With the defaults, 2,000 flows every 10 s accumulate 360 runs per flow
// per hour; -runs 1360 -keep 1000 is one hour of excess for -flows of them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

func main() {
	flows := flag.Int("flows", 200, "flows")
	runs := flag.Int("runs", 1360, "runs per flow to write")
	keep := flag.Int("keep", 1000, "MaxRunsPerFlow of the prune")
	blob := flag.Int("blob", 500, "approximate size of a run's steps JSON")
	workers := flag.Int("workers", 64, "concurrent RecordRun callers while filling")
	flag.Parse()
	if *flows < 1 || *runs < 1 || *keep < 1 || *flows**runs > 20_000_000 {
		fmt.Fprintln(os.Stderr, "prunebench: need flows, runs, keep >= 1 and flows*runs <= 20M")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "prunebench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "authwatch.db")
	st, err := sqlite.Open(path)
	if err != nil {
		fail(err)
	}
	defer st.Close()

	steps, _ := json.Marshal([]map[string]any{{"id": "token", "kind": "client_credentials", "status": "passed",
		"detail": strings.Repeat("x", max(0, *blob-120))}})
	ctx := context.Background()
	base := time.Now().Add(-time.Duration(*runs) * 10 * time.Second)
	total := *flows * *runs
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				f, k := i%*flows, i / *flows
				r := store.Run{Flow: fmt.Sprintf("bench-%05d", f), Start: base.Add(time.Duration(k) * 10 * time.Second),
					DurationMS: 1.5, OK: true, Steps: steps}
				if _, err := st.RecordRun(ctx, r); err != nil {
					fail(err)
				}
			}
		}()
	}
	wg.Wait()
	fill := time.Since(t0)
	size := dirSize(dir)
	fmt.Printf("filled %d runs (%d flows × %d) in %s; db+wal %.1f MiB\n", total, *flows, *runs, fill.Round(time.Millisecond), float64(size)/(1<<20))

	// A recorder that keeps writing while the prune runs.
	stop := make(chan struct{})
	var slowest time.Duration
	var recorded int
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 360000; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			t := time.Now()
			if _, err := st.RecordRun(ctx, store.Run{Flow: "bench-probe", Start: time.Now(), OK: true, Steps: steps}); err != nil {
				fail(err)
			}
			slowest = max(slowest, time.Since(t))
			recorded++
		}
	}()
	time.Sleep(200 * time.Millisecond)
	t1 := time.Now()
	n, err := st.Prune(ctx, time.Now(), store.Retention{MaxAge: 30 * 24 * time.Hour, MaxRunsPerFlow: *keep})
	took := time.Since(t1)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	if err != nil {
		fail(err)
	}
	fmt.Printf("prune deleted %d runs in %s (%.1f µs per deleted run); slowest RecordRun meanwhile %s (%d recorded)\n",
		n, took.Round(time.Millisecond), float64(took.Microseconds())/float64(max(n, 1)), slowest.Round(time.Millisecond), recorded)
}

func dirSize(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "prunebench:", err)
	os.Exit(1)
}
