package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// applicationID marks the file as an authwatch database ("awch") in the
// SQLite header, so that Open refuses another application's database.
const applicationID = 0x61776368

// migrations[i] takes the schema from version i to i+1; the version is kept
// in PRAGMA user_version. Append new migrations (the notification outbox,
// ...); never edit a released one.
var migrations = []string{
	// 1: run history, flow states, secrets. Times are Unix nanoseconds (0 for
	// none); runs.id is AUTOINCREMENT so that an ID is never reused after a
	// prune; runs_start serves Prune by age.
	`CREATE TABLE runs (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		flow        TEXT    NOT NULL,
		start_ns    INTEGER NOT NULL,
		duration_ms REAL    NOT NULL,
		ok          INTEGER NOT NULL,
		cancelled   INTEGER NOT NULL,
		reason      TEXT    NOT NULL,
		layer       TEXT    NOT NULL,
		summary     TEXT    NOT NULL,
		failed_step TEXT    NOT NULL,
		warnings    INTEGER NOT NULL,
		steps       BLOB
	) STRICT;
	CREATE INDEX runs_flow_start ON runs (flow, start_ns);
	CREATE INDEX runs_start ON runs (start_ns);
	CREATE TABLE flow_state (
		flow                 TEXT    PRIMARY KEY,
		ok                   INTEGER NOT NULL,
		since_ns             INTEGER NOT NULL,
		consecutive_passes   INTEGER NOT NULL,
		consecutive_failures INTEGER NOT NULL,
		last_run_ns          INTEGER NOT NULL,
		last_reason          TEXT    NOT NULL,
		last_summary         TEXT    NOT NULL,
		runs                 INTEGER NOT NULL
	) STRICT, WITHOUT ROWID;
	CREATE TABLE secrets (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	) STRICT, WITHOUT ROWID;`,
	// 2: the notification outbox (state 0 pending, 1 delivered, 2 dead) and
	// each flow's incident state (JSON owned by internal/incident).
	`CREATE TABLE outbox (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		notifier     TEXT    NOT NULL,
		incident_key TEXT    NOT NULL,
		event_id     TEXT    NOT NULL,
		event        BLOB    NOT NULL,
		created_ns   INTEGER NOT NULL,
		attempts     INTEGER NOT NULL,
		next_ns      INTEGER NOT NULL,
		last_error   TEXT    NOT NULL,
		state        INTEGER NOT NULL,
		done_ns      INTEGER NOT NULL DEFAULT 0
	) STRICT;
	CREATE INDEX outbox_queue ON outbox (notifier, incident_key, state, id);
	CREATE INDEX outbox_due ON outbox (state, next_ns);
	CREATE TABLE incident_state (
		flow  TEXT PRIMARY KEY,
		state BLOB NOT NULL
	) STRICT, WITHOUT ROWID;`,
	// 3: the time a run spent in wait steps, which its latency leaves out.
	`ALTER TABLE runs ADD COLUMN waited_ms REAL NOT NULL DEFAULT 0;`,
	// 4: the last counted run's id, warnings, layer and failed step in the
	// flow's state, so that an overview reads no runs.
	`ALTER TABLE flow_state ADD COLUMN last_run_id INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE flow_state ADD COLUMN last_warnings INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE flow_state ADD COLUMN last_layer TEXT NOT NULL DEFAULT '';
	ALTER TABLE flow_state ADD COLUMN last_failed_step TEXT NOT NULL DEFAULT '';`,
	// 5: history tiers (docs/history.md). runs.plain marks a passing run
	// kept whole only while it is one of its flow's newest (runs recorded
	// before are all kept whole, as before); rollups count every run per
	// flow and minute (tier 0) or hour (tier 1), start_min in Unix
	// minutes, latencies in microseconds, hist a store.Histogram; flows
	// are numbered in flow_ids so that a roll-up row does not repeat the
	// name. The hour tier is back-filled from the runs already recorded
	// (counts and latency sum/min/max; no histogram), so that pass rates
	// do not start from nothing after an upgrade.
	`ALTER TABLE runs ADD COLUMN plain INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE flow_ids (
		id   INTEGER PRIMARY KEY,
		flow TEXT    NOT NULL UNIQUE
	) STRICT;
	CREATE TABLE rollups (
		tier        INTEGER NOT NULL,
		flow_id     INTEGER NOT NULL,
		start_min   INTEGER NOT NULL,
		runs        INTEGER NOT NULL,
		passed      INTEGER NOT NULL,
		failed      INTEGER NOT NULL,
		cancelled   INTEGER NOT NULL,
		warnings    INTEGER NOT NULL,
		lat_sum_us  INTEGER NOT NULL,
		lat_min_us  INTEGER NOT NULL,
		lat_max_us  INTEGER NOT NULL,
		hist        BLOB    NOT NULL,
		last_run_id INTEGER NOT NULL,
		PRIMARY KEY (tier, flow_id, start_min)
	) STRICT, WITHOUT ROWID;
	INSERT INTO flow_ids (flow) SELECT DISTINCT flow FROM runs ORDER BY flow;
	INSERT INTO rollups SELECT 1, f.id, r.start_ns / 3600000000000 * 60, count(*),
		sum(r.ok AND NOT r.cancelled), sum(NOT r.ok AND NOT r.cancelled), sum(r.cancelled), sum(r.warnings > 0),
		coalesce(sum(CASE WHEN NOT r.cancelled THEN CAST(round(max(r.duration_ms - r.waited_ms, 0) * 1000) AS INTEGER) END), 0),
		coalesce(min(CASE WHEN NOT r.cancelled THEN CAST(round(max(r.duration_ms - r.waited_ms, 0) * 1000) AS INTEGER) END), 0),
		coalesce(max(CASE WHEN NOT r.cancelled THEN CAST(round(max(r.duration_ms - r.waited_ms, 0) * 1000) AS INTEGER) END), 0),
		x'', max(r.id)
		FROM runs AS r JOIN flow_ids AS f ON f.flow = r.flow
		WHERE r.start_ns > 0
		GROUP BY f.id, r.start_ns / 3600000000000;`,
	// 6: the probe location of a run and of a flow's state (docs/cluster.md);
	// '' for a single daemon, which is what SQLite serves: the state stays
	// keyed by flow alone.
	`ALTER TABLE runs ADD COLUMN location TEXT NOT NULL DEFAULT '';
	ALTER TABLE flow_state ADD COLUMN location TEXT NOT NULL DEFAULT '';`,
	// 7: each flow's learned baseline (internal/baseline, as
	// JSON) and every accept of a changed baseline, with who and when.
	`CREATE TABLE baselines (
		flow       TEXT    PRIMARY KEY,
		data       BLOB    NOT NULL,
		updated_ns INTEGER NOT NULL
	) STRICT;
	CREATE TABLE baseline_accepts (
		id      INTEGER PRIMARY KEY AUTOINCREMENT,
		flow    TEXT    NOT NULL,
		by_name TEXT    NOT NULL,
		at_ns   INTEGER NOT NULL
	) STRICT;
	CREATE INDEX baseline_accepts_flow ON baseline_accepts (flow, id);`,
}

// migrate brings the schema to len(migrations) in one transaction: a crash
// in the middle leaves the previous version.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	version, err := checkHeader(ctx, tx)
	if err != nil || version == len(migrations) {
		return err
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("schema migration %d: %w", i+1, err)
		}
	}
	pragmas := fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, len(migrations))
	if _, err := tx.ExecContext(ctx, pragmas); err != nil {
		return err
	}
	return tx.Commit()
}

// checkHeader returns the schema version, and an error unless the file is an
// authwatch database of a version this program knows, or a new empty one.
func checkHeader(ctx context.Context, tx *sql.Tx) (int, error) {
	var appID, version, tables int
	err := tx.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)`).
		Scan(&appID, &version, &tables)
	switch {
	case err != nil:
		return 0, err
	case appID != applicationID && (appID != 0 || version != 0 || tables != 0):
		return 0, fmt.Errorf("not an authwatch database (application_id %#x, user_version %d)", appID, version)
	case version > len(migrations):
		return 0, fmt.Errorf("schema version %d is newer than this authwatch knows (%d); upgrade authwatch", version, len(migrations))
	}
	return version, nil
}
