package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

const runColumns = `id, flow, start_ns, duration_ms, ok, cancelled, reason, layer,
	summary, failed_step, warnings, steps, waited_ms, location`

// FlowStates returns every flow's state, ordered by flow. A flow whose
// first run is being recorded (its row is the zero state) is left out.
func (s *Store) FlowStates(ctx context.Context) ([]store.FlowState, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stateColumns+` FROM flow_state WHERE runs > 0
		ORDER BY flow COLLATE "C", location COLLATE "C"`)
	if err != nil {
		return nil, s.errorf("store: flow states: %w", err)
	}
	defer rows.Close()
	var out []store.FlowState
	for rows.Next() {
		st, err := scanState(rows, nil)
		if err != nil {
			return nil, s.errorf("store: flow states: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("store: flow states: %w", err)
	}
	return out, nil
}

// FlowState returns the state of flow in the Store's location
// (Options.Location), and false if it has none.
func (s *Store) FlowState(ctx context.Context, flow string) (store.FlowState, bool, error) {
	st, err := scanState(s.pool.QueryRow(ctx, `SELECT `+stateColumns+` FROM flow_state
		WHERE flow = $1 AND location = $2 AND runs > 0`, flow, s.location), nil)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.FlowState{}, false, nil
	case err != nil:
		return store.FlowState{}, false, s.errorf("store: state of flow %q: %w", flow, err)
	}
	return st, true, nil
}

// Runs returns the flow's runs newest first (by start, then ID); limit <= 0
// returns all.
func (s *Store) Runs(ctx context.Context, flow string, limit int) ([]store.Run, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	out, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE flow = $1
		ORDER BY start_ns DESC, id DESC LIMIT $2`, flow, lim)
	if err != nil {
		return nil, s.errorf("store: runs of flow %q: %w", flow, err)
	}
	return out, nil
}

// RunsBefore returns the flow's runs older than the run with ID before (in
// the order of Runs), newest first, at most limit of them; none when
// before is not a run of the flow (statuspage.RunPager).
func (s *Store) RunsBefore(ctx context.Context, flow string, before int64, limit int) ([]store.Run, error) {
	out, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE flow = $1
		AND (start_ns, id) < (SELECT start_ns, id FROM runs WHERE id = $2 AND flow = $1)
		ORDER BY start_ns DESC, id DESC LIMIT $3`, flow, before, limit)
	if err != nil {
		return nil, s.errorf("store: runs of flow %q before %d: %w", flow, before, err)
	}
	return out, nil
}

func (s *Store) queryRuns(ctx context.Context, query string, args ...any) ([]store.Run, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		var r store.Run
		var start int64
		var steps []byte
		if err := rows.Scan(&r.ID, &r.Flow, &start, &r.DurationMS, &r.OK, &r.Cancelled, &r.Reason,
			&r.Layer, &r.Summary, &r.FailedStep, &r.Warnings, &steps, &r.WaitedMS, &r.Location); err != nil {
			return nil, err
		}
		r.Start = fromNanos(start)
		if steps != nil {
			r.Steps = steps
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ForgetFlows deletes the state of every flow not in keep.
func (s *Store) ForgetFlows(ctx context.Context, keep []string) error {
	if keep == nil {
		keep = []string{}
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM flow_state WHERE flow <> ALL($1)`, keep); err != nil {
		return s.errorf("store: forget flows: %w", err)
	}
	return nil
}

// RestoreRuns implements store.Restorer: the runs, in order, kept whole
// and counted in the roll-ups, and the flow states as given (they were
// computed when the runs happened, possibly over runs never written), in
// one transaction that locks the flows' state rows in name order.
func (s *Store) RestoreRuns(ctx context.Context, runs []store.Run, states []store.FlowState) error {
	for _, r := range runs {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("store: restore runs: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: restore runs: %w", err)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := pgx.BeginFunc(wctx, s.pool, func(tx pgx.Tx) error { return s.restoreRuns(wctx, tx, runs, states) })
	if err != nil {
		return s.errorf("store: restore runs: %w", err)
	}
	return nil
}

func (s *Store) restoreRuns(ctx context.Context, tx pgx.Tx, runs []store.Run, states []store.FlowState) error {
	type flowRow struct {
		state       store.FlowState
		same, id    int64
		lastCounted store.Run // with its new ID
	}
	flows := map[stateKey]*flowRow{}
	for _, r := range runs {
		flows[stateKey{r.Flow, r.Location}] = &flowRow{}
	}
	for _, st := range states {
		flows[stateKey{st.Flow, st.Location}] = &flowRow{}
	}
	b := &pgx.Batch{}
	for _, k := range slices.SortedFunc(maps.Keys(flows), stateKey.compare) {
		e := flows[k]
		queueLockFlow(b, k.flow, k.location, &e.state, &e.same)
		s.queueFlowID(b, k.flow, &e.id)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	runs = slices.Clone(runs)
	b = &pgx.Batch{}
	for i := range runs {
		r := &runs[i]
		b.Queue(`SELECT nextval(pg_get_serial_sequence('runs', 'id'))`).QueryRow(func(row pgx.Row) error { return row.Scan(&r.ID) })
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	pending := map[rollupKey]store.Rollup{}
	b = &pgx.Batch{}
	for _, r := range runs {
		e := flows[stateKey{r.Flow, r.Location}]
		s.flowIDs.m.Store(r.Flow, e.id)
		b.Queue(insertRunSQL, runArgs(r, keptWhole)...)
		if !r.Cancelled {
			e.lastCounted = r
		}
		minute := unixMinute(r.Start)
		for _, k := range []rollupKey{{store.TierMinute, e.id, minute}, {store.TierHour, e.id, minute - mod(minute, 60)}} {
			u := pending[k]
			u.Add(r)
			pending[k] = u
		}
	}
	for _, st := range states {
		e := flows[stateKey{st.Flow, st.Location}]
		// The state was computed before its last run had an ID.
		if r := e.lastCounted; st.LastRunID == 0 && r.ID != 0 && r.Start.Equal(st.LastRun) {
			st.LastRunID = r.ID
		}
		b.Queue(upsertStateSQL, append(stateArgs(st), e.same)...)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return mergeRollups(ctx, tx, pending)
}

// stateKey names a flow_state row.
type stateKey struct{ flow, location string }

// compare orders keys as the rows are locked: by flow, then location.
func (a stateKey) compare(b stateKey) int {
	return cmp.Or(strings.Compare(a.flow, b.flow), strings.Compare(a.location, b.location))
}

// LocationStates implements store.LocationStates.
func (s *Store) LocationStates(ctx context.Context, flow string) ([]store.FlowState, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stateColumns+` FROM flow_state WHERE flow = $1 AND runs > 0
		ORDER BY location COLLATE "C"`, flow)
	if err != nil {
		return nil, s.errorf("store: states of flow %q: %w", flow, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.FlowState, error) { return scanState(row, nil) })
	if err != nil {
		return nil, s.errorf("store: states of flow %q: %w", flow, err)
	}
	return out, nil
}

// rollupKey names a roll-up row.
type rollupKey struct {
	tier     store.Tier
	flowID   int64
	startMin int64
}

// mergeRollups adds the counts in pending to their rows.
func mergeRollups(ctx context.Context, tx pgx.Tx, pending map[rollupKey]store.Rollup) error {
	stored := map[rollupKey]store.Rollup{}
	b := &pgx.Batch{}
	for k := range pending {
		b.Queue(`SELECT `+rollupColumns+` FROM rollups AS r WHERE r.tier = $1 AND r.flow_id = $2 AND r.start_min = $3`,
			int16(k.tier), k.flowID, k.startMin).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var u store.Rollup
				if err := scanRollup(rows, &u, nil); err != nil {
					return err
				}
				stored[k] = u
			}
			return rows.Err()
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	b = &pgx.Batch{}
	for k, add := range pending {
		u := stored[k]
		u.Merge(add)
		queueUpsertRollup(b, k.tier, k.flowID, k.startMin, u)
	}
	return tx.SendBatch(ctx, b).Close()
}
