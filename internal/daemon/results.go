package daemon

import (
	"bytes"
	"context"
	"log/slog"
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
	run := toRun(r)
	ctx, cancel := context.WithTimeout(m.fenced(context.Background(), r.Flow), 10*time.Second)
	defer cancel()
	if !m.isConfigured(r.Flow) {
		// Removed by a reload while it ran: keep the history, not the state.
		if _, err := m.store.RecordRun(ctx, run); err == nil {
			m.forgetRemoved(m.currentFlows())
		}
		return
	}
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
		if err := m.alert.observe(ctx, r); err != nil {
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

// stepsJSON is the JSON array of the result's `check --json` lines, made
// in one buffer: the lines end in newlines, which JSON never leaves inside
// a value, so each but the last becomes the array's comma.
func stepsJSON(r *flows.Result) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	_ = report.JSON(&buf, r)
	arr := bytes.TrimRight(buf.Bytes(), "\n")
	for i := 1; i < len(arr); i++ {
		if arr[i] == '\n' {
			arr[i] = ','
		}
	}
	return append(arr, ']')
}

// lastSuccessScan bounds the runs read, per failing flow, at a start to
// find its last passing run.
const lastSuccessScan = 20

// restoreFlowStates reads each flow's state from the store before the
// first run (for the status line's failing count; onResult would read it
// at the first run), and sets its last-success metric so that a restart
// does not reset it: a passing flow's last run, or a failing flow's newest
// passing run among its last lastSuccessScan.
func (m *Main) restoreFlowStates(fs []*flows.Flow) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, f := range fs {
		st, ok, err := m.store.FlowState(ctx, f.Name)
		if err == nil && ok {
			m.lastState.Restore(st)
			m.metrics.FailStreak(f.Name, st.ConsecutiveFailures, st.LastReason)
		}
		switch {
		case err != nil || !ok || st.LastRun.IsZero():
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
