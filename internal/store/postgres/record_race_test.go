package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// A flow's state row deleted (ForgetFlows) while RecordRun waits to lock
// it: the run is recorded, as the flow's first, instead of failing with no
// rows. The interleaving is forced: another transaction holds the row
// locked until RecordRun waits on it, then deletes it and commits.
func testRecordRunAfterForget(t *testing.T, pg *testenv.PostgresServer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openOn(t, newDatabase(t, pg), Options{})
	t0 := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	if _, err := s.RecordRun(ctx, store.Run{Flow: "a", Start: t0, OK: true}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var pid int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM flow_state WHERE flow = 'a' FOR UPDATE`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	type result struct {
		st  store.FlowState
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := s.RecordRun(ctx, store.Run{Flow: "a", Start: t0.Add(time.Minute), OK: false, Reason: "x"})
		done <- result{st, err}
	}()
	waited := false
	for try := 0; !waited && try < 600; try++ { // until RecordRun waits on the row lock
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND $1 = ANY(pg_blocking_pids(pid)))`, pid).Scan(&waited); err != nil {
			t.Fatal(err)
		}
		if !waited {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !waited {
		t.Fatal("RecordRun never waited on the locked row")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM flow_state WHERE flow = 'a'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("RecordRun after the row was deleted under it: %v", r.err)
	}
	if r.st.Runs != 1 || r.st.OK {
		t.Errorf("state %+v; want the flow's first run, failing", r.st)
	}
}
