package main

import (
	"fmt"
	"io"
)

func printResult(w io.Writer, r *result) {
	d, m := r.Daemon, r.Minimal
	fmt.Fprintf(w, "\n### %s (target %.0f runs/s, window %.0f s)\n\n", r.Scenario, r.TargetRate, r.WindowS)
	fmt.Fprintln(w, "| | authwatch run | minimal Go client | ratio |")
	fmt.Fprintln(w, "|---|---|---|---|")
	row := func(name, a, b, ratio string) { fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, a, b, ratio) }
	row("runs achieved / planned", fmt.Sprintf("%.0f / %.0f", d.Runs, d.Planned), fmt.Sprintf("%.0f / %.0f", m.Runs, m.Planned), "")
	row("runs/s", fmt.Sprintf("%.1f", d.RunsPerS), fmt.Sprintf("%.1f", m.RunsPerS), "")
	row("failed runs", fmtMap(d.FailReasons), fmtMap(m.FailReasons), "")
	row("skipped runs", fmtMap(d.Skipped), fmtMap(m.Skipped), "")
	row("start lateness p50 / p99", fmt.Sprintf("%.2f / %.2f ms (%s)", d.LatenessP50, d.LatenessP99, d.LatenessNote),
		fmt.Sprintf("%.2f / %.2f ms (%s)", m.LatenessP50, m.LatenessP99, m.LatenessNote), "")
	row("CPU s per 1,000 runs", fmt.Sprintf("%.3f", d.CPUPer1000), fmt.Sprintf("%.3f", m.CPUPer1000), fmtRatio(d.CPUPer1000, m.CPUPer1000))
	row("CPU (cores, window average)", fmt.Sprintf("%.3f", d.Cores), fmt.Sprintf("%.3f", m.Cores), "")
	row("steady RSS (median, 2nd half)", fmt.Sprintf("%.1f MiB", d.SteadyRSSMiB), fmt.Sprintf("%.1f MiB", m.SteadyRSSMiB), fmtRatio(d.SteadyRSSMiB, m.SteadyRSSMiB))
	row("max RSS in window", fmt.Sprintf("%.1f MiB", d.MaxRSSMiB), fmt.Sprintf("%.1f MiB", m.MaxRSSMiB), "")
	row("peak RSS (VmHWM, whole life)", fmt.Sprintf("%.1f MiB", d.PeakRSSMiB), fmt.Sprintf("%.1f MiB", m.PeakRSSMiB), "")
	row("goroutines / threads / fds at end", fmt.Sprintf("%.0f / %d / %d", d.Goroutines, d.Threads, d.FDs), fmt.Sprintf("max runs in flight %d / %d / %d", m.MaxInFlight, m.Threads, m.FDs), "")
	if m.RunP50MS > 0 {
		row("run duration p50 / p99", "", fmt.Sprintf("%.2f / %.2f ms", m.RunP50MS, m.RunP99MS), "")
	}
	row("IdP CPU (cores)", fmt.Sprintf("%.3f", d.IdPCores), fmt.Sprintf("%.3f", m.IdPCores), "")
	row("nginx CPU (cores)", fmt.Sprintf("%.3f", d.NginxCores), fmt.Sprintf("%.3f", m.NginxCores), "")
	row("machine busy / other processes (cores)", fmt.Sprintf("%.2f / %.2f", d.MachineCores, d.OtherCores), fmt.Sprintf("%.2f / %.2f", m.MachineCores, m.OtherCores), "")
	if d.DBBytes > 0 {
		row("state db after stop", fmt.Sprintf("%.1f MiB, %.0f runs, %.0f B/run", float64(d.DBBytes)/mib/mib, d.DBRuns, float64(d.DBBytes)/max(d.DBRuns, 1)), "", "")
	}
	if d.StopS > 0 {
		row("SIGTERM to exit", fmt.Sprintf("%.2f s", d.StopS), "", "")
	}
	if d.ScrapeBytes > 0 {
		row("/metrics size, scrape time", fmt.Sprintf("%.1f KiB, %.0f ms", float64(d.ScrapeBytes)/1024, d.ScrapeMS), "", "")
	}
	row("log lines (warn and above)", fmt.Sprintf("%d", d.LogLines), "", "")
	row("wall time of the run", fmt.Sprintf("%.0f s", d.WallS), fmt.Sprintf("%.0f s", m.WallS), "")
	if m.FirstError != "" {
		fmt.Fprintf(w, "\nminimal's first error: %s\n", m.FirstError)
	}
}

func printSummary(w io.Writer, rs []*result) {
	fmt.Fprintln(w, "\n### Summary")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| flows | interval | token endpoint | target runs/s | achieved runs/s | skipped | failed | lateness p50 / p99 | CPU s/1k runs authwatch | minimal | ratio | steady RSS | peak RSS | IdP cores | nginx cores |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		d, m := r.Daemon, r.Minimal
		fmt.Fprintf(w, "| %d | %gs | %s | %.0f | %.1f | %.0f | %.0f | %.1f / %.1f ms | %.3f | %.3f | %s | %.0f MiB | %.0f MiB | %.2f | %.2f |\n",
			r.Flows, r.IntervalS, r.Token, r.TargetRate, d.RunsPerS, total(d.Skipped), d.Failed, d.LatenessP50, d.LatenessP99,
			d.CPUPer1000, m.CPUPer1000, fmtRatio(d.CPUPer1000, m.CPUPer1000), d.SteadyRSSMiB, d.PeakRSSMiB, d.IdPCores, d.NginxCores)
	}
}

func fmtRatio(a, b float64) string {
	r := ratio(a, b)
	if r != r { // NaN
		return "–"
	}
	return fmt.Sprintf("%.2fx", r)
}
