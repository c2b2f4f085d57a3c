// Package storemigrate copies a daemon's state from one store to another
// (`authwatch store migrate`): today from SQLite to PostgreSQL.
package storemigrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// Counts is what a migration copied.
type Counts struct {
	Runs, States, Rollups, Secrets, Outbox, Incidents, Baselines, Accepts int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d runs, %d flow states, %d roll-ups, %d secrets, %d notifications, %d incident states, %d baselines, %d baseline accepts",
		c.Runs, c.States, c.Rollups, c.Secrets, c.Outbox, c.Incidents, c.Baselines, c.Accepts)
}

// chunk is how many rows go to PostgreSQL per statement batch.
const chunk = 5000

// SQLiteToPostgres copies everything the SQLite database at path holds
// into dst, which must be empty, in one PostgreSQL transaction: nothing is
// copied unless all is. It holds the state directory's lock (the daemon's)
// throughout, and refuses while a daemon holds it. The SQLite database is
// opened as the daemon opens it first (checked, its schema migrated, its
// open roll-ups written), then read in one read transaction.
func SQLiteToPostgres(ctx context.Context, path string, dst *postgres.Store) (Counts, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return Counts{}, fmt.Errorf("no SQLite database at %s", path)
	}
	unlock, err := lockStateDir(filepath.Dir(path))
	if err != nil {
		return Counts{}, err
	}
	defer unlock()
	src, err := sqlite.Open(path)
	if err != nil {
		return Counts{}, err
	}
	if err := src.Close(); err != nil {
		return Counts{}, err
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return Counts{}, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Counts{}, err
	}
	defer tx.Rollback()
	im, err := dst.BeginImport(ctx)
	if err != nil {
		return Counts{}, err
	}
	defer im.Rollback(ctx)
	c, err := copyAll(ctx, tx, im)
	if err != nil {
		return c, err
	}
	if err := keepSequences(ctx, tx, im); err != nil {
		return c, err
	}
	return c, im.Commit(ctx)
}

// keepSequences carries SQLite's AUTOINCREMENT counters over: the IDs of
// runs and notifications pruned before the copy are never given again.
func keepSequences(ctx context.Context, tx *sql.Tx, im *postgres.Import) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence WHERE name IN ('runs', 'outbox', 'baseline_accepts')`)
	if err != nil {
		return fmt.Errorf("reading sqlite_sequence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var seq int64
		if err := rows.Scan(&table, &seq); err != nil {
			return fmt.Errorf("reading sqlite_sequence: %w", err)
		}
		im.IDsAfter(table, seq)
	}
	return rows.Err()
}

// stateLockFile is the daemon's lock in its state directory
// (internal/daemon's lockFileName).
const stateLockFile = "lock"

// lockStateDir takes the lock a daemon holds on dir while it runs, if dir
// has one, so that no daemon writes the database while it is copied (nor
// starts meanwhile); it refuses while a daemon holds it.
func lockStateDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, stateLockFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil // no daemon ever ran on this directory
	}
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("a daemon is running on %s (it holds %s): stop it first, so that nothing is recorded after the copy", dir, path)
		}
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func copyAll(ctx context.Context, tx *sql.Tx, im *postgres.Import) (Counts, error) {
	var c Counts
	var err error
	for _, step := range []func() error{
		func() error { c.Runs, err = copyRuns(ctx, tx, im); return err },
		func() error { c.States, err = copyStates(ctx, tx, im); return err },
		func() error { c.Rollups, err = copyRollups(ctx, tx, im); return err },
		func() error { c.Secrets, err = copySecrets(ctx, tx, im); return err },
		func() error { c.Outbox, err = copyOutbox(ctx, tx, im); return err },
		func() error { c.Incidents, err = copyIncidents(ctx, tx, im); return err },
		func() error { c.Baselines, err = copyBaselines(ctx, tx, im); return err },
		func() error { c.Accepts, err = copyBaselineAccepts(ctx, tx, im); return err },
	} {
		if err := step(); err != nil {
			return c, err
		}
	}
	return c, nil
}

func copyRuns(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, flow, start_ns, duration_ms, waited_ms, ok, cancelled, reason, layer,
		summary, failed_step, warnings, steps, plain FROM runs ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("reading runs: %w", err)
	}
	defer rows.Close()
	n := 0
	batch := make([]postgres.ImportedRun, 0, chunk)
	for rows.Next() {
		var r postgres.ImportedRun
		var start int64
		var steps []byte
		if err := rows.Scan(&r.ID, &r.Flow, &start, &r.DurationMS, &r.WaitedMS, &r.OK, &r.Cancelled, &r.Reason, &r.Layer,
			&r.Summary, &r.FailedStep, &r.Warnings, &steps, &r.Plain); err != nil {
			return n, fmt.Errorf("reading runs: %w", err)
		}
		r.Start, r.Steps = fromNanos(start), steps
		batch = append(batch, r)
		if len(batch) == chunk {
			if err := im.Runs(ctx, batch); err != nil {
				return n, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("reading runs: %w", err)
	}
	if err := im.Runs(ctx, batch); err != nil {
		return n, err
	}
	return n + len(batch), nil
}

func copyStates(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT flow, ok, since_ns, consecutive_passes, consecutive_failures,
		last_run_ns, last_reason, last_summary, runs, last_run_id, last_warnings, last_layer, last_failed_step FROM flow_state`)
	if err != nil {
		return 0, fmt.Errorf("reading flow states: %w", err)
	}
	defer rows.Close()
	var states []store.FlowState
	for rows.Next() {
		var st store.FlowState
		var since, last int64
		if err := rows.Scan(&st.Flow, &st.OK, &since, &st.ConsecutivePasses, &st.ConsecutiveFailures, &last,
			&st.LastReason, &st.LastSummary, &st.Runs, &st.LastRunID, &st.LastWarnings, &st.LastLayer, &st.LastFailedStep); err != nil {
			return 0, fmt.Errorf("reading flow states: %w", err)
		}
		st.Since, st.LastRun = fromNanos(since), fromNanos(last)
		states = append(states, st)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading flow states: %w", err)
	}
	return len(states), im.States(ctx, states)
}

func copyRollups(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT f.flow, r.tier, r.start_min, r.runs, r.passed, r.failed, r.cancelled, r.warnings,
		r.lat_sum_us, r.lat_min_us, r.lat_max_us, r.hist, r.last_run_id
		FROM rollups AS r JOIN flow_ids AS f ON f.id = r.flow_id ORDER BY r.tier, f.flow, r.start_min`)
	if err != nil {
		return 0, fmt.Errorf("reading roll-ups: %w", err)
	}
	defer rows.Close()
	n := 0
	batch := make([]store.Rollup, 0, chunk)
	for rows.Next() {
		var u store.Rollup
		var startMin, sum, lo, hi int64
		var hist []byte
		if err := rows.Scan(&u.Flow, &u.Tier, &startMin, &u.Runs, &u.Passed, &u.Failed, &u.Cancelled, &u.Warnings,
			&sum, &lo, &hi, &hist, &u.LastRunID); err != nil {
			return n, fmt.Errorf("reading roll-ups: %w", err)
		}
		if err := u.Latency.UnmarshalBinary(hist); err != nil {
			return n, fmt.Errorf("reading roll-ups of %q: %w", u.Flow, err)
		}
		u.Start = time.Unix(startMin*60, 0).UTC()
		u.LatencySumMS, u.LatencyMinMS, u.LatencyMaxMS = float64(sum)/1000, float64(lo)/1000, float64(hi)/1000
		batch = append(batch, u)
		if len(batch) == chunk {
			if err := im.Rollups(ctx, batch); err != nil {
				return n, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("reading roll-ups: %w", err)
	}
	if err := im.Rollups(ctx, batch); err != nil {
		return n, err
	}
	return n + len(batch), nil
}

func copySecrets(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT key, value FROM secrets ORDER BY key`)
	if err != nil {
		return 0, fmt.Errorf("reading secrets: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var key, value string
		if err := rows.Scan(&key, &value); err != nil {
			return n, fmt.Errorf("reading secrets: %w", err)
		}
		if err := im.Secret(ctx, key, value); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func copyOutbox(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, notifier, incident_key, event_id, event, created_ns, attempts, next_ns,
		last_error, state, done_ns FROM outbox ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("reading the outbox: %w", err)
	}
	defer rows.Close()
	var items []postgres.ImportedOutboxItem
	for rows.Next() {
		var it postgres.ImportedOutboxItem
		var event []byte
		var created, next, done int64
		if err := rows.Scan(&it.ID, &it.Notifier, &it.IncidentKey, &it.EventID, &event, &created, &it.Attempts, &next,
			&it.LastError, &it.State, &done); err != nil {
			return 0, fmt.Errorf("reading the outbox: %w", err)
		}
		it.Event, it.Created, it.NextAttempt, it.Done = json.RawMessage(event), fromNanos(created), fromNanos(next), fromNanos(done)
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading the outbox: %w", err)
	}
	return len(items), im.Outbox(ctx, items)
}

func copyIncidents(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT flow, state FROM incident_state ORDER BY flow`)
	if err != nil {
		return 0, fmt.Errorf("reading incident states: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var flow string
		var state []byte
		if err := rows.Scan(&flow, &state); err != nil {
			return n, fmt.Errorf("reading incident states: %w", err)
		}
		if err := im.Incident(ctx, flow, state); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func copyBaselines(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT flow, data, updated_ns FROM baselines ORDER BY flow`)
	if err != nil {
		return 0, fmt.Errorf("reading baselines: %w", err)
	}
	defer rows.Close()
	n := 0
	var batch []store.Baseline
	for rows.Next() {
		var b store.Baseline
		var data []byte
		var updated int64
		if err := rows.Scan(&b.Flow, &data, &updated); err != nil {
			return n, fmt.Errorf("reading baselines: %w", err)
		}
		b.Data, b.Updated = json.RawMessage(data), fromNanos(updated)
		if batch = append(batch, b); len(batch) == chunk {
			if err := im.Baselines(ctx, batch); err != nil {
				return n, err
			}
			n, batch = n+len(batch), batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("reading baselines: %w", err)
	}
	return n + len(batch), im.Baselines(ctx, batch)
}

func copyBaselineAccepts(ctx context.Context, tx *sql.Tx, im *postgres.Import) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, flow, by_name, at_ns FROM baseline_accepts ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("reading baseline accepts: %w", err)
	}
	defer rows.Close()
	var accepts []store.BaselineAccept
	for rows.Next() {
		var a store.BaselineAccept
		var at int64
		if err := rows.Scan(&a.ID, &a.Flow, &a.By, &at); err != nil {
			return 0, fmt.Errorf("reading baseline accepts: %w", err)
		}
		a.At = fromNanos(at)
		accepts = append(accepts, a)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading baseline accepts: %w", err)
	}
	return len(accepts), im.BaselineAccepts(ctx, accepts)
}

func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
