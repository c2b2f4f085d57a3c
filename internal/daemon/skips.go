package daemon

import (
	"slices"
	"sync"
	"time"

	"github.com/authwatch/authwatch/scheduler"
)

// Runs skipped because the previous run still ran (overlap) mean a run
// outlasts its flow's interval (a slow target, a timeout: longer than
// every:, a busy machine): besides authwatch_runs_skipped_total, the log
// warns once when skipping starts and says once when it stopped, and
// /healthz is "degraded" with the detail meanwhile. Skips for retry_after
// are the target's wish and stay a metric; starts a waiting run stands for
// (behind) are the monitor's lateness, warned about in lateness.go.

// skipQuietFloor is the least time without a skip before a flow counts
// as no longer skipping, so that intermittent skips of 1 s flows under
// contention do not flood the log with warnings and all-clears.
const skipQuietFloor = 15 * time.Second

// maxSkipExamples bounds the flows named in the log and in /healthz.
const maxSkipExamples = 5

// skipWatch remembers recent overlap skips per flow.
type skipWatch struct {
	mu     sync.Mutex
	flows  map[string]*skipEpisode
	warned bool // the warning is logged and the all-clear is not
}

type skipEpisode struct {
	last time.Time // the latest skip
	runs int       // skipped since the flow began skipping
}

// skipped records one overlap skip.
func (w *skipWatch) skipped(flow string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flows == nil {
		w.flows = map[string]*skipEpisode{}
	}
	e := w.flows[flow]
	if e == nil {
		e = &skipEpisode{}
		w.flows[flow] = e
	}
	e.last, e.runs = now, e.runs+1
}

// skipReport is what /healthz and the log say about skipping flows.
type skipReport struct {
	Flows    int      // flows that skipped within their quiet time
	Runs     int      // runs those flows skipped since they began
	Examples []string // the first flows by name
}

// recent forgets the flows quiet for long enough (twice their interval, at
// least skipQuietFloor; removed flows at once) and reports the others.
func (w *skipWatch) recent(now time.Time, every map[string]time.Duration) skipReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	var r skipReport
	for flow, e := range w.flows {
		d, ok := every[flow]
		if !ok || now.Sub(e.last) > max(2*d, skipQuietFloor) {
			delete(w.flows, flow)
			continue
		}
		r.Flows++
		r.Runs += e.runs
		r.Examples = append(r.Examples, flow)
	}
	slices.Sort(r.Examples)
	r.Examples = r.Examples[:min(len(r.Examples), maxSkipExamples)]
	return r
}

// onSkip is the scheduler's OnSkip hook.
func (m *Main) onSkip(flow, why string) {
	m.markActivity()
	m.metrics.Skipped(flow, why)
	switch why {
	case scheduler.SkipOverlap:
		m.skips.skipped(flow, time.Now())
	case scheduler.SkipBehind: // a start not made is the latest of runs
		m.late.observeBehind(time.Now())
	}
}

// recentSkips reports the flows skipping runs now.
func (m *Main) recentSkips(now time.Time) skipReport {
	m.skips.mu.Lock()
	none := len(m.skips.flows) == 0
	m.skips.mu.Unlock()
	if none { // the usual case: no map of 10,000 flows per look
		return skipReport{}
	}
	every := map[string]time.Duration{}
	for _, f := range m.currentFlows() {
		every[f.Name] = m.sched.Interval(f) // a cron flow's gap too, or it flaps every skipQuietFloor
	}
	return m.skips.recent(now, every)
}

// checkSkips logs when flows start and stop skipping runs (once each).
func (m *Main) checkSkips(now time.Time) {
	r := m.recentSkips(now)
	m.skips.mu.Lock()
	defer m.skips.mu.Unlock()
	switch {
	case r.Flows > 0 && !m.skips.warned:
		m.skips.warned = true
		m.log.Warn("runs skipped: the previous run was still running at the next start (overlap): a run outlasts its every: interval; "+
			"look at the target, lengthen every: or shorten timeout:, or give the machine more CPU",
			"flows", r.Flows, "skipped_runs", r.Runs, "examples", r.Examples)
	case r.Flows == 0 && m.skips.warned:
		m.skips.warned = false
		m.log.Info("runs no longer skipped: every flow ran at its planned starts for twice its every: (at least 15s)")
	}
}

// healthDetail is /healthz's runs_skipped: nil when no flow skips.
func (r skipReport) healthDetail() map[string]any {
	if r.Flows == 0 {
		return nil
	}
	return map[string]any{"why": scheduler.SkipOverlap, "flows": r.Examples, "flow_count": r.Flows, "runs": r.Runs}
}
