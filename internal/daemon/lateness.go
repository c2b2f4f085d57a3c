package daemon

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/scheduler"
)

// Runs that start late mean the monitor falls behind its schedule (a busy
// machine, a fixed max_concurrent too low, a slow target holding every
// slot, a slow store): besides authwatch_scheduler_lateness_seconds, the
// log warns once when the p99 lateness over the last minute (starts not
// made because the flow was behind count as late) or the wait of a run
// still waiting for a slot exceeds lateThreshold, and says once when it is
// back under; /healthz is "degraded" with runs_late meanwhile, and
// authwatch_scheduler_runs_late is 1.

// lateWindow is how far back the lateness check looks; late runs leave it
// a minute after they started, which also keeps the warning from flapping.
const lateWindow = time.Minute

// maxLateThreshold caps the lateness that counts as late.
const maxLateThreshold = time.Second

// minLateRuns is the fewest late runs in the window that warn: one late
// run is an outlier (a GC pause, a suspended VM), not a monitor behind.
const minLateRuns = 3

// lateThreshold is the lateness that counts as late: a tenth of the
// shortest interval, at most maxLateThreshold.
func lateThreshold(shortest time.Duration) time.Duration {
	if shortest <= 0 {
		return maxLateThreshold
	}
	return min(maxLateThreshold, shortest/10)
}

// lateWatch counts runs and late runs per second over lateWindow.
type lateWatch struct {
	threshold atomic.Int64 // time.Duration; 0: maxLateThreshold
	warned    atomic.Bool  // the warning is logged and the all-clear is not
	// lastBehind is when a check last found runs late (Unix ns): the
	// all-clear waits for a whole lateWindow without, so that a short
	// saturation every minute (cron flows at :00) does not log a warning
	// and an all-clear every minute.
	lastBehind atomic.Int64

	mu    sync.Mutex
	slots [int(lateWindow / time.Second)]lateSlot
}

type lateSlot struct {
	sec        int64 // Unix second the counts belong to
	runs, late int
	worst      time.Duration
}

// setFlows sets the threshold from the flows' shortest interval.
func (w *lateWatch) setFlows(fs []*flows.Flow, interval func(*flows.Flow) time.Duration) {
	var shortest time.Duration
	for _, f := range fs {
		if d := interval(f); d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	w.threshold.Store(int64(lateThreshold(shortest)))
}

func (w *lateWatch) limit() time.Duration {
	if t := time.Duration(w.threshold.Load()); t > 0 {
		return t
	}
	return maxLateThreshold
}

// observe records one run that started d late at now.
func (w *lateWatch) observe(d time.Duration, now time.Time) { w.add(d, d > w.limit(), now) }

// observeBehind records a start not made at now because the flow's
// previous run still waited for a slot or was still being recorded: a late
// run of unknown lateness.
func (w *lateWatch) observeBehind(now time.Time) { w.add(0, true, now) }

func (w *lateWatch) add(d time.Duration, late bool, now time.Time) {
	sec := now.Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.slots[sec%int64(len(w.slots))]
	if s.sec != sec {
		*s = lateSlot{sec: sec}
	}
	s.runs++
	if late {
		s.late++
	}
	s.worst = max(s.worst, d)
}

// lateReport is what /healthz and the log say about late runs.
type lateReport struct {
	Runs, Late int           // runs started (or behind) within lateWindow, and those late
	Worst      time.Duration // the latest of them
	Threshold  time.Duration
	Load       scheduler.Load
}

// report sums the window ending at now, with the scheduler's load.
func (w *lateWatch) report(now time.Time, load scheduler.Load) lateReport {
	r := lateReport{Threshold: w.limit(), Load: load}
	oldest := now.Add(-lateWindow).Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.slots {
		if s.sec > oldest && s.sec <= now.Unix() {
			r.Runs, r.Late, r.Worst = r.Runs+s.runs, r.Late+s.late, max(r.Worst, s.worst)
		}
	}
	return r
}

// behind reports whether runs start late: more than 1 % of the window's
// runs (its p99) and at least minLateRuns were late, or a run waits for a
// slot longer than the threshold now.
func (r lateReport) behind() bool {
	return (r.Late >= minLateRuns && r.Late*100 > r.Runs) || r.Load.OldestWaiting > r.Threshold
}

// healthDetail is /healthz's runs_late: nil when runs start on time and
// no warning stands (warned: the log's warning is not yet cleared).
func (r lateReport) healthDetail(warned bool) map[string]any {
	if !r.behind() && !warned {
		return nil
	}
	return map[string]any{"runs": r.Runs, "late_runs": r.Late, "worst_ms": r.Worst.Milliseconds(),
		"threshold_ms": r.Threshold.Milliseconds(), "waiting": r.Load.Waiting, "oldest_waiting_ms": r.Load.OldestWaiting.Milliseconds(),
		"running": r.Load.Running, "concurrency_limit": r.Load.Limit}
}

// recentLateness reports the last minute's late runs.
func (m *Main) recentLateness(now time.Time) lateReport {
	return m.late.report(now, m.sched.Load())
}

// checkLateness logs when runs start and stop being late (once each).
func (m *Main) checkLateness(now time.Time) {
	r := m.recentLateness(now)
	behind := r.behind()
	if behind {
		m.late.lastBehind.Store(now.UnixNano())
	}
	calm := now.Sub(time.Unix(0, m.late.lastBehind.Load())) >= lateWindow
	switch {
	case behind && m.late.warned.CompareAndSwap(false, true):
		m.log.Warn("runs start late: the monitor falls behind its schedule; "+
			"give the machine more CPU, raise max_concurrent (or set it to 0, the adaptive default), or lengthen every:",
			"late_runs", r.Late, "runs", r.Runs, "window", lateWindow.String(), "threshold", r.Threshold.String(),
			"worst", r.Worst.Round(time.Millisecond).String(), "waiting", r.Load.Waiting,
			"oldest_waiting", r.Load.OldestWaiting.Round(time.Millisecond).String(), "concurrency_limit", r.Load.Limit)
	case !behind && calm && m.late.warned.CompareAndSwap(true, false):
		m.log.Info("runs start on time again: the p99 lateness over the last minute is under the threshold",
			"threshold", r.Threshold.String(), "runs", r.Runs)
	}
}
