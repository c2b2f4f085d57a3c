package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/report"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/scheduler"
)

// onResult records a run: metrics, the store (history and streaks), and a
// log line when the flow's state or reason changes. A cancelled run (we
// were stopping) is not the target's fault and only lands in the history.
func (m *Main) onResult(ev scheduler.Event) {
	m.markActivity()
	r := ev.Result
	ctx, cancel := context.WithTimeout(m.fenced(context.Background(), ev.Admission), 10*time.Second)
	defer cancel()
	if !m.isConfigured(r.Flow) {
		// Removed by a reload while it ran: keep the history, not the state.
		run := toRun(r)
		run.Location = m.recordsFrom()
		if _, err := m.store.RecordRun(ctx, run); err == nil {
			m.forgetRemoved(m.currentFlows())
		}
		return
	}
	m.baselines.check(ctx, ev.Flow, r)
	run := toRun(r)
	run.Location = m.recordsFrom()
	m.metrics.ObserveResult(r)
	prev, hadPrev := m.previousState(ctx, r.Flow)
	state, err := m.store.RecordRun(ctx, run)
	if m.fencedOff(r.Flow, err) {
		return
	}
	if err != nil {
		m.log.Error("recording a run failed", "flow", r.Flow, "err", err)
		return
	}
	m.lastState.Recorded(run, state)
	m.metrics.FailStreak(r.Flow, state.ConsecutiveFailures, state.LastReason)
	m.logOutcome(r, run, prev, hadPrev, state)
	if m.alert != nil {
		if err := m.alert.observe(ctx, r); errors.Is(err, store.ErrStaleLease) {
			// The shard moved while the run ended: its new holder steps the
			// incident from its own runs.
			m.log.Debug("incident not stepped: the flow's shard moved to another node", "flow", r.Flow)
		} else if err != nil {
			m.log.Error("recording incident events failed", "flow", r.Flow, "err", err)
		}
	}
}

// previousState is the flow's state before this run: remembered from its
// last run, or read from the store once after a start (runs of one flow
// never overlap, so the memory cannot be stale). It saves a query per run.
func (m *Main) previousState(ctx context.Context, flow string) (store.FlowState, bool) {
	if st, ok := m.lastState.Load(flow); ok {
		return st, true
	}
	prev, ok, _ := m.store.FlowState(ctx, flow)
	return prev, ok
}

func (m *Main) logOutcome(r *flows.Result, run store.Run, prev store.FlowState, hadPrev bool, now store.FlowState) {
	level, msg := slog.LevelDebug, "run"
	switch {
	case r.Cancelled:
		msg = "run cancelled"
	case !hadPrev || prev.OK != now.OK:
		level, msg = slog.LevelInfo, "flow passing"
		if !r.OK {
			level, msg = slog.LevelWarn, "flow failing"
		}
	case !r.OK && prev.LastReason != run.Reason:
		level, msg = slog.LevelWarn, "flow failing for another reason"
	}
	// Most runs change nothing and log at debug: build no line for them.
	if !m.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []any{"flow", r.Flow, "ok", r.OK, "duration_ms", run.DurationMS}
	if !r.OK {
		attrs = append(attrs, "step", run.FailedStep, "reason", run.Reason, "layer", run.Layer, "summary", run.Summary)
	}
	if msg == "flow failing for another reason" {
		attrs = append(attrs, "previous_reason", prev.LastReason)
	}
	m.log.Log(context.Background(), level, msg, attrs...)
}

// RunRecord turns a result into a history record; its steps are the same
// redacted JSON lines `authwatch check --json` prints. The demo records its
// runs with it too.
func RunRecord(r *flows.Result) store.Run { return toRun(r) }

func toRun(r *flows.Result) store.Run {
	run := store.Run{Flow: r.Flow, Start: r.Start, DurationMS: float64(r.Duration.Microseconds()) / 1000,
		WaitedMS: float64(r.Waited().Microseconds()) / 1000, OK: r.OK, Cancelled: r.Cancelled, Steps: stepsJSON(r)}
	for _, s := range r.Steps {
		if s.Status == flows.StepWarned {
			run.Warnings++
		}
		if f := s.Failure; f != nil && run.FailedStep == "" {
			run.FailedStep, run.Reason, run.Layer, run.Summary = s.ID, string(f.Reason), string(f.Reason.Layer()), f.Summary
		}
	}
	return run
}

// stepsJSON is the JSON array of the result's `check --json` lines: the
// lines end in newlines, which JSON never leaves inside a value, so each
// but the last becomes the array's comma. They are written in a pooled
// buffer and copied out at their size: one allocation, not a buffer grown
// five times, and no slack kept with the record.
func stepsJSON(r *flows.Result) []byte {
	bufp := stepsBuffers.Get().(*[]byte)
	lines, _ := report.AppendJSON((*bufp)[:0], r)
	if len(lines) > 0 && cap(lines) <= maxPooledSteps { // a huge result's buffer is not kept
		*bufp = lines
	}
	lines = bytes.TrimRight(lines, "\n")
	arr := make([]byte, len(lines)+2)
	arr[0] = '['
	copy(arr[1:], lines)
	for i := 1; i < len(arr)-1; i++ {
		if arr[i] == '\n' {
			arr[i] = ','
		}
	}
	arr[len(arr)-1] = ']'
	stepsBuffers.Put(bufp)
	return arr
}

// maxPooledSteps bounds the buffers stepsJSON keeps for the next run.
const maxPooledSteps = 64 << 10

var stepsBuffers = sync.Pool{New: func() any { return new([]byte) }}

// lastSuccessScan bounds the runs read, per failing flow, at a start to
// find its last passing run.
const lastSuccessScan = 20

// restoreFlowStates reads the flows' states from the store before their
// first run (the status page and the status line show them from memory),
// and sets their last-success metric so that a restart does not reset it:
// a passing flow's last run, or a failing flow's newest passing run among
// its last lastSuccessScan. The states come in one read of the backend;
// if it fails (a database that blinks at the start), the flows are kept
// for retryRestore, which tries again until it succeeds: until then they
// show as not yet run, or with their next run's state.
func (m *Main) restoreFlowStates(fs []*flows.Flow) {
	if len(fs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	states, err := m.db.FlowStates(ctx)
	if err != nil {
		if m.restore.add(fs) {
			m.log.Warn("flow states not read from the state store; the status page shows them once a retry succeeds", "flows", len(fs), "err", err)
		}
		return
	}
	if m.restore.succeeded() {
		m.log.Info("flow states read from the state store after a failed read", "flows", len(fs))
	}
	byName := make(map[string]store.FlowState, len(states))
	for _, st := range states {
		if prev, ok := byName[st.Flow]; ok && prev.Location == m.recordsFrom() {
			continue // a cluster node's own location first (states are per location there)
		}
		byName[st.Flow] = st
	}
	for _, f := range fs {
		// Runs recorded while the backend refused writes are newer than
		// its states: the memory buffer has them.
		st, ok := m.store.MemoryState(f.Name)
		if !ok {
			st, ok = byName[f.Name]
		}
		if !ok {
			continue
		}
		if !m.lastState.Restore(st) {
			continue // a run since told the newer state, metrics included
		}
		m.metrics.FailStreak(f.Name, st.ConsecutiveFailures, st.LastReason)
		switch {
		case st.LastRun.IsZero():
			continue
		case st.OK:
			m.metrics.LastSuccess(f.Name, st.LastRun)
			continue
		}
		runs, _ := m.store.Runs(ctx, f.Name, lastSuccessScan)
		for _, r := range runs {
			if r.OK && !r.Cancelled {
				m.metrics.LastSuccess(f.Name, r.Start)
				break
			}
		}
	}
}

// pendingRestore holds the flows whose stored states could not be read.
type pendingRestore struct {
	mu     sync.Mutex
	flows  map[string]*flows.Flow
	failed bool // the last read failed: said once, not at every retry
}

// add keeps fs for a retry after a read that failed, and reports whether
// this failure is news (the previous read succeeded).
func (p *pendingRestore) add(fs []*flows.Flow) (news bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flows == nil {
		p.flows = map[string]*flows.Flow{}
	}
	for _, f := range fs {
		p.flows[f.Name] = f
	}
	news, p.failed = !p.failed, true
	return news
}

// succeeded notes a read that worked, and reports whether one had failed.
func (p *pendingRestore) succeeded() (after bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	after, p.failed = p.failed, false
	return after
}

// take empties the set and returns what it held.
func (p *pendingRestore) take() []*flows.Flow {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*flows.Flow, 0, len(p.flows))
	for _, f := range p.flows {
		out = append(out, f)
	}
	clear(p.flows)
	return out
}

// restoreRetryEvery spaces the retries of a failed restore.
const restoreRetryEvery = 5 * time.Second

// retryRestore retries the restores that failed until ctx ends. A flow no
// longer configured is not restored (forgetRemoved dropped its state).
func (m *Main) retryRestore(ctx context.Context) {
	t := time.NewTicker(restoreRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.retryRestoreOnce()
	}
}

// retryRestoreOnce restores the pending flows that are still configured.
func (m *Main) retryRestoreOnce() {
	var fs []*flows.Flow
	for _, f := range m.restore.take() {
		if m.isConfigured(f.Name) {
			fs = append(fs, f)
		}
	}
	m.restoreFlowStates(fs)
}
