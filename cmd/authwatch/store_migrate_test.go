package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/store/sqlite"
	"github.com/authwatch/authwatch/internal/testenv"
)

// stateView is everything a store shows, to compare two stores.
type stateView struct {
	States    []store.FlowState
	Runs      map[string][]store.Run
	Rollups   map[string][]store.Rollup // flow/tier → roll-ups
	Totals    map[string]map[string]store.Rollup
	Incidents map[string]json.RawMessage
	Backlog   map[string]store.Backlog
	Due       []store.OutboxItem
	Secret    string
	Baselines map[string]store.Baseline
	Accepts   map[string][]store.BaselineAccept
}

type viewable interface {
	store.Store
	store.Outbox
	store.RollupReader
	store.Baselines
}

func readView(t *testing.T, s viewable, flows []string) stateView {
	t.Helper()
	ctx := context.Background()
	v := stateView{Runs: map[string][]store.Run{}, Rollups: map[string][]store.Rollup{}, Totals: map[string]map[string]store.Rollup{},
		Baselines: map[string]store.Baseline{}, Accepts: map[string][]store.BaselineAccept{}}
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
	}
	v.States, err = s.FlowStates(ctx)
	must(err)
	for _, f := range flows {
		v.Runs[f], err = s.Runs(ctx, f, 0)
		must(err)
		if b, ok, err := s.LoadBaseline(ctx, f); ok {
			v.Baselines[f] = b
		} else {
			must(err)
		}
		v.Accepts[f], err = s.BaselineAccepts(ctx, f, 0, 0)
		must(err)
		for _, tier := range []store.Tier{store.TierMinute, store.TierHour} {
			v.Rollups[f+"/"+tier.String()], err = s.Rollups(ctx, f, tier, time.Time{})
			must(err)
		}
	}
	for _, tier := range []store.Tier{store.TierMinute, store.TierHour} {
		v.Totals[tier.String()], err = s.RollupTotals(ctx, tier, time.Time{})
		must(err)
	}
	v.Incidents, err = s.IncidentStates(ctx)
	must(err)
	v.Backlog, err = s.Backlog(ctx)
	must(err)
	v.Due, err = s.Due(ctx, time.Now(), 100)
	must(err)
	v.Secret, _, err = s.LoadSecret(ctx, "refresh_token/rotate/refresh")
	must(err)
	return v
}

// TestStoreMigrateSQLiteToPostgres: `authwatch store migrate` copies a real
// SQLite state database (history tiers, roll-ups, states, incidents, the
// outbox, a rotated refresh token) into a real PostgreSQL, where every
// read gives what SQLite gave; the copy refuses a database that already
// holds data and, without --secret-key, one with secrets (copying nothing).
func TestStoreMigrateSQLiteToPostgres(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "authwatch.db")
	src, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := src.Prune(ctx, t0, store.Retention{PassingRunsKept: 5, FailuresKeptPerStreak: 2}); err != nil {
		t.Fatal(err)
	}
	flows := []string{"okta", "rotate"}
	for i := range 240 { // two hours, one run every 30 s per flow
		for j, f := range flows {
			r := store.Run{Flow: f, Start: t0.Add(time.Duration(i)*30*time.Second + time.Duration(j)*time.Millisecond),
				DurationMS: float64(50 + i%17), OK: i%40 < 30, Steps: json.RawMessage(`[{"name":"call"}]`)}
			if !r.OK {
				r.Reason, r.Layer, r.FailedStep, r.Summary = "invalid_token", "app", "call", fmt.Sprintf("run %d", i)
			}
			if _, err := src.RecordRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := src.SaveSecret(ctx, "refresh_token/rotate/refresh", "rt-migrated-secret"); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveBaselines(ctx, []store.Baseline{{Flow: "okta", Data: json.RawMessage(`{"version":1,"runs":40}`), Updated: t0.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	for _, by := range []string{"alice", "cli"} {
		if _, err := src.AcceptBaseline(ctx, store.BaselineAccept{Flow: "okta", By: by, At: t0.Add(90 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	item := func(id string) store.OutboxItem {
		return store.OutboxItem{Notifier: "pager", IncidentKey: "okta#1", EventID: id, Event: json.RawMessage(`{"id":"` + id + `"}`),
			Created: t0, NextAttempt: t0}
	}
	if err := src.CommitIncident(ctx, "okta", json.RawMessage(`{"open":true}`), []store.OutboxItem{item("a"), item("b"), item("c")}); err != nil {
		t.Fatal(err)
	}
	due, _ := src.Due(ctx, t0, 10)
	if err := src.Delivered(ctx, due[0].ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := src.Retry(ctx, due[0].ID+1, 3, t0.Add(2*time.Minute), "503"); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	reread, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	want := readView(t, reread, flows)
	if err := reread.Close(); err != nil {
		t.Fatal(err)
	}

	secretDir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(secretDir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dsn := pg.CreateDatabase(t, "migrated")
	dsnRef := "postgres:${file:" + write("dsn", dsn) + "}"
	keyHex := strings.Repeat("5a", 32)
	keyRef := "${file:" + write("key", keyHex) + "}"

	code, stdout, stderr := clRunWith(t, installed, "store", "migrate", "--from", "sqlite:"+dbPath, "--to", dsnRef)
	if code != exitFailed || !strings.Contains(stderr, "no secret key configured") || !strings.Contains(stderr, "nothing was copied") {
		t.Errorf("migrate without --secret-key: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = clRunWith(t, installed, "store", "migrate", "--from", "sqlite:"+dbPath, "--to", dsnRef, "--secret-key", keyRef)
	if code != exitOK || !strings.Contains(stdout, "copied ") || !strings.Contains(stdout, "1 secrets, 3 notifications, 1 incident states, 1 baselines, 2 baseline accepts") {
		t.Fatalf("migrate: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	t.Log(strings.TrimSpace(stdout))

	key, _ := postgres.ParseSecretKey(keyHex)
	dst, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got := readView(t, dst, flows)
	if !reflect.DeepEqual(got, want) {
		for _, f := range []string{"States", "Runs", "Rollups", "Totals", "Incidents", "Backlog", "Due", "Secret", "Baselines", "Accepts"} {
			g, w := reflect.ValueOf(got).FieldByName(f).Interface(), reflect.ValueOf(want).FieldByName(f).Interface()
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s differ after the migration:\n got %.1500v\nwant %.1500v", f, g, w)
			}
		}
	}
	// Recording goes on, with IDs after the imported ones.
	st, err := dst.RecordRun(ctx, store.Run{Flow: "okta", Start: t0.Add(3 * time.Hour), OK: true})
	if err != nil || st.LastRunID <= want.Runs["okta"][0].ID || st.Runs != want.States[0].Runs+1 {
		t.Errorf("a run after the migration: %+v, %v", st, err)
	}
	if len(want.Baselines) != 1 || len(want.Accepts["okta"]) != 2 {
		t.Fatalf("the source shows %d baselines and %d accepts, want 1 and 2", len(want.Baselines), len(want.Accepts["okta"]))
	}
	if a, err := dst.AcceptBaseline(ctx, store.BaselineAccept{Flow: "okta", By: "bob", At: t0.Add(4 * time.Hour)}); err != nil || a.ID <= want.Accepts["okta"][1].ID {
		t.Errorf("an accept after the migration: %+v, %v; want an ID after the copied ones", a, err)
	}
	code, _, stderr = clRunWith(t, installed, "store", "migrate", "--from", "sqlite:"+dbPath, "--to", dsnRef, "--secret-key", keyRef)
	if code != exitFailed || !strings.Contains(stderr, "already holds authwatch data") {
		t.Errorf("a second migration: exit %d, stderr %s", code, stderr)
	}
	for _, args := range [][]string{
		{"--from", dbPath, "--to", dsnRef},
		{"--from", "sqlite:" + dbPath, "--to", dsn},
		{"--from", "sqlite:" + dbPath, "--to", dsnRef, "--secret-key", keyHex},
	} {
		code, _, stderr := clRunWith(t, installed, append([]string{"store", "migrate"}, args...)...)
		if code != exitInvalid || strings.Contains(stderr, keyHex) {
			t.Errorf("store migrate %v: exit %d, stderr %s; want a usage error without the key", args, code, stderr)
		}
	}
}

// TestStoreMigrateKeepsSequencesAndTheLock: the IDs of runs and
// notifications pruned from SQLite before the copy are never given again
// on PostgreSQL (SQLite's sqlite_sequence, not the copied rows' maximum),
// and the migration refuses while a daemon holds the state directory.
func TestStoreMigrateKeepsSequencesAndTheLock(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "authwatch.db")
	src, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		r := store.Run{Flow: "okta", Start: t0.Add(time.Duration(i) * time.Minute), OK: i != 1}
		if !r.OK { // SQLite keeps any bytes; PostgreSQL's text takes neither
			r.Reason, r.Layer, r.Summary = "invalid_token", "app", "the API says: \"cl\xe9\x00\""
		}
		if _, err := src.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	items := []store.OutboxItem{{Notifier: "pager", IncidentKey: "okta#1", EventID: "a", Event: json.RawMessage(`{}`), Created: t0, NextAttempt: t0}}
	if err := src.CommitIncident(ctx, "okta", json.RawMessage(`{}`), items); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	// The newest runs and the one notification pruned, as retention would.
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM runs WHERE id > 2; DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	dsn := pg.CreateDatabase(t, "sequences")
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"store", "migrate", "--from", "sqlite:" + dbPath, "--to", "postgres:${file:" + dsnFile + "}"}

	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := clRunWith(t, installed, args...)
	if code != exitFailed || !strings.Contains(stderr, "a daemon is running on "+dir) {
		t.Errorf("migrate while a daemon holds the lock: exit %d, stderr %s", code, stderr)
	}
	lock.Close()
	if code, stdout, stderr := clRunWith(t, installed, args...); code != exitOK {
		t.Fatalf("migrate: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}

	dst, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if runs, err := dst.Runs(ctx, "okta", 0); err != nil || len(runs) != 2 || runs[0].Summary != "the API says: \"cl\uFFFD\uFFFD\"" {
		t.Errorf("runs copied: %+v, %v; want 2, the Latin-1 and NUL bytes as U+FFFD", runs, err)
	}
	st, err := dst.RecordRun(ctx, store.Run{Flow: "okta", Start: t0.Add(time.Hour), OK: true})
	if err != nil || st.LastRunID <= 5 {
		t.Errorf("a run after the migration has ID %d (%v); want one after the pruned 5", st.LastRunID, err)
	}
	if err := dst.CommitIncident(ctx, "okta", json.RawMessage(`{}`), items); err != nil {
		t.Fatal(err)
	}
	due, err := dst.Due(ctx, t0.Add(time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].ID <= 1 {
		t.Errorf("a notification after the migration: %+v, %v; want an ID after the pruned 1", due, err)
	}
}
