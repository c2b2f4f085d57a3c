package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/authwatch/authwatch/internal/config"
)

// Targets of issue 15.
const (
	targetLatenessP99MS  = 50
	targetRSSMiB         = 300
	targetCPURatio       = 1.2
	targetOverviewP95MS  = 200
	targetFlowPageP95MS  = 100
	targetAPIFirstBytes  = 1 << 20
	targetFleetStoreByte = 2e9
)

func sortStrings(s []string) { sort.Strings(s) }

// verdict is one target for one binary.
type verdict struct {
	ok     bool
	na     bool
	figure string
}

func (v verdict) String() string {
	switch {
	case v.na:
		return "– " + v.figure
	case v.ok:
		return "**met**: " + v.figure
	}
	return "**missed**: " + v.figure
}

// projectedBytes is the state store for the whole fleet over the history
// days: from the prefill's bytes per run when this binary's store wrote it
// (the tree's), else from the growth of its database over the runs it
// recorded.
func projectedBytes(rep *targetsReport, b *binaryRun) (float64, string) {
	perFleet := float64(rep.Flows) * rep.HistoryDays * 86400 / rep.IntervalS
	growth := ""
	var perRun float64
	if runs := b.RunsRecorded; runs > 0 {
		perRun = float64(b.DBBytesEnd-b.DBBytesStart) / runs
		growth = fmt.Sprintf("%.0f B/run from the growth of its database over the %.0f runs it recorded", perRun, runs)
	}
	if rep.Prefill != nil && b.Label == "after" {
		how := fmt.Sprintf("%.0f B/run from the prefill", rep.Prefill.BytesPerRun)
		if growth != "" {
			how += "; " + growth + ": " + fmtBytes(perRun*perFleet)
		}
		return rep.Prefill.ProjectedBytes, how
	}
	return perRun * perFleet, growth
}

// boundFileBytes is the file size retention.max_size keeps the store
// under for the tree's binary, which has the default bound unless the
// -history-config given to it sets another (0: no claim). historybench
// measured the file at 5 % over the bound between prunes.
func boundFileBytes(rep *targetsReport, b *binaryRun) float64 {
	if b.Label != "after" || strings.Contains(rep.HistoryConfig, "max_size") {
		return 0
	}
	return float64(config.DefaultMaxSize) * 1.05
}

func verdicts(rep *targetsReport, b *binaryRun) [][2]string {
	d := b.Steady
	var rows [][2]string
	add := func(name string, v verdict) { rows = append(rows, [2]string{name, v.String()}) }
	sk := total(d.Skipped)
	add("0 skipped runs (steady window)", verdict{ok: sk == 0, figure: fmt.Sprintf("%.0f skipped, %.0f of %.0f planned runs done", sk, d.Runs, d.Planned)})
	add(fmt.Sprintf("lateness p99 < %d ms", targetLatenessP99MS), verdict{ok: d.LatenessP99 < targetLatenessP99MS, figure: fmt.Sprintf("%.1f ms (%s)", d.LatenessP99, d.LatenessNote)})
	add(fmt.Sprintf("RSS < %d MiB (VmHWM, whole life)", targetRSSMiB), verdict{ok: d.PeakRSSMiB > 0 && d.PeakRSSMiB < targetRSSMiB,
		figure: fmt.Sprintf("%.0f MiB peak, %.0f MiB steady", d.PeakRSSMiB, d.SteadyRSSMiB)})
	r := ratio(d.CPUPer1000, rep.Minimal.CPUPer1000)
	add(fmt.Sprintf("CPU per run <= %.1fx the minimal program", targetCPURatio), verdict{ok: r <= targetCPURatio, na: r != r,
		figure: fmt.Sprintf("%s (%.3f vs %.3f CPU s per 1,000 runs)", fmtRatio(d.CPUPer1000, rep.Minimal.CPUPer1000), d.CPUPer1000, rep.Minimal.CPUPer1000)})
	pageVerdict := func(prefix string, limit float64, byBytes bool) {
		for _, p := range b.Pages {
			if !strings.HasPrefix(p.Name, prefix) {
				continue
			}
			fig := fmt.Sprintf("p95 %.1f ms, max %.1f ms, %s, %d requests", p.P95MS, p.MaxMS, fmtBytes(float64(p.Bytes)), p.N)
			if p.Errors > 0 {
				fig += fmt.Sprintf(", %d errors (%s)", p.Errors, p.FirstErr)
			}
			ok := p.N > 0 && p.Errors == 0 && p.P95MS < limit
			if byBytes {
				ok = p.N > 0 && p.Errors == 0 && float64(p.Bytes) < limit
			}
			name := p.Name + fmt.Sprintf(" p95 < %.0f ms", limit)
			if byBytes {
				name = p.Name + " < 1 MiB unasked (size, not time: the issue's target is pagination)"
			}
			add(name, verdict{ok: ok, figure: fig})
		}
	}
	pageVerdict("overview", targetOverviewP95MS, false)
	pageVerdict("flow page", targetFlowPageP95MS, false)
	pageVerdict("flows API", targetAPIFirstBytes, true)
	if pb, how := projectedBytes(rep, b); how != "" {
		v := verdict{ok: pb < targetFleetStoreByte, figure: fmt.Sprintf("%s projected (%s)", fmtBytes(pb), how)}
		if bound := boundFileBytes(rep, b); !v.ok && bound > 0 && bound < targetFleetStoreByte {
			v = verdict{ok: true, figure: fmt.Sprintf("by retention.max_size: the store is pruned to its default %s of live bytes (file about %s, the 5 %% over the bound measured by historybench, docs/benchmarks.md \"History tiers\"), dropping the oldest whole records first; without the bound %s", fmtBytes(float64(config.DefaultMaxSize)), fmtBytes(bound), v.figure)}
		}
		add(fmt.Sprintf("state store for %d flows over %.0f days < 2 GB", rep.Flows, rep.HistoryDays), v)
	}
	if c := b.Contention; c != nil {
		late := c.LatenessP99 >= targetLatenessP99MS
		said := c.Warnings.LateOrSkip > 0
		for s := range c.Healthz {
			if !strings.HasPrefix(s, "ok") {
				said = true
			}
		}
		sk := total(c.Skipped)
		fig := fmt.Sprintf("%.0f skipped, %.0f of %.0f planned runs done, lateness p99 %.1f ms; %s", sk, c.Runs, c.Planned, c.LatenessP99, saidSo(c))
		add("contention: runs delayed, not lost, and the daemon says so", verdict{ok: sk == 0 && (!late && sk == 0 || said), figure: fig})
	}
	return rows
}

// saidSo is what the daemon said in the contention window.
func saidSo(c *contended) string {
	var hs []string
	for s, n := range c.Healthz {
		hs = append(hs, fmt.Sprintf("%s ×%d", s, n))
	}
	sort.Strings(hs)
	out := fmt.Sprintf("/healthz (%d polls): %s; %d warnings, %d about late or skipped runs", c.Polls, strings.Join(hs, "; "), c.Warnings.Warn, c.Warnings.LateOrSkip)
	if len(c.Warnings.Messages) > 0 {
		out += ` ("` + strings.Join(c.Warnings.Messages, `"; "`) + `")`
	}
	return out
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", b/1e9)
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// printTargets writes the report as markdown, ready for docs/benchmarks.md.
func printTargets(w io.Writer, rep *targetsReport) {
	bins := rep.Binaries
	fmt.Fprintf(w, "\n### Targets: %s, %.0f days of history configured\n\n", rep.Scenario, rep.HistoryDays)
	fmt.Fprintf(w, "Started %s, took %.0f s; %d CPUs; load average %s at the start, %s at the end. Warm-up %.0f s, steady window %.0f s",
		rep.Started.Format("2006-01-02 15:04 UTC"), rep.TookS, rep.CPUs, rep.LoadStart, rep.LoadEnd, rep.WarmupS, rep.WindowS)
	if rep.ContentionS > 0 {
		fmt.Fprintf(w, ", contention window %.0f s", rep.ContentionS)
	}
	fmt.Fprintln(w, ".")
	if p := rep.Prefill; p != nil {
		fmt.Fprintf(w, "History prefilled before the start (tree's store, RecordRun): %d flows × %d runs (%.0f days, one every %.0f s, 1 %% failing) = %d runs in %.1f s (%.0f runs/s); %s, %.0f B per run; for %d flows: %s.\n",
			p.Flows, p.RunsPerFlow, p.Days, p.EveryS, p.Runs, p.TookS, p.RunsPerS, fmtBytes(float64(p.DBBytes)), p.BytesPerRun, rep.Flows, fmtBytes(p.ProjectedBytes))
	}
	if rep.HistoryConfig != "" {
		fmt.Fprintf(w, "History configuration given: `%s`.\n", strings.ReplaceAll(strings.TrimSpace(rep.HistoryConfig), "\n", "⏎"))
	}
	fmt.Fprintln(w)
	for _, b := range bins {
		fmt.Fprintf(w, "- %s: `%s` (%s); history config: %s", b.Label, b.Binary, b.Version, b.HistoryConfig)
		if b.PrefillNote != "" {
			fmt.Fprintf(w, "; %s", b.PrefillNote)
		}
		fmt.Fprintln(w)
	}

	// Target by target.
	fmt.Fprintln(w)
	head := "| target |"
	sep := "|---|"
	for _, b := range bins {
		head += " " + b.Label + " |"
		sep += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	var table [][][2]string
	for _, b := range bins {
		table = append(table, verdicts(rep, b))
	}
	for i := range table[len(table)-1] {
		row := "| " + table[len(table)-1][i][0] + " |"
		for _, t := range table {
			cell := "–"
			for _, r := range t {
				if r[0] == table[len(table)-1][i][0] {
					cell = r[1]
				}
			}
			row += " " + cell + " |"
		}
		fmt.Fprintln(w, row)
	}

	// Side by side with the minimal program.
	fmt.Fprintln(w)
	head, sep = "| steady window |", "|---|"
	for _, b := range bins {
		head += " authwatch " + b.Label + " |"
		sep += "---|"
	}
	fmt.Fprintln(w, head+" minimal Go client |")
	fmt.Fprintln(w, sep+"---|")
	m := rep.Minimal
	row := func(name string, f func(d side) string, min string) {
		r := "| " + name + " |"
		for _, b := range bins {
			r += " " + f(b.Steady) + " |"
		}
		fmt.Fprintln(w, r+" "+min+" |")
	}
	row("runs achieved / planned", func(d side) string { return fmt.Sprintf("%.0f / %.0f", d.Runs, d.Planned) }, fmt.Sprintf("%.0f / %.0f", m.Runs, m.Planned))
	row("runs/s", func(d side) string { return fmt.Sprintf("%.1f", d.RunsPerS) }, fmt.Sprintf("%.1f", m.RunsPerS))
	row("skipped runs", func(d side) string { return fmtMap(d.Skipped) }, fmtMap(m.Skipped))
	row("failed runs", func(d side) string { return fmtMap(d.FailReasons) }, fmtMap(m.FailReasons))
	row("lateness p50 / p99", func(d side) string { return fmt.Sprintf("%.1f / %.1f ms", d.LatenessP50, d.LatenessP99) }, fmt.Sprintf("%.1f / %.1f ms (exact)", m.LatenessP50, m.LatenessP99))
	row("CPU s per 1,000 runs (ratio to minimal)", func(d side) string {
		return fmt.Sprintf("%.3f (%s)", d.CPUPer1000, fmtRatio(d.CPUPer1000, m.CPUPer1000))
	}, fmt.Sprintf("%.3f", m.CPUPer1000))
	row("CPU (cores)", func(d side) string { return fmt.Sprintf("%.3f", d.Cores) }, fmt.Sprintf("%.3f", m.Cores))
	row("steady / max in window / peak RSS", func(d side) string {
		return fmt.Sprintf("%.0f / %.0f / %.0f MiB", d.SteadyRSSMiB, d.MaxRSSMiB, d.PeakRSSMiB)
	}, fmt.Sprintf("%.0f / %.0f / %.0f MiB", m.SteadyRSSMiB, m.MaxRSSMiB, m.PeakRSSMiB))
	row("goroutines / threads / fds", func(d side) string { return fmt.Sprintf("%.0f / %d / %d", d.Goroutines, d.Threads, d.FDs) },
		fmt.Sprintf("max in flight %d / %d / %d", m.MaxInFlight, m.Threads, m.FDs))
	row("IdP / nginx (cores)", func(d side) string { return fmt.Sprintf("%.2f / %.2f", d.IdPCores, d.NginxCores) }, fmt.Sprintf("%.2f / %.2f", m.IdPCores, m.NginxCores))
	row("machine busy / other processes (cores)", func(d side) string { return fmt.Sprintf("%.2f / %.2f", d.MachineCores, d.OtherCores) },
		fmt.Sprintf("%.2f / %.2f", m.MachineCores, m.OtherCores))
	row("/metrics size, scrape time", func(d side) string { return fmt.Sprintf("%s, %.0f ms", fmtBytes(float64(d.ScrapeBytes)), d.ScrapeMS) }, "")
	brow := func(name string, f func(b *binaryRun) string) {
		r := "| " + name + " |"
		for _, b := range bins {
			r += " " + f(b) + " |"
		}
		fmt.Fprintln(w, r+" |")
	}
	brow("/healthz at the window's end", func(b *binaryRun) string { return b.SteadyHealth })
	brow("warnings in the window (late or skipped)", func(b *binaryRun) string {
		return fmt.Sprintf("%d (%d)", b.SteadyWarns.Warn, b.SteadyWarns.LateOrSkip)
	})
	brow("state db: start → after stop", func(b *binaryRun) string {
		return fmt.Sprintf("%s → %s (%.0f runs recorded)", fmtBytes(float64(b.DBBytesStart)), fmtBytes(float64(b.DBBytesEnd)), b.RunsRecorded)
	})
	brow("SIGTERM to exit", func(b *binaryRun) string { return fmt.Sprintf("%.2f s", b.StopS) })
	brow("wall time", func(b *binaryRun) string { return fmt.Sprintf("%.0f s", b.WallS) })
	if m.FirstError != "" {
		fmt.Fprintf(w, "\nminimal's first error: %s\n", m.FirstError)
	}

	// Status page.
	fmt.Fprintln(w)
	head, sep = "| status page, under load |", "|---|"
	for _, b := range bins {
		head += " " + b.Label + ": p50 / p95 / max, size |"
		sep += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	last := bins[len(bins)-1]
	for i, p := range last.Pages {
		r := fmt.Sprintf("| %s `%s` |", p.Name, p.Path)
		for _, b := range bins {
			if i >= len(b.Pages) {
				r += " – |"
				continue
			}
			q := b.Pages[i]
			cell := fmt.Sprintf("%.1f / %.1f / %.1f ms, %s (%d requests)", q.P50MS, q.P95MS, q.MaxMS, fmtBytes(float64(q.Bytes)), q.N)
			if q.Errors > 0 {
				cell += fmt.Sprintf(", %d errors: %s", q.Errors, q.FirstErr)
			}
			if q.Note != "" {
				cell += "; " + q.Note
			}
			r += " " + cell + " |"
		}
		fmt.Fprintln(w, r)
	}
	r := "| runs during the page requests: skipped, lateness p99 (window) |"
	for _, b := range bins {
		r += fmt.Sprintf(" %.0f, %.1f ms (%.0f s) |", total(b.PagesWindow.Skipped), b.PagesWindow.LatenessP99, b.PagesWindow.CPUS/max(b.PagesWindow.Cores, 1e-9))
	}
	fmt.Fprintln(w, r)

	// Contention.
	if bins[len(bins)-1].Contention == nil {
		return
	}
	fmt.Fprintln(w)
	head, sep = fmt.Sprintf("| contention: one core burnt, %.0f s |", rep.ContentionS), "|---|"
	for _, b := range bins {
		head += " " + b.Label + " |"
		sep += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	crow := func(name string, f func(c *contended) string) {
		r := "| " + name + " |"
		for _, b := range bins {
			if b.Contention == nil {
				r += " – |"
				continue
			}
			r += " " + f(b.Contention) + " |"
		}
		fmt.Fprintln(w, r)
	}
	crow("runs achieved / planned", func(c *contended) string { return fmt.Sprintf("%.0f / %.0f", c.Runs, c.Planned) })
	crow("skipped runs", func(c *contended) string { return fmtMap(c.Skipped) })
	crow("lateness p50 / p99", func(c *contended) string {
		return fmt.Sprintf("%.1f / %.1f ms (%s)", c.LatenessP50, c.LatenessP99, c.LatenessNote)
	})
	crow("daemon CPU / burner / other (cores)", func(c *contended) string {
		return fmt.Sprintf("%.2f / %.2f / %.2f", c.Cores, c.BurnerCores, max(0, c.OtherCores-c.BurnerCores))
	})
	crow("/healthz seen (polls)", func(c *contended) string {
		var hs []string
		for s, n := range c.Healthz {
			hs = append(hs, fmt.Sprintf("%s ×%d", s, n))
		}
		sort.Strings(hs)
		return strings.Join(hs, "; ")
	})
	crow("warnings (about late or skipped runs)", func(c *contended) string {
		s := fmt.Sprintf("%d (%d)", c.Warnings.Warn, c.Warnings.LateOrSkip)
		if len(c.Warnings.Messages) > 0 {
			s += `: "` + strings.Join(c.Warnings.Messages, `"; "`) + `"`
		}
		return s
	})
}
