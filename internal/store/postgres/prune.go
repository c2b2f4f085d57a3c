package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// DefaultPruneBatch is Options.PruneBatch's default. Each batch is its own
// transaction, so that a RecordRun deleting the same flow's old runs waits
// for one batch at most, not for the whole prune.
const DefaultPruneBatch = 10_000

// Prune deletes runs by age, then beyond the count per flow, then plain
// passing runs and repeated failures beyond the numbers kept, and roll-ups
// past their tier's retention: per rule, DELETEs of pruneBatch rows until
// none is left (the runs beyond a count are found once per rule,
// pruneBeyond); then, when the live bytes are over ret.MaxBytes, the
// oldest history (pruneBySize). It sets the numbers of passing runs and
// repeated failures RecordRun keeps whole from now on.
func (s *Store) Prune(ctx context.Context, now time.Time, ret store.Retention) (int, error) {
	s.passingKept.Store(int64(max(ret.PassingRunsKept, 0)))
	s.failuresKept.Store(int64(max(ret.FailuresKeptPerStreak, 0)))
	total := 0
	// del runs query, whose $1 is the batch size, until a batch deletes
	// less than a full one.
	del := func(query string, args ...any) error {
		for {
			tag, err := s.pool.Exec(ctx, query, append([]any{s.pruneBatch()}, args...)...)
			total += int(tag.RowsAffected())
			if err != nil || tag.RowsAffected() < int64(s.pruneBatch()) {
				return err
			}
		}
	}
	var err error
	if ret.MaxAge > 0 {
		err = del(`DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE start_ns < $2 LIMIT $1)`, nanos(now.Add(-ret.MaxAge)))
	}
	for _, rule := range []struct {
		keep   int
		filter string
	}{{ret.MaxRunsPerFlow, "true"}, {ret.PassingRunsKept, "plain = 1"}, {ret.FailuresKeptPerStreak, "plain = 2"}} {
		if err != nil || rule.keep <= 0 {
			continue
		}
		var n int
		n, err = s.pruneBeyond(ctx, rule.filter, rule.keep)
		total += n
	}
	for _, tier := range []struct {
		tier store.Tier
		keep time.Duration
	}{{store.TierMinute, ret.MinuteRollups}, {store.TierHour, ret.HourRollups}} {
		if err != nil || tier.keep <= 0 {
			continue
		}
		n := total
		err = del(`DELETE FROM rollups WHERE ctid IN (SELECT ctid FROM rollups WHERE tier = $2 AND start_min < $3 LIMIT $1)`,
			int16(tier.tier), floorDiv(now.Add(-tier.keep).Unix(), 60))
		total = n // roll-ups are not runs
	}
	if err == nil && ret.MaxBytes > 0 {
		var n int
		n, err = s.pruneBySize(ctx, now, ret.MaxBytes)
		total += n
	}
	if err != nil {
		return total, s.errorf("store: prune: %w", err)
	}
	return total, nil
}

// pruneBeyond deletes the runs matching filter beyond the keep newest of
// each flow, in batches of pruneBatch. The window function that numbers
// each flow's runs reads every run matching filter, so it runs once, into
// a temporary table of the ids to delete, and the batches take from that:
// running it per batch made a prune of a backlog quadratic. Runs recorded
// meanwhile are counted at the next prune.
func (s *Store) pruneBeyond(ctx context.Context, filter string, keep int) (deleted int, err error) {
	conn, err := s.pool.Acquire(ctx) // the temporary table is the session's
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	defer func() {
		if _, dropErr := conn.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS pg_temp.prune_ids`); dropErr != nil {
			conn.Conn().PgConn().Close(context.WithoutCancel(ctx)) // the pool drops it, and the table with the session
		}
	}()
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS pg_temp.prune_ids`); err != nil {
		return 0, err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TEMPORARY TABLE prune_ids AS SELECT id FROM (
		SELECT id, row_number() OVER (PARTITION BY flow ORDER BY start_ns DESC, id DESC) AS n
		FROM runs WHERE %s) AS numbered WHERE n > $1`, filter), keep); err != nil {
		return 0, err
	}
	if _, err := conn.Exec(ctx, `CREATE INDEX ON pg_temp.prune_ids (id)`); err != nil {
		return 0, err
	}
	// Batches by key range: the table of ids is only read, so no batch
	// walks past the ones before it.
	for after := int64(-1); ; {
		var last *int64
		var n int
		err := conn.QueryRow(ctx, `WITH batch AS (SELECT id FROM pg_temp.prune_ids WHERE id > $1 ORDER BY id LIMIT $2),
			deleted AS (DELETE FROM runs WHERE id IN (SELECT id FROM batch) RETURNING 1)
			SELECT (SELECT max(id) FROM batch), (SELECT count(*) FROM deleted)`, after, s.pruneBatch()).Scan(&last, &n)
		deleted += n
		if err != nil || last == nil {
			return deleted, err
		}
		after = *last
	}
}

func (s *Store) pruneBatch() int {
	if s.pruneBatchSize > 0 {
		return s.pruneBatchSize
	}
	return DefaultPruneBatch
}

// UsedBytes is the size of the store's tables with their indexes and
// TOAST on disk, as PostgreSQL counts it (pg_total_relation_size), for the
// metrics. The space of deleted rows stays in it, for new rows once
// autovacuum has passed: it stays at its high-water mark. LiveBytes is
// the figure retention.max_size bounds.
func (s *Store) UsedBytes(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint
		FROM unnest($1::text[]) AS t`, storeTables).Scan(&n)
	if err != nil {
		return 0, s.errorf("store: used bytes: %w", err)
	}
	return n, nil
}

// storeTables are the store's tables, for UsedBytes and LiveBytes.
var storeTables = []string{"runs", "flow_state", "flow_ids", "rollups", "secrets", "outbox", "incident_state",
	"schema_migrations", "cluster_nodes", "shard_lease", "baselines", "baseline_accepts"}
