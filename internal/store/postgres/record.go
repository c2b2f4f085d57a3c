package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

// writeTimeout bounds a write that has begun: it runs on a context that
// outlives the caller's (see RecordRun), and must still end if the server
// stops answering.
const writeTimeout = 30 * time.Second

// Values of runs.plain: how long a run is kept whole (as in SQLite).
const (
	keptWhole  = 0 // under retention
	keptPlain  = 1 // a plain passing run: while among its flow's newest PassingRunsKept
	keptRepeat = 2 // a repeated failure: while among its flow's newest FailuresKeptPerStreak
)

const stateColumns = `flow, ok, since_ns, consecutive_passes, consecutive_failures,
	last_run_ns, last_reason, last_summary, runs, last_run_id, last_warnings, last_layer, last_failed_step, location`

const insertRunSQL = `INSERT INTO runs (id, flow, start_ns, duration_ms, waited_ms, ok, cancelled, reason, layer,
	summary, failed_step, warnings, steps, plain, location) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`

const upsertStateSQL = `INSERT INTO flow_state (` + stateColumns + `, same_failures)
	VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
	ON CONFLICT (flow, location) DO UPDATE SET ok = excluded.ok, since_ns = excluded.since_ns,
	consecutive_passes = excluded.consecutive_passes, consecutive_failures = excluded.consecutive_failures,
	last_run_ns = excluded.last_run_ns, last_reason = excluded.last_reason, last_summary = excluded.last_summary,
	runs = excluded.runs, last_run_id = excluded.last_run_id, last_warnings = excluded.last_warnings,
	last_layer = excluded.last_layer, last_failed_step = excluded.last_failed_step, same_failures = excluded.same_failures`

// flowIDCache remembers flow_ids rows, which are never deleted.
type flowIDCache struct{ m sync.Map }

func (c *flowIDCache) get(flow string) (int64, bool) {
	v, ok := c.m.Load(flow)
	if !ok {
		return 0, false
	}
	return v.(int64), true
}

// RecordRun appends r and updates its flow's state in one transaction that
// holds the flow's state row locked from its first read: runs of one flow
// recorded by several processes serialize. A run whose context has not
// ended when the write begins is written even if it ends meanwhile, so that
// the answer is the truth (within writeTimeout).
func (s *Store) RecordRun(ctx context.Context, r store.Run) (store.FlowState, error) {
	if err := r.Validate(); err != nil {
		return store.FlowState{}, fmt.Errorf("store: record run: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return store.FlowState{}, fmt.Errorf("store: record run of flow %q: %w", r.Flow, err)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	var next store.FlowState
	err := pgx.BeginFunc(wctx, s.pool, func(tx pgx.Tx) error {
		var err error
		next, err = s.recordRun(wctx, tx, r)
		return err
	})
	if err != nil {
		return store.FlowState{}, s.errorf("store: record run of flow %q: %w", r.Flow, err)
	}
	return next, nil
}

// locked is what recordRun reads of a flow once its state row is locked.
type locked struct {
	state        store.FlowState
	sameFailures int64
	flowID       int64
	runID        int64
	rollups      map[store.Tier]store.Rollup // the run's minute and hour, as stored
}

// recordRun takes two round trips besides BEGIN and COMMIT: one batch
// locks and reads, the other writes.
func (s *Store) recordRun(ctx context.Context, tx pgx.Tx, r store.Run) (store.FlowState, error) {
	minute := unixMinute(r.Start)
	hour := minute - mod(minute, 60)
	l := locked{rollups: map[store.Tier]store.Rollup{}}
	b := &pgx.Batch{}
	var fence fenceCheck
	queueFence(ctx, b, &fence)
	queueLockFlow(b, r.Flow, r.Location, &l.state, &l.sameFailures)
	s.queueFlowID(b, r.Flow, &l.flowID)
	b.Queue(`SELECT nextval(pg_get_serial_sequence('runs', 'id'))`).QueryRow(func(row pgx.Row) error { return row.Scan(&l.runID) })
	// The flow's id as a scalar subquery, not a join: joined, the planner
	// read every flow's roll-ups of the minute (4.7-17 ms per run at 2,000
	// flows; 0.37 ms this way, two primary-key lookups).
	b.Queue(`SELECT r.tier, `+rollupColumns+` FROM rollups AS r
		WHERE r.flow_id = (SELECT id FROM flow_ids WHERE flow = $1)
		AND ((r.tier = 0 AND r.start_min = $2) OR (r.tier = 1 AND r.start_min = $3))`,
		r.Flow, minute, hour).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var u store.Rollup
			var tier int16
			if err := scanRollup(rows, &u, &tier); err != nil {
				return err
			}
			l.rollups[store.Tier(tier)] = u
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return store.FlowState{}, err
	}
	if err := fence.err(); err != nil {
		return store.FlowState{}, err
	}
	s.flowIDs.m.Store(r.Flow, l.flowID)

	r.ID = l.runID
	kind, keep, same := s.keptKind(l.state, l.sameFailures, r)
	next := l.state.Next(r)
	b = &pgx.Batch{}
	b.Queue(insertRunSQL, runArgs(r, kind)...)
	b.Queue(upsertStateSQL, append(stateArgs(next), same)...)
	if keep > 0 {
		b.Queue(`DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE flow = $1 AND plain = $2
			ORDER BY start_ns DESC, id DESC OFFSET $3)`, r.Flow, kind, keep)
	}
	for _, row := range []struct {
		tier  store.Tier
		start int64
	}{{store.TierMinute, minute}, {store.TierHour, hour}} {
		u := l.rollups[row.tier]
		u.Add(r)
		queueUpsertRollup(b, row.tier, l.flowID, row.start, u)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return store.FlowState{}, err
	}
	return next, nil
}

// keptKind is how long r is kept whole (a runs.plain value), how many of
// its kind the flow keeps (0: all), and the flow's failures in a row with
// the same reason and failed step once r is counted.
func (s *Store) keptKind(prev store.FlowState, same int64, r store.Run) (kind, keep int, sameAfter int64) {
	failuresKept := s.failuresKept.Load()
	switch {
	case r.Cancelled: // not counted: the streak goes on
	case r.OK:
		same = 0
	case prev.LastRun.IsZero() || prev.OK || prev.LastReason != r.Reason || prev.LastFailedStep != r.FailedStep:
		same = 1
	default:
		same++
	}
	switch {
	case !r.Cancelled && !r.OK && failuresKept > 0 && same > failuresKept:
		return keptRepeat, int(failuresKept), same
	case !store.KeptWhole(prev, r):
		return keptPlain, int(s.passingKept.Load()), same
	}
	return keptWhole, 0, same
}

// queueLockFlow queues the statement that creates the state row of the
// flow in location if it has none (the zero state) and reads it, locked until the transaction
// ends. One statement, so that a ForgetFlows deleting the row in between
// cannot leave nothing to read: ON CONFLICT DO UPDATE locks the row it
// finds, or inserts anew if that row was deleted meanwhile.
func queueLockFlow(b *pgx.Batch, flow, location string, st *store.FlowState, same *int64) {
	b.Queue(`INSERT INTO flow_state (flow, location) VALUES ($1, $2) ON CONFLICT (flow, location) DO UPDATE SET flow = excluded.flow
		RETURNING `+stateColumns+`, same_failures`, storableText(flow), storableText(location)).
		QueryRow(func(row pgx.Row) error {
			var err error
			*st, err = scanState(row, same)
			return err
		})
}

// queueFlowID queues the statements that give the flow its flow_ids row,
// unless it is known.
func (s *Store) queueFlowID(b *pgx.Batch, flow string, id *int64) {
	if known, ok := s.flowIDs.get(flow); ok {
		*id = known
		return
	}
	b.Queue(`INSERT INTO flow_ids (flow) VALUES ($1) ON CONFLICT (flow) DO NOTHING`, flow)
	b.Queue(`SELECT id FROM flow_ids WHERE flow = $1`, flow).QueryRow(func(row pgx.Row) error { return row.Scan(id) })
}

func runArgs(r store.Run, kind int) []any {
	return textArgs(r.ID, r.Flow, nanos(r.Start), r.DurationMS, r.WaitedMS, r.OK, r.Cancelled, r.Reason, r.Layer,
		r.Summary, r.FailedStep, r.Warnings, []byte(r.Steps), kind, r.Location)
}

// stateArgs are st's values in the order of stateColumns.
func stateArgs(st store.FlowState) []any {
	return textArgs(st.Flow, st.OK, nanos(st.Since), st.ConsecutivePasses, st.ConsecutiveFailures,
		nanos(st.LastRun), st.LastReason, st.LastSummary, st.Runs,
		st.LastRunID, st.LastWarnings, st.LastLayer, st.LastFailedStep, st.Location)
}

// scanState scans stateColumns, then same_failures into same when it is
// not nil.
func scanState(row pgx.Row, same *int64) (store.FlowState, error) {
	var st store.FlowState
	var since, last int64
	dest := []any{&st.Flow, &st.OK, &since, &st.ConsecutivePasses, &st.ConsecutiveFailures,
		&last, &st.LastReason, &st.LastSummary, &st.Runs,
		&st.LastRunID, &st.LastWarnings, &st.LastLayer, &st.LastFailedStep, &st.Location}
	if same != nil {
		dest = append(dest, same)
	}
	err := row.Scan(dest...)
	st.Since, st.LastRun = fromNanos(since), fromNanos(last)
	return st, err
}

// nanos stores t as Unix nanoseconds, the zero time as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
