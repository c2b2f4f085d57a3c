package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

// Import copies another store's data into an empty PostgreSQL store in one
// transaction (`authwatch store migrate`): run IDs and outbox IDs are kept
// (flow states and roll-ups name runs by ID), and the identity sequences
// are moved past them at Commit. Create it with BeginImport; call Commit
// or Rollback.
type Import struct {
	s       *Store
	tx      pgx.Tx
	flowIDs map[string]int64
	floors  map[string]int64 // IDsAfter
}

// ImportedRun is a run as the source keeps it: Plain is its history tier
// (0 kept whole, 1 a plain passing run, 2 a repeated failure; see
// docs/history.md).
type ImportedRun struct {
	store.Run
	Plain int
}

// ImportedOutboxItem is an outbox item with its delivery state (0 pending,
// 1 delivered, 2 dead) and when it was delivered or given up.
type ImportedOutboxItem struct {
	store.OutboxItem
	State int
	Done  time.Time
}

// BeginImport starts an import. It refuses a store that already holds
// runs, flow states, roll-ups, secrets, incidents, notifications or
// baselines: an
// import adds nothing to a history, it moves one.
func (s *Store) BeginImport(ctx context.Context) (*Import, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, s.errorf("store: import: %w", err)
	}
	// No other writer while the copy runs (a daemon started too early).
	if _, err := tx.Exec(ctx, `LOCK TABLE runs, flow_state, flow_ids, rollups, secrets, outbox, incident_state,
		baselines, baseline_accepts IN EXCLUSIVE MODE`); err != nil {
		_ = tx.Rollback(ctx)
		return nil, s.errorf("store: import: %w", err)
	}
	var used bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM flow_state)
		OR EXISTS (SELECT 1 FROM rollups) OR EXISTS (SELECT 1 FROM secrets) OR EXISTS (SELECT 1 FROM outbox)
		OR EXISTS (SELECT 1 FROM incident_state) OR EXISTS (SELECT 1 FROM baselines)
		OR EXISTS (SELECT 1 FROM baseline_accepts)`).Scan(&used); err != nil {
		_ = tx.Rollback(ctx)
		return nil, s.errorf("store: import: %w", err)
	}
	if used {
		_ = tx.Rollback(ctx)
		return nil, errors.New("store: import: the PostgreSQL database already holds authwatch data; import into an empty one")
	}
	return &Import{s: s, tx: tx, flowIDs: map[string]int64{}}, nil
}

// Runs copies runs (COPY), with their IDs.
func (im *Import) Runs(ctx context.Context, runs []ImportedRun) error {
	rows := make([][]any, len(runs))
	for i, r := range runs {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("store: import run %d: %w", r.ID, err)
		}
		rows[i] = runArgs(r.Run, r.Plain)
	}
	_, err := im.tx.CopyFrom(ctx, pgx.Identifier{"runs"}, []string{"id", "flow", "start_ns", "duration_ms", "waited_ms",
		"ok", "cancelled", "reason", "layer", "summary", "failed_step", "warnings", "steps", "plain", "location"}, pgx.CopyFromRows(rows))
	if err != nil {
		return im.s.errorf("store: import runs: %w", err)
	}
	return nil
}

// States writes flow states.
func (im *Import) States(ctx context.Context, states []store.FlowState) error {
	b := &pgx.Batch{}
	for _, st := range states {
		b.Queue(upsertStateSQL, append(stateArgs(st), int64(0))...)
	}
	if err := im.tx.SendBatch(ctx, b).Close(); err != nil {
		return im.s.errorf("store: import flow states: %w", err)
	}
	return nil
}

// Rollups writes roll-ups (Flow, Tier and Start name each).
func (im *Import) Rollups(ctx context.Context, ups []store.Rollup) error {
	b := &pgx.Batch{}
	for _, u := range ups {
		id, err := im.flowID(ctx, u.Flow)
		if err != nil {
			return im.s.errorf("store: import roll-ups: %w", err)
		}
		queueUpsertRollup(b, u.Tier, id, floorDiv(u.Start.Unix(), 60), u)
	}
	if err := im.tx.SendBatch(ctx, b).Close(); err != nil {
		return im.s.errorf("store: import roll-ups: %w", err)
	}
	return nil
}

func (im *Import) flowID(ctx context.Context, flow string) (int64, error) {
	if id, ok := im.flowIDs[flow]; ok {
		return id, nil
	}
	var id int64
	err := im.tx.QueryRow(ctx, `INSERT INTO flow_ids (flow) VALUES ($1) RETURNING id`, flow).Scan(&id)
	im.flowIDs[flow] = id
	return id, err
}

// Secret writes one secret, encrypted; it fails without a secret key.
func (im *Import) Secret(ctx context.Context, key, value string) error {
	if im.s.secrets == nil {
		return fmt.Errorf("store: import secret %q: %w", key, ErrNoSecretKey)
	}
	key = storableText(key) // the row's key and the seal's AAD: the same bytes
	if _, err := im.tx.Exec(ctx, `INSERT INTO secrets (key, key_id, value) VALUES ($1, $2, $3)`,
		key, im.s.secrets.id, im.s.secrets.seal(key, value)); err != nil {
		return im.s.errorf("store: import secret %q: %w", key, err)
	}
	return nil
}

// Outbox copies notifications with their IDs and delivery states.
func (im *Import) Outbox(ctx context.Context, items []ImportedOutboxItem) error {
	b := &pgx.Batch{}
	for _, it := range items {
		b.Queue(`INSERT INTO outbox (id, notifier, incident_key, event_id, event, created_ns, attempts, next_ns, last_error, state, done_ns)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, textArgs(it.ID, it.Notifier, it.IncidentKey, it.EventID, []byte(it.Event),
			nanos(it.Created), it.Attempts, nanos(it.NextAttempt), it.LastError, it.State, nanos(it.Done))...)
	}
	if err := im.tx.SendBatch(ctx, b).Close(); err != nil {
		return im.s.errorf("store: import outbox: %w", err)
	}
	return nil
}

// Incident writes a flow's incident state.
func (im *Import) Incident(ctx context.Context, flow string, state json.RawMessage) error {
	if _, err := im.tx.Exec(ctx, `INSERT INTO incident_state (flow, state) VALUES ($1, $2)`, flow, []byte(state)); err != nil {
		return im.s.errorf("store: import incident state of %q: %w", flow, err)
	}
	return nil
}

// Baselines copies learned baselines as they are.
func (im *Import) Baselines(ctx context.Context, bs []store.Baseline) error {
	b := &pgx.Batch{}
	for _, bl := range bs {
		if bl.Flow == "" {
			return errors.New("store: import baselines: empty flow")
		}
		b.Queue(`INSERT INTO baselines (flow, data, updated_ns) VALUES ($1, $2, $3)`, bl.Flow, []byte(bl.Data), bl.Updated.UnixNano())
	}
	if err := im.tx.SendBatch(ctx, b).Close(); err != nil {
		return im.s.errorf("store: import baselines: %w", err)
	}
	return nil
}

// BaselineAccepts copies accepts of changed baselines, with their IDs.
func (im *Import) BaselineAccepts(ctx context.Context, as []store.BaselineAccept) error {
	b := &pgx.Batch{}
	for _, a := range as {
		b.Queue(`INSERT INTO baseline_accepts (id, flow, by_name, at_ns) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4)`,
			a.ID, a.Flow, a.By, a.At.UnixNano())
	}
	if err := im.tx.SendBatch(ctx, b).Close(); err != nil {
		return im.s.errorf("store: import baseline accepts: %w", err)
	}
	return nil
}

// IDsAfter makes Commit move table's (runs, outbox, baseline_accepts) identity sequence past
// id even if no copied row has it: the source's counter, so that the ID
// of a row pruned before the copy is never given again.
func (im *Import) IDsAfter(table string, id int64) {
	if im.floors == nil {
		im.floors = map[string]int64{}
	}
	im.floors[table] = max(im.floors[table], id)
}

// Commit moves the identity sequences past the imported IDs (and those of
// IDsAfter), so that a new run, notification or accept never takes an
// imported one's, and commits.
func (im *Import) Commit(ctx context.Context) error {
	for _, table := range []string{"runs", "outbox", "baseline_accepts"} {
		if _, err := im.tx.Exec(ctx, fmt.Sprintf(`SELECT setval(seq, greatest(m, coalesce(pg_sequence_last_value(seq), 0)))
			FROM (SELECT pg_get_serial_sequence('%[1]s', 'id')::regclass AS seq,
				greatest((SELECT max(id) FROM %[1]s), $1::bigint) AS m) AS q
			WHERE m > 0`, table), im.floors[table]); err != nil {
			return im.s.errorf("store: import: %w", err)
		}
	}
	if err := im.tx.Commit(ctx); err != nil {
		return im.s.errorf("store: import: %w", err)
	}
	return nil
}

// Rollback abandons the import; after Commit it does nothing.
func (im *Import) Rollback(ctx context.Context) { _ = im.tx.Rollback(ctx) }
