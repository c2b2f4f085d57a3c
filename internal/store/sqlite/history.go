package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/authwatch/authwatch/internal/store"
)

// histMergeFunc adds two encoded store.Histograms, so that a roll-up row
// is merged by one upsert (see upsertRollup).
const histMergeFunc = "authwatch_hist_merge"

func init() {
	msqlite.MustRegisterDeterministicScalarFunction(histMergeFunc, 2,
		func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			var a, b store.Histogram
			if err := a.UnmarshalBinary(blobArg(args[0])); err != nil {
				return nil, err
			}
			if err := b.UnmarshalBinary(blobArg(args[1])); err != nil {
				return nil, err
			}
			a.Merge(b)
			return a.AppendBinary([]byte{}), nil
		})
}

func blobArg(v driver.Value) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// history is the writer's memory of each flow it recorded runs of: its
// state (so that RecordRun reads no state), its number in flow_ids, the
// IDs of its passing runs kept whole (to delete the oldest when one more
// comes) and the roll-up of its current minute, written when the flow's
// minute changes, when the minute is over for every flow (sweep) and on
// Close.
//
// Lock order: the write connection (a transaction or a *sql.Conn of
// s.write), then mu; never the other way round. The memory is changed only
// by the holder of the write connection, with mu held for the change (the
// SQL of a batch included, its commit not), so a batch's memory is
// consistent with its transaction. Readers of the open roll-ups (Rollups,
// RollupTotals) take mu alone, and hold no connection of s.write: a long
// prune statement holding the connection delays the next batch, never
// them, and no cycle is possible. (They may see a batch's open roll-ups
// during its commit, taken back if the commit fails.)
type history struct {
	mu          sync.Mutex
	flows       map[string]*flowEntry
	sweptMinute int64 // the newest run minute at the last sweep
	passingKept int   // set by Open and Prune; 0 keeps every passing run whole
	// failuresKept is FailuresKeptPerStreak, set by Open and Prune; 0
	// keeps every failure whole.
	failuresKept int
}

// setKept sets the numbers of passing runs and of repeats kept whole.
func (h *history) setKept(ret store.Retention) {
	if h.passingKept != max(ret.PassingRunsKept, 0) {
		h.passingKept = max(ret.PassingRunsKept, 0)
		for _, e := range h.flows {
			e.kept, e.keptRead = nil, false // read again at the flow's next passing run
		}
	}
	if h.failuresKept != max(ret.FailuresKeptPerStreak, 0) {
		h.failuresKept = max(ret.FailuresKeptPerStreak, 0)
		for _, e := range h.flows {
			e.repeats, e.repeatsRead = nil, false
		}
	}
}

// changeMemory runs change on the writer's memory outside a batch, in the
// lock order: the write connection, then hist.mu.
func (s *Store) changeMemory(ctx context.Context, change func(*history)) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.hist.mu.Lock()
	defer s.hist.mu.Unlock()
	change(&s.hist)
	return nil
}

// Values of runs.plain: how long a run is kept whole.
const (
	keptWhole  = 0 // under retention
	keptPlain  = 1 // a plain passing run: while among its flow's newest passingKept
	keptRepeat = 2 // a repeated failure: while among its flow's newest failuresKept
)

type flowEntry struct {
	id       int64
	state    store.FlowState
	kept     []int64 // plain passing runs kept whole, oldest first
	minute   int64   // Unix minute of open; meaningful when open.Runs > 0
	open     store.Rollup
	keptRead bool // kept was read from the database
	// sameFailures counts the failures in a row with the same reason and
	// failed step, up to and including the last run (0 after a pass). It
	// starts again at a restart: at most failuresKept more whole records.
	sameFailures int
	repeats      []int64 // repeated failures kept whole, oldest first
	repeatsRead  bool
}

// clone copies e for batchUndo. The lists of kept runs are shared: they
// are only appended to, cut at the front or replaced, never written within
// their length, so the copy's view of them does not change.
func (e *flowEntry) clone() *flowEntry {
	c := *e
	c.open = e.cloneOpen()
	return &c
}

// cloneOpen copies the open roll-up (its histogram is counted in place).
func (e *flowEntry) cloneOpen() store.Rollup {
	u := e.open
	u.Latency = store.Histogram{}
	u.Latency.Merge(e.open.Latency)
	return u
}

// batchUndo holds the entries as they were before a batch touched them
// (nil: the entry did not exist), to put back when the batch fails, and
// the plain passing runs the batch pushed out of their flows' kept runs,
// deleted together at the end of the batch (one statement instead of one
// per run: see BenchmarkRecordRunFlows).
type batchUndo struct {
	entries     map[string]*flowEntry
	evict       []int64
	sweptMinute int64 // h.sweptMinute before the batch
}

func newUndo(h *history) *batchUndo {
	return &batchUndo{entries: map[string]*flowEntry{}, sweptMinute: h.sweptMinute}
}

func (u *batchUndo) save(h *history, flow string) {
	if _, ok := u.entries[flow]; ok {
		return
	}
	if e := h.flows[flow]; e != nil {
		u.entries[flow] = e.clone()
	} else {
		u.entries[flow] = nil
	}
}

// deleteEvicted deletes the runs pushed out in the batch.
func (s *Store) deleteEvicted(ctx context.Context, tx *sql.Tx, u *batchUndo) error {
	if len(u.evict) == 0 {
		return nil
	}
	_, err := s.txStmt(ctx, tx, s.stmts.deleteRuns).ExecContext(ctx, jsonInts(u.evict))
	return err
}

// jsonInts is ids as a JSON array, for json_each.
func jsonInts(ids []int64) string {
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

func (u *batchUndo) restore(h *history) {
	// A sweep that is not committed did not happen: the next batch in the
	// same minute sweeps again.
	h.sweptMinute = u.sweptMinute
	for flow, e := range u.entries {
		if e == nil {
			delete(h.flows, flow)
		} else {
			h.flows[flow] = e
		}
	}
}

// recordStmts are RecordRun's statements, prepared on the writer.
type recordStmts struct {
	state, insertRun, updateState, upsertState, flowID, newFlowID, keptIDs, deleteRuns, upsertRollup *sql.Stmt
}

// updateStateSQL updates a flow's state row in place, its arguments those
// of stateColumns (stateArgs) with the flow moved last (plain ?: modernc
// allocates the name of each numbered parameter at every bind). An UPDATE
// of a WITHOUT ROWID row costs less than INSERT OR REPLACE, which deletes
// it and inserts it again.
var updateStateSQL = func() string {
	cols := strings.Split(stateColumns, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i]) + " = ?"
	}
	return "UPDATE flow_state SET " + strings.Join(cols[1:], ", ") + " WHERE " + cols[0]
}()

const upsertRollupSQL = `INSERT INTO rollups (tier, flow_id, start_min, runs, passed, failed,
	cancelled, warnings, lat_sum_us, lat_min_us, lat_max_us, hist, last_run_id)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT DO UPDATE SET runs = runs + excluded.runs, passed = passed + excluded.passed,
	failed = failed + excluded.failed, cancelled = cancelled + excluded.cancelled,
	warnings = warnings + excluded.warnings, lat_sum_us = lat_sum_us + excluded.lat_sum_us,
	lat_min_us = CASE WHEN passed + failed = 0 THEN excluded.lat_min_us
		WHEN excluded.passed + excluded.failed = 0 THEN lat_min_us
		ELSE min(lat_min_us, excluded.lat_min_us) END,
	lat_max_us = max(lat_max_us, excluded.lat_max_us),
	hist = ` + histMergeFunc + `(hist, excluded.hist), last_run_id = max(last_run_id, excluded.last_run_id)`

func prepareRecord(db *sql.DB) (recordStmts, error) {
	var st recordStmts
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&st.state, `SELECT ` + stateColumns + ` FROM flow_state WHERE flow = ?`},
		{&st.insertRun, `INSERT INTO runs (flow, start_ns, duration_ms, ok, cancelled, reason, layer,
			summary, failed_step, warnings, steps, waited_ms, plain, location) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`},
		{&st.updateState, updateStateSQL},
		{&st.upsertState, `INSERT OR REPLACE INTO flow_state (` + stateColumns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`},
		{&st.flowID, `SELECT id FROM flow_ids WHERE flow = ?`},
		{&st.newFlowID, `INSERT INTO flow_ids (flow) VALUES (?)`},
		{&st.keptIDs, `SELECT id FROM runs WHERE flow = ? AND plain = ? ORDER BY start_ns DESC, id DESC LIMIT ?`},
		{&st.deleteRuns, `DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))`},
		{&st.upsertRollup, upsertRollupSQL},
	} {
		var err error
		if *p.stmt, err = db.Prepare(p.sql); err != nil {
			return st, err
		}
	}
	return st, nil
}

// txStmts are the writer's statements bound to its current transaction:
// tx.StmtContext allocates a new *sql.Stmt on every call, once per
// statement per run. Used only by the holder of the write connection.
type txStmts struct {
	tx    *sql.Tx
	from  [10]*sql.Stmt
	bound [10]*sql.Stmt
	n     int
}

// txStmt returns stmt bound to tx, binding it at its first use in tx.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt) *sql.Stmt {
	c := &s.txStmts
	if c.tx != tx {
		*c = txStmts{tx: tx}
	}
	for i := range c.n {
		if c.from[i] == stmt {
			return c.bound[i]
		}
	}
	b := tx.StmtContext(ctx, stmt)
	if c.n < len(c.from) {
		c.from[c.n], c.bound[c.n] = stmt, b
		c.n++
	}
	return b
}

// entry returns the flow's entry, reading it inside tx the first time.
func (s *Store) entry(ctx context.Context, tx *sql.Tx, flow string) (*flowEntry, error) {
	if e := s.hist.flows[flow]; e != nil {
		return e, nil
	}
	e := &flowEntry{}
	var err error
	if e.state, _, err = flowState(ctx, s.txStmt(ctx, tx, s.stmts.state), flow); err != nil {
		return nil, err
	}
	err = s.txStmt(ctx, tx, s.stmts.flowID).QueryRowContext(ctx, flow).Scan(&e.id)
	if err == sql.ErrNoRows {
		var res sql.Result
		if res, err = s.txStmt(ctx, tx, s.stmts.newFlowID).ExecContext(ctx, flow); err == nil {
			e.id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return nil, err
	}
	s.hist.flows[flow] = e
	return e, nil
}

// readKept reads the IDs of the flow's newest n runs of the kind (keptPlain
// or keptRepeat), oldest first.
func (s *Store) readKept(ctx context.Context, tx *sql.Tx, flow string, kind, n int) ([]int64, error) {
	rows, err := s.txStmt(ctx, tx, s.stmts.keptIDs).QueryContext(ctx, flow, kind, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	slices.Reverse(ids)
	return ids, rows.Err()
}

// repeatedFailure counts r in the flow's failures in a row with the same
// reason and failed step, and reports whether it is beyond the first
// failuresKept of them (so kept whole only while among the newest).
func (h *history) repeatedFailure(e *flowEntry, r store.Run) bool {
	switch {
	case r.Cancelled:
		return false // not counted: the streak goes on
	case r.OK:
		e.sameFailures = 0
		return false
	case e.state.LastRun.IsZero() || e.state.OK || e.state.LastReason != r.Reason || e.state.LastFailedStep != r.FailedStep:
		e.sameFailures = 1
	default:
		e.sameFailures++
	}
	return h.failuresKept > 0 && e.sameFailures > h.failuresKept
}

// recordRun inserts r, updates its flow's state, deletes the flow's oldest
// plain passing run beyond the number kept, and counts r in the flow's open
// roll-up, inside tx. s.hist.mu is held.
func (s *Store) recordRun(ctx context.Context, tx *sql.Tx, undo *batchUndo, r store.Run) (store.FlowState, error) {
	undo.save(&s.hist, r.Flow)
	e, err := s.entry(ctx, tx, r.Flow)
	if err != nil {
		return store.FlowState{}, err
	}
	kind, n := keptWhole, 0
	switch {
	case s.hist.repeatedFailure(e, r):
		kind, n = keptRepeat, s.hist.failuresKept
		if !e.repeatsRead {
			if e.repeats, err = s.readKept(ctx, tx, r.Flow, kind, n); err != nil {
				return store.FlowState{}, err
			}
			e.repeatsRead = true
		}
	case !store.KeptWhole(e.state, r):
		kind, n = keptPlain, s.hist.passingKept
		if n > 0 && !e.keptRead {
			if e.kept, err = s.readKept(ctx, tx, r.Flow, kind, n); err != nil {
				return store.FlowState{}, err
			}
			e.keptRead = true
		}
	}
	res, err := s.txStmt(ctx, tx, s.stmts.insertRun).ExecContext(ctx,
		r.Flow, nanos(r.Start), r.DurationMS, r.OK, r.Cancelled, r.Reason, r.Layer,
		r.Summary, r.FailedStep, r.Warnings, []byte(r.Steps), r.WaitedMS, kind, r.Location)
	if err != nil {
		return store.FlowState{}, err
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return store.FlowState{}, err
	}
	next := e.state.Next(r)
	if err = s.writeState(ctx, tx, next); err != nil {
		return store.FlowState{}, err
	}
	e.state = next
	if n > 0 {
		list := &e.kept
		if kind == keptRepeat {
			list = &e.repeats
		}
		*list = append(*list, r.ID)
		if over := len(*list) - n; over > 0 {
			undo.evict = append(undo.evict, (*list)[:over]...)
			*list = (*list)[over:]
		}
	}
	minute := unixMinute(r.Start)
	if e.open.Runs > 0 && e.minute != minute {
		if err := s.flushOpen(ctx, tx, e); err != nil {
			return store.FlowState{}, err
		}
	}
	if e.open.Runs == 0 {
		e.minute, e.open = minute, store.Rollup{}
	}
	e.open.Add(r)
	return next, nil
}

// writeState updates the flow's state row, inserting it when there is
// none (the flow's first run, or first after ForgetFlows).
func (s *Store) writeState(ctx context.Context, tx *sql.Tx, st store.FlowState) error {
	args := append(stateArgs(st), st.Flow) // cap: see stateArgs
	res, err := s.txStmt(ctx, tx, s.stmts.updateState).ExecContext(ctx, args[1:]...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = s.txStmt(ctx, tx, s.stmts.upsertState).ExecContext(ctx, args[:len(args)-1]...)
	return err
}

// sweep writes the open roll-ups of minutes before the previous one once
// the runs reach a new minute (a flow that stopped running, or runs less
// than once a minute), so that roll-ups do not wait for Close.
func (s *Store) sweep(ctx context.Context, tx *sql.Tx, undo *batchUndo, newest int64) error {
	if newest <= s.hist.sweptMinute {
		return nil
	}
	s.hist.sweptMinute = newest
	for flow, e := range s.hist.flows {
		if e.open.Runs > 0 && e.minute < newest-1 {
			undo.save(&s.hist, flow)
			if err := s.flushOpen(ctx, tx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushOpen upserts the entry's open roll-up into its minute's and its
// hour's rows, and empties it.
func (s *Store) flushOpen(ctx context.Context, tx *sql.Tx, e *flowEntry) error {
	stmt := s.txStmt(ctx, tx, s.stmts.upsertRollup)
	u := e.open
	hist := u.Latency.AppendBinary([]byte{})
	for _, row := range []struct {
		tier  store.Tier
		start int64
	}{{store.TierMinute, e.minute}, {store.TierHour, e.minute - mod(e.minute, 60)}} {
		if _, err := stmt.ExecContext(ctx, int(row.tier), e.id, row.start, u.Runs, u.Passed, u.Failed, u.Cancelled,
			u.Warnings, micros(u.LatencySumMS), micros(u.LatencyMinMS), micros(u.LatencyMaxMS), hist, u.LastRunID); err != nil {
			return err
		}
	}
	e.open = store.Rollup{}
	return nil
}

// flushAll writes every open roll-up in one transaction (Close).
func (s *Store) flushAll(ctx context.Context) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	s.hist.mu.Lock()
	undo := newUndo(&s.hist)
	for flow, e := range s.hist.flows {
		if e.open.Runs > 0 {
			undo.save(&s.hist, flow)
			if err = s.flushOpen(ctx, tx, e); err != nil {
				break
			}
		}
	}
	s.hist.mu.Unlock()
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		s.hist.mu.Lock()
		undo.restore(&s.hist)
		s.hist.mu.Unlock()
	}
	return err
}

func unixMinute(t time.Time) int64 { return floorDiv(t.Unix(), 60) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func mod(a, b int64) int64 { return a - floorDiv(a, b)*b }

func micros(ms float64) int64 { return int64(math.Round(ms * 1000)) }

const rollupColumns = `start_min, runs, passed, failed, cancelled, warnings, lat_sum_us, lat_min_us, lat_max_us, hist, last_run_id`

func scanRollup(scan func(...any) error, u *store.Rollup) error {
	var startMin, sum, lo, hi int64
	var hist []byte
	if err := scan(&startMin, &u.Runs, &u.Passed, &u.Failed, &u.Cancelled, &u.Warnings,
		&sum, &lo, &hi, &hist, &u.LastRunID); err != nil {
		return err
	}
	u.Start = time.Unix(startMin*60, 0).UTC()
	u.LatencySumMS, u.LatencyMinMS, u.LatencyMaxMS = float64(sum)/1000, float64(lo)/1000, float64(hi)/1000
	return u.Latency.UnmarshalBinary(hist)
}

var _ store.RollupReader = (*Store)(nil)

// Rollups implements store.RollupReader.
func (s *Store) Rollups(ctx context.Context, flow string, tier store.Tier, since time.Time) ([]store.Rollup, error) {
	out, err := s.rollups(ctx, flow, tier, since)
	if err != nil {
		return nil, fmt.Errorf("store: %s roll-ups of flow %q: %w", tier, flow, err)
	}
	return out, nil
}

func (s *Store) rollups(ctx context.Context, flow string, tier store.Tier, since time.Time) ([]store.Rollup, error) {
	sinceMin := floorDiv(since.Unix()+59, 60) // roll-ups that start at or after since
	rows, err := s.read.QueryContext(ctx, `SELECT `+rollupColumns+` FROM rollups
		WHERE tier = ?1 AND flow_id = (SELECT id FROM flow_ids WHERE flow = ?2) AND start_min >= ?3
		ORDER BY start_min`, int(tier), flow, sinceMin)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Rollup
	for rows.Next() {
		u := store.Rollup{Flow: flow, Tier: tier}
		if err := scanRollup(rows.Scan, &u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The open minute, read after the rows: a flush between the two reads
	// leaves it out once (counted short by one minute), never twice.
	s.hist.mu.Lock()
	e := s.hist.flows[flow]
	var open store.Rollup
	var openStart int64
	if e != nil && e.open.Runs > 0 {
		open, openStart = e.cloneOpen(), e.minute
	}
	s.hist.mu.Unlock()
	if open.Runs == 0 {
		return out, nil
	}
	if tier == store.TierHour {
		openStart -= mod(openStart, 60)
	}
	if openStart < sinceMin {
		return out, nil
	}
	start := time.Unix(openStart*60, 0).UTC()
	i, found := slices.BinarySearchFunc(out, start, func(u store.Rollup, t time.Time) int { return u.Start.Compare(t) })
	if found {
		out[i].Merge(open)
		return out, nil
	}
	open.Flow, open.Tier, open.Start = flow, tier, start
	return slices.Insert(out, i, open), nil
}

// RollupTotals implements store.RollupReader. The sums are taken in SQL,
// so Latency (the histogram) is left empty; the open minutes are added.
func (s *Store) RollupTotals(ctx context.Context, tier store.Tier, since time.Time) (map[string]store.Rollup, error) {
	sinceMin := floorDiv(since.Unix()+59, 60)
	rows, err := s.read.QueryContext(ctx, `SELECT f.flow, sum(r.runs), sum(r.passed), sum(r.failed),
		sum(r.cancelled), sum(r.warnings), sum(r.lat_sum_us),
		coalesce(min(CASE WHEN r.passed + r.failed > 0 THEN r.lat_min_us END), 0), max(r.lat_max_us), max(r.last_run_id)
		FROM flow_ids AS f JOIN rollups AS r ON r.tier = ?1 AND r.flow_id = f.id AND r.start_min >= ?2
		GROUP BY f.id`, int(tier), sinceMin)
	if err != nil {
		return nil, fmt.Errorf("store: %s roll-up totals: %w", tier, err)
	}
	defer rows.Close()
	out := map[string]store.Rollup{}
	for rows.Next() {
		u := store.Rollup{Tier: tier, Start: since}
		var sum, lo, hi int64
		if err := rows.Scan(&u.Flow, &u.Runs, &u.Passed, &u.Failed, &u.Cancelled, &u.Warnings,
			&sum, &lo, &hi, &u.LastRunID); err != nil {
			return nil, fmt.Errorf("store: %s roll-up totals: %w", tier, err)
		}
		u.LatencySumMS, u.LatencyMinMS, u.LatencyMaxMS = float64(sum)/1000, float64(lo)/1000, float64(hi)/1000
		out[u.Flow] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s roll-up totals: %w", tier, err)
	}
	s.hist.mu.Lock()
	defer s.hist.mu.Unlock()
	for flow, e := range s.hist.flows {
		start := e.minute
		if tier == store.TierHour {
			start -= mod(start, 60)
		}
		if e.open.Runs == 0 || start < sinceMin {
			continue
		}
		u, ok := out[flow]
		if !ok {
			u = store.Rollup{Flow: flow, Tier: tier, Start: since}
		}
		open := e.open
		open.Latency = store.Histogram{}
		u.Merge(open)
		out[flow] = u
	}
	return out, nil
}
