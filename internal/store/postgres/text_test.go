package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// Target text that PostgreSQL's text refuses (a Latin-1 error_description,
// a receiver's error body with a NUL) is stored with those bytes replaced,
// not refused: a refused run is a monitor that stops recording.
func testStoresAnyText(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{SecretKey: testKey})
	const latin1 = "the API says: \"signature \xe9chou\xe9e\"" // ISO-8859-1, as a gateway sent it
	const cleaned = "the API says: \"signature \uFFFDchou\uFFFDe\""
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	r := store.Run{Flow: "api", Start: t0, Reason: "signature_invalid", Layer: "api", Summary: latin1, FailedStep: "call\x00"}
	st, err := s.RecordRun(ctx, r)
	if err != nil {
		t.Fatalf("RecordRun of a Latin-1 summary: %v", err)
	}
	if st.LastSummary != latin1 {
		t.Errorf("state returned %q, want the run's own summary", st.LastSummary)
	}
	r2 := r
	r2.Start, r2.Summary = t0.Add(time.Minute), "body: a\x00b"
	if err := s.RestoreRuns(ctx, []store.Run{r2}, []store.FlowState{st.Next(r2)}); err != nil {
		t.Fatalf("RestoreRuns of a summary with a NUL: %v", err)
	}
	runs, err := s.Runs(ctx, "api", 10)
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs: %d, %v", len(runs), err)
	}
	if runs[1].Summary != cleaned || runs[1].FailedStep != "call\uFFFD" || runs[0].Summary != "body: a\uFFFDb" {
		t.Errorf("stored %q / %q / %q", runs[1].Summary, runs[1].FailedStep, runs[0].Summary)
	}

	if err := s.CommitIncident(ctx, "api", []byte(`{}`), []store.OutboxItem{{Notifier: "hook", IncidentKey: "api\xff", EventID: "e1",
		Event: []byte(`{}`), Created: t0, NextAttempt: t0}}); err != nil {
		t.Fatalf("CommitIncident with an invalid byte: %v", err)
	}
	due, err := s.Due(ctx, t0.Add(time.Hour), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("Due: %v, %v", due, err)
	}
	if err := s.Retry(ctx, due[0].ID, 1, t0, "502: <html>\x00\x00\xfe</html>"); err != nil {
		t.Fatalf("Retry with a NUL in last_error: %v", err)
	}
	if err := s.Dead(ctx, due[0].ID, t0, "refused: \x00"); err != nil {
		t.Fatalf("Dead with a NUL in last_error: %v", err)
	}
	var lastErr string
	if err := s.pool.QueryRow(ctx, `SELECT last_error FROM outbox WHERE id = $1`, due[0].ID).Scan(&lastErr); err != nil || lastErr != "refused: \uFFFD" {
		t.Errorf("last_error %q, %v", lastErr, err)
	}
}

// A data error of the database is a refusal for good (store.ErrRefused),
// which the buffered store drops instead of retrying forever; so is a
// secret without a key. A connection error is not.
func testDataErrorsRefused(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	if err := s.exec(ctx, "probe", `SELECT 1/0`); !errors.Is(err, store.ErrRefused) {
		t.Errorf("division by zero (22012): %v, want store.ErrRefused", err)
	}
	if err := s.exec(ctx, "probe", `INSERT INTO flow_ids (flow) VALUES (NULL)`); !errors.Is(err, store.ErrRefused) {
		t.Errorf("not-null violation (23502): %v, want store.ErrRefused", err)
	}
	// A unique violation comes from a race with another writer (another
	// node), which a later attempt may not meet: not a refusal for good.
	if err := s.exec(ctx, "probe", `INSERT INTO flow_ids (flow) VALUES ('a'), ('a')`); err == nil || errors.Is(err, store.ErrRefused) {
		t.Errorf("unique violation (23505): %v, want an error that is not store.ErrRefused", err)
	}
	if err := s.SaveSecret(ctx, "k", "v"); !errors.Is(err, store.ErrRefused) || !errors.Is(err, ErrNoSecretKey) {
		t.Errorf("SaveSecret without a key: %v, want ErrNoSecretKey and store.ErrRefused", err)
	}
	if err := s.exec(ctx, "probe", `SELECT nonsense`); errors.Is(err, store.ErrRefused) {
		t.Errorf("an undefined column (42703) is not about the record: %v", err)
	}
	s.Close()
	if err := s.exec(ctx, "probe", `SELECT 1`); err == nil || errors.Is(err, store.ErrRefused) {
		t.Errorf("a closed pool: %v, want an error that is not store.ErrRefused", err)
	}
}

// Prune deletes in batches of PruneBatch rows, and deletes what one
// statement would.
func testPruneInBatches(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{PruneBatch: 4})
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	for i := range 30 {
		for _, flow := range []string{"a", "b"} {
			if _, err := s.RecordRun(ctx, store.Run{Flow: flow, Start: t0.Add(time.Duration(i) * time.Minute), OK: i%3 != 0, Reason: map[bool]string{true: "x"}[i%3 == 0]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// By age: the first 10 minutes of both flows (20 runs, 5 batches),
	// then beyond 12 per flow (16 more).
	n, err := s.Prune(ctx, t0.Add(40*time.Minute), store.Retention{MaxAge: 30 * time.Minute, MaxRunsPerFlow: 12})
	if err != nil || n != 36 {
		t.Fatalf("Prune = %d, %v; want 36", n, err)
	}
	for _, flow := range []string{"a", "b"} {
		runs, err := s.Runs(ctx, flow, 0)
		if err != nil || len(runs) != 12 || !runs[11].Start.Equal(t0.Add(18*time.Minute)) {
			t.Errorf("flow %s after Prune: %d runs, %v", flow, len(runs), err)
		}
	}
}

// A secret under a key that is not valid UTF-8 (a flow name read from a
// Latin-1 file) is stored under the key cleaned, and opens again: the
// seal binds the key as stored, not the raw bytes.
func testSecretOfNonUTF8Key(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{SecretKey: testKey})
	const key = "refresh_token/caf\xe9/rt"
	if err := s.SaveSecret(ctx, key, "v1"); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.LoadSecret(ctx, key); v != "v1" || !ok || err != nil {
		t.Errorf("LoadSecret of a non-UTF-8 key = %q, %v, %v; want v1", v, ok, err)
	}
	if err := s.DeleteSecret(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.LoadSecret(ctx, key); ok || err != nil {
		t.Errorf("after DeleteSecret: %v, %v; want gone", ok, err)
	}
}
