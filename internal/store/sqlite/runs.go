package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// queryRower is what *sql.DB and *sql.Tx share for one-row queries.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const stateColumns = `flow, ok, since_ns, consecutive_passes, consecutive_failures,
	last_run_ns, last_reason, last_summary, runs, last_run_id, last_warnings, last_layer, last_failed_step, location`

const runColumns = `id, flow, start_ns, duration_ms, ok, cancelled, reason, layer,
	summary, failed_step, warnings, steps, waited_ms, location`

// RecordRun appends r and updates its flow's state in one transaction,
// which it may share with other runs recorded at the same moment (see
// writeLoop). Once the writer has taken the run, RecordRun waits for the
// commit even if ctx ends, so that its answer is always the truth.
func (s *Store) RecordRun(ctx context.Context, r store.Run) (store.FlowState, error) {
	if err := r.Validate(); err != nil {
		return store.FlowState{}, fmt.Errorf("store: record run: %w", err)
	}
	req := recordReq{ctx: ctx, run: r, resp: make(chan recordResp, 1)}
	select {
	case s.records <- req:
	case <-s.closing:
		return store.FlowState{}, fmt.Errorf("store: record run of flow %q: %w", r.Flow, errClosed)
	case <-ctx.Done():
		return store.FlowState{}, fmt.Errorf("store: record run of flow %q: %w", r.Flow, ctx.Err())
	}
	resp := <-req.resp
	if resp.err != nil {
		return store.FlowState{}, fmt.Errorf("store: record run of flow %q: %w", r.Flow, resp.err)
	}
	return resp.state, nil
}

// stateArgs are st's values in the order of stateColumns, with room for
// one more (writeState).
func stateArgs(st store.FlowState) []any {
	return append(make([]any, 0, 15), st.Flow, st.OK, nanos(st.Since), st.ConsecutivePasses, st.ConsecutiveFailures,
		nanos(st.LastRun), st.LastReason, st.LastSummary, st.Runs,
		st.LastRunID, st.LastWarnings, st.LastLayer, st.LastFailedStep, st.Location)
}

// FlowStates returns every flow's state, ordered by flow.
func (s *Store) FlowStates(ctx context.Context) ([]store.FlowState, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+stateColumns+` FROM flow_state ORDER BY flow`)
	if err != nil {
		return nil, fmt.Errorf("store: flow states: %w", err)
	}
	defer rows.Close()
	var out []store.FlowState
	for rows.Next() {
		st, err := scanState(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("store: flow states: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: flow states: %w", err)
	}
	return out, nil
}

// FlowState returns the state of flow, and false if it has none.
func (s *Store) FlowState(ctx context.Context, flow string) (store.FlowState, bool, error) {
	st, ok, err := flowState(ctx, rawStateQuery{s.read}, flow)
	if err != nil {
		return store.FlowState{}, false, fmt.Errorf("store: state of flow %q: %w", flow, err)
	}
	return st, ok, nil
}

// stateQuery is a prepared state query, or a connection to query on.
type stateQuery interface {
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// rawStateQuery runs the state query on a connection pool or transaction.
type rawStateQuery struct{ q queryRower }

func (r rawStateQuery) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, `SELECT `+stateColumns+` FROM flow_state WHERE flow = ?`, args...)
}

func flowState(ctx context.Context, q stateQuery, flow string) (store.FlowState, bool, error) {
	row := q.QueryRowContext(ctx, flow)
	st, err := scanState(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return store.FlowState{}, false, nil
	}
	return st, err == nil, err
}

func scanState(scan func(...any) error) (store.FlowState, error) {
	var st store.FlowState
	var since, last int64
	err := scan(&st.Flow, &st.OK, &since, &st.ConsecutivePasses, &st.ConsecutiveFailures,
		&last, &st.LastReason, &st.LastSummary, &st.Runs,
		&st.LastRunID, &st.LastWarnings, &st.LastLayer, &st.LastFailedStep, &st.Location)
	st.Since, st.LastRun = fromNanos(since), fromNanos(last)
	return st, err
}

// Runs returns the flow's runs newest first (by start, then ID); limit <= 0
// returns all.
func (s *Store) Runs(ctx context.Context, flow string, limit int) ([]store.Run, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE flow = ?
		ORDER BY start_ns DESC, id DESC LIMIT ?`, flow, limit)
	if err != nil {
		return nil, fmt.Errorf("store: runs of flow %q: %w", flow, err)
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: runs of flow %q: %w", flow, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: runs of flow %q: %w", flow, err)
	}
	return out, nil
}

func scanRun(rows *sql.Rows) (store.Run, error) {
	var r store.Run
	var start int64
	var steps []byte
	err := rows.Scan(&r.ID, &r.Flow, &start, &r.DurationMS, &r.OK, &r.Cancelled, &r.Reason,
		&r.Layer, &r.Summary, &r.FailedStep, &r.Warnings, &steps, &r.WaitedMS, &r.Location)
	r.Start, r.Steps = fromNanos(start), json.RawMessage(steps)
	return r, err
}

// pruneBatch is how many runs one prune transaction deletes. The store has
// one writer connection: a prune in one transaction held it for seconds on
// a large history (about 10 s for 2.7M runs), and every RecordRun waited.
// In batches, runs are recorded between them (the pool hands the
// connection to waiters in turn).
const pruneBatch = 2000

// pruneCuts finds, for each flow with more than ?1 runs (of those that
// pass the filter %[1]s on x), its ?1-th newest such run, walking
// runs_flow_start backwards: the flow's such runs before it go.
const pruneCuts = `SELECT k.flow, k.start_ns, k.id FROM (SELECT DISTINCT flow FROM runs) AS f
	JOIN runs AS k ON k.id = (SELECT x.id FROM runs AS x WHERE x.flow = f.flow AND %[1]s
		ORDER BY x.start_ns DESC, x.id DESC LIMIT 1 OFFSET ?1 - 1)`

// Prune deletes runs by age, then beyond the count per flow, then plain
// passing runs beyond the number kept, and roll-ups past their tier's
// retention, in batches of pruneBatch rows per transaction; then, when the
// database is over ret.MaxBytes, the oldest history (see pruneBySize). It sets the
// number of passing runs RecordRun keeps whole from now on.
func (s *Store) Prune(ctx context.Context, now time.Time, ret store.Retention) (int, error) {
	err := s.changeMemory(ctx, func(h *history) { h.setKept(ret) })
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	n, err := s.prune(ctx, now, ret)
	if err == nil {
		err = s.pruneRollups(ctx, now, ret)
	}
	if err == nil && ret.MaxBytes > 0 {
		var bySize int
		bySize, err = s.pruneBySize(ctx, now, ret.MaxBytes)
		n += bySize
	}
	if err != nil {
		return n, fmt.Errorf("store: prune: %w", err)
	}
	return n, nil
}

func (s *Store) prune(ctx context.Context, now time.Time, ret store.Retention) (int, error) {
	total := 0
	if ret.MaxAge > 0 {
		n, err := s.deleteInBatches(ctx, `DELETE FROM runs WHERE id IN (
			SELECT id FROM runs WHERE start_ns < ?1 LIMIT ?2)`, nanos(now.Add(-ret.MaxAge)))
		total += n
		if err != nil {
			return total, err
		}
	}
	for _, rule := range []struct {
		keep   int
		filter string
	}{{ret.MaxRunsPerFlow, "1"}, {ret.PassingRunsKept, "plain = 1"}, {ret.FailuresKeptPerStreak, "plain = 2"}} {
		if rule.keep <= 0 {
			continue
		}
		n, err := s.pruneBeyond(ctx, rule.keep, rule.filter)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// pruneBeyond deletes each flow's runs that pass filter beyond the newest
// keep of them.
func (s *Store) pruneBeyond(ctx context.Context, keep int, filter string) (int, error) {
	total := 0
	type cut struct {
		flow      string
		start, id int64
	}
	var cuts []cut
	rows, err := s.write.QueryContext(ctx, fmt.Sprintf(pruneCuts, strings.ReplaceAll(filter, "plain", "x.plain")), keep)
	if err != nil {
		return total, err
	}
	for rows.Next() {
		var c cut
		if err := rows.Scan(&c.flow, &c.start, &c.id); err != nil {
			rows.Close()
			return total, err
		}
		cuts = append(cuts, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return total, err
	}
	// A few flows per statement: one flow's hourly excess is a few hundred
	// runs, and each statement is a commit (an fsync).
	const flowsPerStatement = 8
	for len(cuts) > 0 {
		chunk := cuts[:min(flowsPerStatement, len(cuts))]
		cuts = cuts[len(chunk):]
		var where strings.Builder
		args := []any{}
		for i, c := range chunk {
			if i > 0 {
				where.WriteString(" OR ")
			}
			fmt.Fprintf(&where, "(flow = ?%d AND (start_ns, id) < (?%d, ?%d))", 3+3*i, 4+3*i, 5+3*i)
			args = append(args, c.flow, c.start, c.id)
		}
		n, err := s.deleteInBatches(ctx, `DELETE FROM runs WHERE id IN (
			SELECT id FROM runs WHERE (`+where.String()+`) AND `+filter+` LIMIT ?2)`, nil, args...)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// pruneRollups deletes roll-ups that started before their tier's
// retention.
func (s *Store) pruneRollups(ctx context.Context, now time.Time, ret store.Retention) error {
	for _, tier := range []struct {
		tier store.Tier
		keep time.Duration
	}{{store.TierMinute, ret.MinuteRollups}, {store.TierHour, ret.HourRollups}} {
		if tier.keep <= 0 {
			continue
		}
		if _, err := s.deleteRollupsBefore(ctx, tier.tier, floorDiv(now.Add(-tier.keep).Unix(), 60)); err != nil {
			return err
		}
	}
	return nil
}

// deleteRollupsBefore deletes the tier's roll-ups that started before the
// Unix minute cut, walking the primary key by flow: a range of flows per
// statement, so that each transaction stays short.
func (s *Store) deleteRollupsBefore(ctx context.Context, tier store.Tier, cut int64) (int, error) {
	var maxID int64
	if err := s.write.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM flow_ids`).Scan(&maxID); err != nil {
		return 0, err
	}
	const flowsPerStatement = 200
	total := 0
	for lo := int64(0); lo <= maxID; lo += flowsPerStatement {
		// Each flow's IDs as an IN list: the primary key then serves
		// (tier, flow_id) by equality and start_min as a range.
		ids := make([]int64, 0, flowsPerStatement)
		for id := lo; id < lo+flowsPerStatement && id <= maxID; id++ {
			ids = append(ids, id)
		}
		list, _ := json.Marshal(ids)
		res, err := s.write.ExecContext(ctx, `DELETE FROM rollups WHERE tier = ?1
			AND flow_id IN (SELECT value FROM json_each(?2)) AND start_min < ?3`,
			int(tier), string(list), cut)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		total += int(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deleteInBatches runs a DELETE whose ?2 is the batch size until it
// deletes fewer than a batch; ?1 is first, ?3... are rest.
func (s *Store) deleteInBatches(ctx context.Context, query string, first any, rest ...any) (int, error) {
	args := append([]any{first, pruneBatch}, rest...)
	total := 0
	for {
		res, err := s.write.ExecContext(ctx, query, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < pruneBatch {
			return total, nil
		}
	}
}

// ForgetFlows deletes the state of every flow not in keep, and the
// writer's memory of it (its open roll-up written). Its runs and roll-ups
// stay until retention removes them; a flow configured again starts from
// no state, with the same flow number.
func (s *Store) ForgetFlows(ctx context.Context, keep []string) error {
	if keep == nil {
		keep = []string{}
	}
	list, err := json.Marshal(keep)
	if err != nil {
		return fmt.Errorf("store: forget flows: %w", err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: forget flows: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM flow_state
		WHERE flow NOT IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
		return fmt.Errorf("store: forget flows: %w", err)
	}
	kept := make(map[string]bool, len(keep))
	for _, f := range keep {
		kept[f] = true
	}
	// The writer's memory of the flows forgotten goes too (it would grow
	// with every flow ever configured), their open roll-ups written first.
	s.hist.mu.Lock()
	undo := newUndo(&s.hist)
	for flow, e := range s.hist.flows {
		if kept[flow] {
			continue
		}
		undo.save(&s.hist, flow)
		if e.open.Runs > 0 {
			if err = s.flushOpen(ctx, tx, e); err != nil {
				break
			}
		}
		delete(s.hist.flows, flow)
	}
	s.hist.mu.Unlock()
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		s.hist.mu.Lock()
		undo.restore(&s.hist)
		s.hist.mu.Unlock()
		return fmt.Errorf("store: forget flows: %w", err)
	}
	return nil
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

// RestoreRuns implements store.Restorer: the runs, in order, and the flow
// states as given, in one transaction. The states are not recomputed: they
// were computed when the runs happened, possibly over runs that were never
// written (dropped to bound memory).
func (s *Store) RestoreRuns(ctx context.Context, runs []store.Run, states []store.FlowState) error {
	for _, r := range runs {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("store: restore runs: %w", err)
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: restore runs: %w", err)
	}
	defer tx.Rollback()
	s.hist.mu.Lock()
	undo := newUndo(&s.hist)
	err = s.restoreRuns(ctx, tx, undo, runs, states)
	s.hist.mu.Unlock()
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		s.hist.mu.Lock()
		undo.restore(&s.hist)
		s.hist.mu.Unlock()
		return fmt.Errorf("store: restore runs: %w", err)
	}
	return nil
}

// restoreRuns keeps every restored run whole (they are few: those of an
// outage of the store) and counts them in the roll-ups, inside tx; s.hist.mu is held.
func (s *Store) restoreRuns(ctx context.Context, tx *sql.Tx, undo *batchUndo, runs []store.Run, states []store.FlowState) error {
	states = slices.Clone(states) // LastRunID is filled in below
	insert, upsert := s.txStmt(ctx, tx, s.stmts.insertRun), s.txStmt(ctx, tx, s.stmts.upsertState)
	lastCounted := map[string]store.Run{} // per flow, with its new ID
	for _, r := range runs {
		res, err := insert.ExecContext(ctx, r.Flow, nanos(r.Start), r.DurationMS, r.OK, r.Cancelled, r.Reason, r.Layer,
			r.Summary, r.FailedStep, r.Warnings, []byte(r.Steps), r.WaitedMS, keptWhole, r.Location)
		if err != nil {
			return err
		}
		if r.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if !r.Cancelled {
			lastCounted[r.Flow] = r
		}
		undo.save(&s.hist, r.Flow)
		e, err := s.entry(ctx, tx, r.Flow)
		if err != nil {
			return err
		}
		if minute := unixMinute(r.Start); e.open.Runs > 0 && e.minute != minute {
			if err := s.flushOpen(ctx, tx, e); err != nil {
				return err
			}
		}
		if e.open.Runs == 0 {
			e.minute = unixMinute(r.Start)
		}
		e.open.Add(r)
	}
	for i, st := range states {
		// The state was computed before its last run had an ID.
		if r, ok := lastCounted[st.Flow]; ok && st.LastRunID == 0 && r.Start.Equal(st.LastRun) {
			st.LastRunID = r.ID
			states[i] = st
		}
		if _, err := upsert.ExecContext(ctx, stateArgs(st)...); err != nil {
			return err
		}
	}
	for _, st := range states {
		undo.save(&s.hist, st.Flow)
		if e := s.hist.flows[st.Flow]; e != nil {
			e.state = st
		}
	}
	return nil
}
