package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// Two nodes of two locations record a failure of one flow at once, then
// step its incident: the second waits for the first's commit and sees the
// incident it opened, so one incident and one outbox item come out (the
// first is held in its step until the second is seen waiting on the lock,
// so without the lock both would read no incident and open one each).
func testStepIncidentOnce(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	eu, us := openOn(t, dsn, Options{Location: "eu-west"}), openOn(t, dsn, Options{Location: "us-east"})
	now := time.Now()
	for _, s := range []*Store{eu, us} {
		if _, err := s.RecordRun(ctx, store.Run{Flow: "f", Location: s.location, Start: now, Reason: "connection_failed"}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(seen *[]store.FlowState) store.IncidentStep {
		return func(stored json.RawMessage, states []store.FlowState) (json.RawMessage, []store.OutboxItem, error) {
			*seen = states
			if stored != nil {
				return nil, nil, nil // open already
			}
			return json.RawMessage(`{"open":true}`), []store.OutboxItem{{Notifier: "hook", IncidentKey: "authwatch/f/1",
				EventID: "e", Event: json.RawMessage(`{}`), Created: now, NextAttempt: now}}, nil
		}
	}
	var seenEU, seenUS []store.FlowState
	inStep, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		step := open(&seenEU)
		first <- eu.StepIncident(ctx, "f", func(stored json.RawMessage, states []store.FlowState) (json.RawMessage, []store.OutboxItem, error) {
			close(inStep)
			<-release
			return step(stored, states)
		})
	}()
	<-inStep
	second := make(chan error, 1)
	go func() { second <- us.StepIncident(ctx, "f", open(&seenUS)) }()
	waited := waitForLockWaiter(t, eu)
	close(release)
	if !waited {
		t.Error("the second step never waited on the flow's incident lock")
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	var items int
	if err := eu.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	if items != 1 {
		t.Errorf("%d outbox items, want 1", items)
	}
	if len(seenEU) != 2 || len(seenUS) != 2 || seenUS[0].Location != "eu-west" || seenUS[1].Location != "us-east" {
		t.Errorf("states seen: %+v and %+v, want eu-west and us-east in both", seenEU, seenUS)
	}
}

// waitForLockWaiter polls until a session waits on an advisory lock, and
// reports whether one did within 30 s.
func waitForLockWaiter(t *testing.T, s *Store) bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := s.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling pg_locks, bounded by the deadline
	}
}
