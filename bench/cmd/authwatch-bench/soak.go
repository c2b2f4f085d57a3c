package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// soakRow is one sample of the soak.
type soakRow struct {
	elapsed    float64 // s
	rss, hwm   int64   // KiB
	goroutines float64
	threads    int
	fds        int
	dbBytes    int64
	cpu        float64 // s
	runs       float64
	failed     float64
	skipped    float64
	heapInuse  float64 // bytes
	heapObj    float64
	stackInuse float64 // bytes
	// In this process only (-profile), from runtime/metrics: the heap
	// marked live by the last GC, and the GC's share of the CPU the
	// process used since the start.
	heapLive, gcShare float64
}

var soakHeader = []string{"elapsed_s", "rss_kib", "vmhwm_kib", "goroutines", "threads", "fds", "db_bytes", "cpu_s", "runs", "failed_runs", "skipped_runs", "go_heap_inuse_bytes", "go_heap_objects", "go_stack_inuse_bytes", "go_heap_live_bytes", "gc_cpu_share"}

func (r soakRow) record() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return []string{f(r.elapsed), fmt.Sprint(r.rss), fmt.Sprint(r.hwm), f(r.goroutines), fmt.Sprint(r.threads), fmt.Sprint(r.fds),
		fmt.Sprint(r.dbBytes), f(r.cpu), f(r.runs), f(r.failed), f(r.skipped), f(r.heapInuse), f(r.heapObj), f(r.stackInuse), f(r.heapLive), f(r.gcShare)}
}

// runSoak runs the daemon with o.flows flows (every o.failEvery-th one
// failing) for o.duration against the node IdP and samples it every
// o.soakSample into a CSV, then prints start/mid/end and the trends.
func runSoak(ctx context.Context, e *env) error {
	o := e.o
	sc := scenario{label: "soak", tokenURL: e.idp.url + "/token", flows: o.flows, interval: o.interval}
	start := e.startDaemon
	if o.profile != "" {
		// In this process, with heap profiles (after a GC) after the first
		// two samples and at the end: go tool pprof -diff_base.
		start = func(ctx context.Context, sc scenario, name string, failEvery int) (*target, error) {
			return startInProcess(ctx, e, sc, name, failEvery)
		}
	}
	tg, err := start(ctx, sc, "soak", o.failEvery)
	if err != nil {
		return err
	}
	// The start's own peak: the flows are loaded and the first runs only
	// begin.
	_, startHWM, _ := memKB(tg.pid)
	stopped := false
	defer func() {
		if !stopped {
			_, _ = tg.stop()
		}
	}()
	path := o.csvOut
	if path == "" {
		path = filepath.Join(e.tmp, "soak.csv")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	_ = w.Write(soakHeader)
	fmt.Fprintf(os.Stderr, "authwatch-bench: soak of %s, %d flows @ %s, sampling every %s into %s\n", o.duration, o.flows, o.interval, o.soakSample, path)

	t0 := time.Now()
	cpu0, _ := cpuSeconds(tg.pid)
	var rows []soakRow
	n := int(o.duration / o.soakSample)
	for i := 1; i <= n; i++ {
		if err := sleepCtx(ctx, time.Until(t0.Add(time.Duration(i)*o.soakSample))); err != nil {
			break
		}
		s, err := getMetrics(ctx, tg.metrics)
		if err != nil {
			return fmt.Errorf("soak: sample %d: %w", i, err)
		}
		rss, hwm, _ := memKB(tg.pid)
		cpu, _ := cpuSeconds(tg.pid)
		row := soakRow{elapsed: time.Since(t0).Seconds(), rss: rss, hwm: hwm, goroutines: s.sum("go_goroutines", nil),
			threads: threads(tg.pid), fds: openFDs(tg.pid), dbBytes: dirSize(tg.stateDir, "authwatch.db"), cpu: cpu - cpu0,
			runs: s.sum("authwatch_flow_runs_total", nil), failed: s.sum("authwatch_flow_runs_total", map[string]string{"result": "fail"}),
			skipped: s.sum("authwatch_runs_skipped_total", nil), heapInuse: s.sum("go_memstats_heap_inuse_bytes", nil),
			heapObj: s.sum("go_memstats_heap_objects", nil), stackInuse: s.sum("go_memstats_stack_inuse_bytes", nil)}
		if tg.pid == os.Getpid() {
			row.heapLive, row.gcShare = runtimeGC()
		}
		rows = append(rows, row)
		_ = w.Write(row.record())
		w.Flush()
		if o.profile != "" && (i == 2 || i == n) {
			p := fmt.Sprintf("%s.heap-%04ds", o.profile, int(row.elapsed))
			if err := writeHeapProfile(p); err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "authwatch-bench: heap profile", p)
		}
		if i%10 == 0 || i == 1 {
			fmt.Fprintf(os.Stderr, "authwatch-bench: soak %4.0fs rss %.1f MiB goroutines %.0f fds %d db %.1f MiB runs %.0f\n",
				row.elapsed, float64(rss)/mib, row.goroutines, row.fds, float64(row.dbBytes)/mib/mib, row.runs)
		}
	}
	took, err := tg.stop()
	stopped = true
	if err != nil {
		return err
	}
	if len(rows) < 3 {
		return fmt.Errorf("soak: only %d samples", len(rows))
	}
	printSoak(os.Stdout, e, rows, took, path)
	fmt.Printf("VmHWM when the daemon answered /readyz (flows loaded, first runs beginning): %.1f MiB\n", float64(startHWM)/mib)
	return nil
}

func printSoak(w io.Writer, e *env, rows []soakRow, stop time.Duration, path string) {
	first, mid, last := rows[0], rows[len(rows)/2], rows[len(rows)-1]
	half := rows[len(rows)/2:]
	slope := func(get func(soakRow) float64) float64 { // per hour, least squares over the second half
		var sx, sy, sxx, sxy float64
		for _, r := range half {
			x, y := r.elapsed/3600, get(r)
			sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		}
		k := float64(len(half))
		den := k*sxx - sx*sx
		if den == 0 {
			return 0
		}
		return (k*sxy - sx*sy) / den
	}
	minmax := func(get func(soakRow) float64) (lo, hi float64) {
		lo, hi = get(rows[0]), get(rows[0])
		for _, r := range rows {
			lo, hi = min(lo, get(r)), max(hi, get(r))
		}
		return
	}
	fmt.Fprintf(w, "\n### Soak: %d flows @ %s (every %dth failing), %.0f s, %d samples\n\n", e.o.flows, e.o.interval, e.o.failEvery, last.elapsed, len(rows))
	fmt.Fprintf(w, "| | at %.0f s | at %.0f s | at %.0f s | min – max | trend (2nd half, per hour) |\n", first.elapsed, mid.elapsed, last.elapsed)
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	type col struct {
		name string
		get  func(soakRow) float64
		f    string
	}
	for _, c := range []col{
		{"RSS (MiB)", func(r soakRow) float64 { return float64(r.rss) / mib }, "%.1f"},
		{"Go heap in use (MiB)", func(r soakRow) float64 { return r.heapInuse / mib / mib }, "%.1f"},
		{"Go heap objects (k)", func(r soakRow) float64 { return r.heapObj / 1000 }, "%.1f"},
		{"Go stacks in use (MiB)", func(r soakRow) float64 { return r.stackInuse / mib / mib }, "%.1f"},
		{"Go heap live after the last GC (MiB, in process)", func(r soakRow) float64 { return r.heapLive / mib / mib }, "%.1f"},
		{"GC share of the process's CPU since start (%, in process)", func(r soakRow) float64 { return 100 * r.gcShare }, "%.1f"},
		{"goroutines", func(r soakRow) float64 { return r.goroutines }, "%.0f"},
		{"OS threads", func(r soakRow) float64 { return float64(r.threads) }, "%.0f"},
		{"open fds", func(r soakRow) float64 { return float64(r.fds) }, "%.0f"},
		{"state db + wal (MiB)", func(r soakRow) float64 { return float64(r.dbBytes) / mib / mib }, "%.2f"},
		{"runs (total)", func(r soakRow) float64 { return r.runs }, "%.0f"},
		{"failed runs (total)", func(r soakRow) float64 { return r.failed }, "%.0f"},
		{"skipped runs (total)", func(r soakRow) float64 { return r.skipped }, "%.0f"},
		{"CPU (s, total)", func(r soakRow) float64 { return r.cpu }, "%.1f"},
	} {
		lo, hi := minmax(c.get)
		fmt.Fprintf(w, "| %s | "+c.f+" | "+c.f+" | "+c.f+" | "+c.f+" – "+c.f+" | %+.3g |\n", c.name, c.get(first), c.get(mid), c.get(last), lo, hi, slope(c.get))
	}
	fmt.Fprintf(w, "\nVmHWM at the end: %.1f MiB; CPU %.3f s per 1,000 runs; SIGTERM to exit %.2f s; CSV: %s\n",
		float64(last.hwm)/mib, last.cpu/max(last.runs, 1)*1000, stop.Seconds(), path)
}
