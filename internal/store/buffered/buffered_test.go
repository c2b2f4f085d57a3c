package buffered

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// breakable is a real SQLite store whose writes can be refused on demand,
// as a full disk refuses them (the daemon's fault tests use a real full
// tmpfs, an immutable file and a garbage page through the binary; this seam
// lets the bookkeeping be checked run by run).
type breakable struct {
	*sqlite.Store
	broken atomic.Bool
}

var errDiskFull = errors.New("database or disk is full (13)")

func (b *breakable) refuse() error {
	if b.broken.Load() {
		return errDiskFull
	}
	return nil
}

func (b *breakable) RecordRun(ctx context.Context, r store.Run) (store.FlowState, error) {
	if err := b.refuse(); err != nil {
		return store.FlowState{}, err
	}
	return b.Store.RecordRun(ctx, r)
}

func (b *breakable) RestoreRuns(ctx context.Context, runs []store.Run, states []store.FlowState) error {
	if err := b.refuse(); err != nil {
		return err
	}
	return b.Store.RestoreRuns(ctx, runs, states)
}

func (b *breakable) CommitIncident(ctx context.Context, flow string, state json.RawMessage, items []store.OutboxItem) error {
	if err := b.refuse(); err != nil {
		return err
	}
	return b.Store.CommitIncident(ctx, flow, state, items)
}

func (b *breakable) SaveSecret(ctx context.Context, key, value string) error {
	if err := b.refuse(); err != nil {
		return err
	}
	return b.Store.SaveSecret(ctx, key, value)
}

func (b *breakable) Delivered(ctx context.Context, id int64, at time.Time) error {
	if err := b.refuse(); err != nil {
		return err
	}
	return b.Store.Delivered(ctx, id, at)
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func run(flow string, i int, ok bool) store.Run {
	r := store.Run{Flow: flow, Start: t0.Add(time.Duration(i) * time.Second), DurationMS: 1 + float64(i%4), WaitedMS: float64(i % 4), OK: ok,
		Steps: json.RawMessage(fmt.Sprintf(`[{"i":%d}]`, i))}
	if !ok {
		r.Reason, r.Layer, r.Summary = "invalid_client", "idp", fmt.Sprintf("failure %d", i)
	}
	return r
}

// outcome is run i's pass/fail in the test's sequence of runs.
func outcome(i int) bool { return i%7 < 4 }

// TestRunsKeptWhileBrokenAreFlushedInOrder records the same runs into a
// store that breaks and heals and into one that never breaks: the flushed
// history and every state are the same.
func TestRunsKeptWhileBrokenAreFlushedInOrder(t *testing.T) {
	ctx := context.Background()
	b := &breakable{Store: openSQLite(t)}
	s := New(ctx, b, Options{})
	ref := openSQLite(t)
	flows := []string{"a", "b", "c"}
	for i := range 300 {
		if i == 100 {
			b.broken.Store(true)
		}
		r := run(flows[i%3], i, outcome(i))
		got, err := s.RecordRun(ctx, r)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		want, err := ref.RecordRun(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if !sameState(got, want) {
			t.Fatalf("run %d: state %+v, want %+v", i, got, want)
		}
		if i == 200 {
			if err := s.Flush(ctx); !errors.Is(err, errDiskFull) {
				t.Fatalf("flush while broken: %v", err)
			}
			if h := s.Health(); h.OK || h.PendingRuns != 101 || h.Failures < 2 {
				t.Fatalf("health while broken: %+v", h)
			}
		}
	}
	states, _ := s.FlowStates(ctx)
	if len(states) != 3 || states[0].Runs != 100 {
		t.Fatalf("states from memory: %+v", states)
	}
	b.broken.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); !h.OK || h.PendingRuns != 0 {
		t.Fatalf("health after flush: %+v", h)
	}
	for _, f := range flows {
		got, _ := b.Store.Runs(ctx, f, 0)
		want, _ := ref.Runs(ctx, f, 0)
		if len(got) != len(want) {
			t.Fatalf("flow %s: %d runs stored, want %d", f, len(got), len(want))
		}
		for i := range got {
			if got[i].Start != want[i].Start || got[i].Summary != want[i].Summary || string(got[i].Steps) != string(want[i].Steps) ||
				got[i].WaitedMS != want[i].WaitedMS || got[i].DurationMS != want[i].DurationMS {
				t.Fatalf("flow %s run %d: %+v, want %+v", f, i, got[i], want[i])
			}
		}
		gs, _, _ := b.Store.FlowState(ctx, f)
		ws, _, _ := ref.FlowState(ctx, f)
		if gs != ws {
			t.Fatalf("flow %s: stored state %+v, want %+v", f, gs, ws)
		}
	}
	// Healthy again: writes reach the backend directly.
	if _, err := s.RecordRun(ctx, run("a", 400, true)); err != nil {
		t.Fatal(err)
	}
	if rs, _ := b.Store.Runs(ctx, "a", 1); len(rs) != 1 || !rs[0].Start.Equal(t0.Add(400*time.Second)) {
		t.Fatalf("a run after recovery did not reach the backend: %+v", rs)
	}
}

func TestReadsWhileBrokenShowMemory(t *testing.T) {
	ctx := context.Background()
	b := &breakable{Store: openSQLite(t)}
	s := New(ctx, b, Options{})
	if _, err := s.RecordRun(ctx, run("login", 0, true)); err != nil {
		t.Fatal(err)
	}
	b.broken.Store(true)
	for i := 1; i <= 3; i++ {
		if _, err := s.RecordRun(ctx, run("login", i, false)); err != nil {
			t.Fatal(err)
		}
	}
	states, err := s.FlowStates(ctx)
	if err != nil || len(states) != 1 || states[0].OK || states[0].ConsecutiveFailures != 3 {
		t.Fatalf("a failing flow must show as failing while the store is broken: %+v %v", states, err)
	}
	runs, err := s.Runs(ctx, "login", 10)
	if err != nil || len(runs) != 4 || runs[0].Summary != "failure 3" || runs[0].WaitedMS != 3 || !runs[3].OK {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	if runs, _ := s.Runs(ctx, "login", 2); len(runs) != 2 || runs[1].Summary != "failure 2" {
		t.Fatalf("runs with a limit: %+v", runs)
	}
}

func TestItemsDeliveredDirectlyNeverReachTheOutbox(t *testing.T) {
	ctx := context.Background()
	b := &breakable{Store: openSQLite(t)}
	s := New(ctx, b, Options{})
	b.broken.Store(true)
	item := func(notifier, key, id string) store.OutboxItem {
		return store.OutboxItem{Notifier: notifier, IncidentKey: key, EventID: id, Event: json.RawMessage(`{"id":"` + id + `"}`), Created: t0, NextAttempt: t0}
	}
	if err := s.CommitIncident(ctx, "login", json.RawMessage(`{"open":true}`),
		[]store.OutboxItem{item("pd", "k1", "opened"), item("slack", "k1", "opened")}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitIncident(ctx, "login", json.RawMessage(`{"open":true,"n":2}`), []store.OutboxItem{item("pd", "k1", "reminder")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Signal():
	default:
		t.Fatal("no signal for items to deliver")
	}
	due := s.Unsent(t0)
	if len(due) != 2 || due[0].EventID != "opened" || due[1].EventID != "opened" {
		t.Fatalf("unsent: want the oldest per (notifier, incident), got %+v", due)
	}
	s.MarkSent(due[0].Seq, true, time.Time{}, "")                        // pd got "opened"
	s.MarkSent(due[1].Seq, false, t0.Add(time.Minute), "slack said 503") // slack did not
	if due := s.Unsent(t0); len(due) != 1 || due[0].Notifier != "pd" || due[0].EventID != "reminder" {
		t.Fatalf("after marks: %+v", due)
	}
	if bl, _ := s.Backlog(ctx); bl["pd"].Pending != 1 || bl["slack"].Pending != 1 {
		t.Fatalf("backlog: %+v", bl)
	}
	states, _ := s.IncidentStates(ctx)
	if string(states["login"]) != `{"open":true,"n":2}` {
		t.Fatalf("incident state from memory: %s", states["login"])
	}
	b.broken.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	queued, err := b.Store.Due(ctx, time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range queued {
		got = append(got, it.Notifier+":"+it.EventID)
	}
	// pd's "opened" was delivered directly: only its "reminder" is queued;
	// slack's "opened" was not: it is queued for the sender.
	if fmt.Sprint(got) != "[slack:opened pd:reminder]" {
		t.Fatalf("outbox after flush: %v", got)
	}
	stored, _ := b.Store.IncidentStates(ctx)
	if string(stored["login"]) != `{"open":true,"n":2}` {
		t.Fatalf("stored incident state: %s", stored["login"])
	}
}

func TestSecretsAndMarksKeptWhileBroken(t *testing.T) {
	ctx := context.Background()
	b := &breakable{Store: openSQLite(t)}
	s := New(ctx, b, Options{})
	if err := s.SaveSecret(ctx, "rt", "old-token"); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitIncident(ctx, "f", json.RawMessage(`{}`), []store.OutboxItem{{Notifier: "pd", IncidentKey: "k", EventID: "e",
		Event: json.RawMessage(`{}`), Created: t0, NextAttempt: t0}}); err != nil {
		t.Fatal(err)
	}
	due, err := s.Due(ctx, t0.Add(time.Second), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %+v %v", due, err)
	}
	b.broken.Store(true)
	if err := s.SaveSecret(ctx, "rt", "rotated-token"); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.LoadSecret(ctx, "rt"); !ok || v != "rotated-token" {
		t.Fatalf("LoadSecret while broken: %q %v", v, ok)
	}
	if err := s.Delivered(ctx, due[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Due(ctx, t0.Add(time.Second), 10); len(again) != 0 {
		t.Fatalf("an item delivered while broken is due again: %+v", again)
	}
	b.broken.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := b.Store.LoadSecret(ctx, "rt"); v != "rotated-token" {
		t.Fatalf("stored secret after flush: %q", v)
	}
	if again, _ := b.Store.Due(ctx, t0.Add(time.Second), 10); len(again) != 0 {
		t.Fatalf("delivered mark not flushed: %+v", again)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	b := &breakable{Store: openSQLite(t)}
	s := New(ctx, b, Options{MaxRuns: 50, MaxEvidenceBytes: 200})
	ref := openSQLite(t)
	b.broken.Store(true)
	var want store.FlowState
	for i := range 120 {
		r := run("f", i, outcome(i))
		if _, err := s.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		want, _ = ref.RecordRun(ctx, r)
	}
	h := s.Health()
	if h.PendingRuns != 50 || h.Dropped != 70 || h.Stripped == 0 {
		t.Fatalf("health: %+v", h)
	}
	b.broken.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, _ := b.Store.FlowState(ctx, "f")
	if !sameState(got, want) {
		t.Fatalf("state after dropping runs: %+v, want %+v", got, want)
	}
	runs, _ := b.Store.Runs(ctx, "f", 0)
	if len(runs) != 50 || string(runs[0].Steps) != `[{"i":119}]` {
		t.Fatalf("%d runs stored, newest steps %s", len(runs), runs[0].Steps)
	}
}

// sameState compares states but for LastRunID: runs kept in memory have no
// ID yet, and a store that dropped some assigns others.
func sameState(a, b store.FlowState) bool {
	a.LastRunID, b.LastRunID = 0, 0
	return a == b
}

func (b *breakable) Rollups(ctx context.Context, flow string, tier store.Tier, since time.Time) ([]store.Rollup, error) {
	if err := b.refuse(); err != nil {
		return nil, err
	}
	return b.Store.Rollups(ctx, flow, tier, since)
}

// TestRollupsWhileBroken: while the backend refuses, a roll-up read that
// fails is ErrNoRollups (the status page falls back to the runs, memory
// included), not an error that would make every page a 500; healed, the
// backend's roll-ups come back.
func TestRollupsWhileBroken(t *testing.T) {
	ctx := context.Background()
	b := &breakable{Store: openSQLite(t)}
	s := New(ctx, b, Options{})
	if _, err := s.RecordRun(ctx, run("f", 0, true)); err != nil {
		t.Fatal(err)
	}
	b.broken.Store(true)
	if _, err := s.RecordRun(ctx, run("f", 1, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rollups(ctx, "f", store.TierHour, time.Time{}); !errors.Is(err, store.ErrNoRollups) {
		t.Fatalf("Rollups while broken: %v, want ErrNoRollups", err)
	}
	b.broken.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rollups(ctx, "f", store.TierHour, time.Time{}); err != nil {
		t.Fatalf("Rollups after healing: %v", err)
	}
}
