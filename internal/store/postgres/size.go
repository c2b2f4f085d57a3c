package postgres

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// sizeTargetPercent is where a prune by size stops, in percent of the
// bound, as on SQLite: far enough under it that the next prune does not
// have to delete a few rows again.
const sizeTargetPercent = 90

// sizePruneLock is the key of the advisory lock a prune by size holds
// ("awsizepr" in ASCII): nodes pruning at once would each delete the
// excess.
const sizePruneLock int64 = 0x617773697a657072

// SizePrune describes a prune by size; UsedBefore and UsedAfter are live
// bytes (LiveBytes), not the tables' size on disk.
type SizePrune = sqlite.SizePrune

// The daemon passes retention.max_size to the stores that report their
// prunes by size (daemon.sizePruner).
var _ interface{ LastSizePrune() sqlite.SizePrune } = (*Store)(nil)

type sizePruneStats struct {
	mu   sync.Mutex
	last SizePrune
}

// LastSizePrune returns what the last prune by size of this Store deleted
// (for the daemon's health and metrics); At is zero when there was none.
func (s *Store) LastSizePrune() SizePrune {
	s.sizePrune.mu.Lock()
	defer s.sizePrune.mu.Unlock()
	return s.sizePrune.last
}

// pruneBySize applies retention.max_size to the live bytes, as the SQLite
// store applies it to its pages in use: when they are over maxBytes, it
// deletes the minute roll-ups older than an hour, oldest hours first, then
// the oldest whole records of all flows (never a flow's last run in any
// location), until the estimate is under sizeTargetPercent of maxBytes.
// The estimate is read once; each DELETE returns the bytes of the rows it
// deleted, which are taken off it. It logs one warning when it deleted
// anything. Another node's prune by size under way: it does nothing.
//
// The space of the deleted rows stays in the tables, for autovacuum to
// give to new rows: the tables stop growing, they do not shrink.
func (s *Store) pruneBySize(ctx context.Context, now time.Time, maxBytes int64) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, sizePruneLock).Scan(&locked); err != nil || !locked {
		return 0, err
	}
	defer func() {
		// Publish this session's deletes to the statistics before another
		// node may take the lock and estimate (PostgreSQL 15 and later;
		// before, they are published within seconds).
		bg := context.WithoutCancel(ctx)
		_, err := conn.Exec(bg, `DO $$BEGIN IF current_setting('server_version_num')::int >= 150000
			THEN PERFORM pg_stat_force_next_flush(); END IF; END$$`)
		if err == nil {
			_, err = conn.Exec(bg, `SELECT pg_advisory_unlock($1)`, sizePruneLock)
		}
		if err != nil {
			conn.Conn().PgConn().Close(context.WithoutCancel(ctx)) // the lock goes with the session
		}
	}()
	sizes, err := s.liveSizes(ctx, conn)
	if err != nil {
		return 0, err
	}
	used := sizes.total()
	if used <= maxBytes {
		return 0, nil
	}
	p := SizePrune{At: now, UsedBefore: used}
	target := maxBytes / 100 * sizeTargetPercent
	freed, err := s.pruneMinuteRollupsBySize(ctx, conn, now, used-target, sizes["rollups"], &p)
	used -= freed
	if err != nil {
		return p.Runs, err
	}
	freed, err = s.pruneRunsBySize(ctx, conn, used-target, sizes["runs"], &p)
	used -= freed
	if err != nil {
		return p.Runs, err
	}
	p.UsedAfter, p.StillOverAfterDelete = used, used > target
	var oldest *int64
	if err := conn.QueryRow(ctx, `SELECT min(start_ns) FROM runs`).Scan(&oldest); err != nil {
		return p.Runs, err
	}
	if oldest != nil {
		p.OldestRunKept = fromNanos(*oldest)
	}
	s.sizePrune.mu.Lock()
	s.sizePrune.last = p
	s.sizePrune.mu.Unlock()
	s.log.Warn("the PostgreSQL history's live bytes are over retention.max_size: deleted the oldest history",
		"live_bytes", p.UsedBefore, "max_size_bytes", maxBytes, "live_bytes_now", p.UsedAfter,
		"runs_deleted", p.Runs, "minute_rollups_deleted", p.MinuteRollups,
		"oldest_run_kept", p.OldestRunKept, "still_over", p.StillOverAfterDelete)
	return p.Runs, nil
}

// pruneMinuteRollupsBySize deletes minute roll-ups older than an hour,
// whole hours, oldest first, until excess bytes are freed or none is left;
// it returns the live bytes freed. The hours to delete are found once: the
// hour of the roll-up that would free the excess at the average row size
// (one scan of the minute tier), then deleted in batches; again if rows
// were smaller than the average.
func (s *Store) pruneMinuteRollupsBySize(ctx context.Context, conn *pgxpool.Conn, now time.Time, excess int64, t tableSize, p *SizePrune) (freed int64, err error) {
	lastHour := floorDiv(now.Unix(), 60) - 60
	for excess-freed > 0 {
		rowsNeeded := rowsFor(excess-freed, t.rowBytes())
		var nth *int64
		if err := conn.QueryRow(ctx, `SELECT start_min FROM rollups WHERE tier = 0 AND start_min < $1
			ORDER BY start_min OFFSET $2 LIMIT 1`, lastHour, rowsNeeded-1).Scan(&nth); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return freed, err
		}
		cutoff := lastHour
		if nth != nil {
			cutoff = min((floorDiv(*nth, 60)+1)*60, lastHour) // the end of its hour
		}
		n, bytes, err := s.deleteMinuteRollupsBefore(ctx, conn, cutoff)
		p.MinuteRollups += n
		freed += int64(float64(bytes) * t.perHeapByte)
		if err != nil || n == 0 || cutoff == lastHour {
			return freed, err
		}
	}
	return freed, nil
}

// deleteMinuteRollupsBefore deletes the minute roll-ups before cutoff (a
// minute number) in batches of pruneBatch, walking the primary key: no
// batch reads the rows the ones before it deleted. It returns the rows
// deleted and their heap bytes.
func (s *Store) deleteMinuteRollupsBefore(ctx context.Context, conn *pgxpool.Conn, cutoff int64) (rows int, bytes int64, err error) {
	afterFlow, afterMin := int64(math.MinInt64), int64(math.MinInt64)
	for {
		n, b, err := s.deleteKeyset(ctx, conn, &afterFlow, &afterMin,
			`SELECT ctid FROM rollups WHERE tier = 0 AND (tier, flow_id, start_min) > (0, $2, $3)
				AND start_min < $4 ORDER BY tier, flow_id, start_min LIMIT $1`,
			`DELETE FROM rollups AS r WHERE r.ctid = ANY(ARRAY(SELECT ctid FROM batch))
				RETURNING `+heapRowBytes("r")+` AS b, r.flow_id AS k1, r.start_min AS k2`,
			s.pruneBatch(), cutoff)
		rows, bytes = rows+n, bytes+b
		if err != nil || n < s.pruneBatch() {
			return rows, bytes, err
		}
	}
}

// pruneRunsBySize deletes the oldest runs of all flows, never one that is
// a flow's last run in some location, until excess bytes are freed or
// none is left; it returns the live bytes freed. Each batch is as many
// runs as the excess left at the average row size (at most pruneBatch),
// and starts where the one before ended.
func (s *Store) pruneRunsBySize(ctx context.Context, conn *pgxpool.Conn, excess int64, t tableSize, p *SizePrune) (freed int64, err error) {
	afterStart, afterID := int64(math.MinInt64), int64(math.MinInt64)
	for excess-freed > 0 {
		n, bytes, err := s.deleteKeyset(ctx, conn, &afterStart, &afterID,
			`SELECT id FROM runs WHERE (start_ns, id) > ($2, $3) AND id NOT IN (SELECT last_run_id FROM flow_state)
				ORDER BY start_ns, id LIMIT $1`,
			`DELETE FROM runs AS r WHERE r.id = ANY(ARRAY(SELECT id FROM batch))
				RETURNING `+heapRowBytes("r")+` AS b, r.start_ns AS k1, r.id AS k2`,
			min(rowsFor(excess-freed, t.rowBytes()), int64(s.pruneBatch())))
		p.Runs += n
		freed += int64(float64(bytes) * t.perHeapByte)
		if err != nil || n == 0 {
			return freed, err
		}
	}
	return freed, nil
}

// deleteKeyset runs, in its own transaction, the DELETE del of the rows
// batch selects: batch's $1 is the batch size and $2, $3 the key (k1, k2)
// it starts after, which it sets to the last key deleted; del returns each
// row's heap bytes as b and its key. (del takes the batch as an array, so
// that it deletes by index or TID lookups, never by a join that reads the
// table.) It returns the rows deleted and their
// heap bytes.
func (s *Store) deleteKeyset(ctx context.Context, conn *pgxpool.Conn, k1, k2 *int64, batch, del string, size any, args ...any) (rows int, bytes int64, err error) {
	var last1, last2 *int64
	err = conn.QueryRow(ctx, `WITH batch AS (`+batch+`), d AS (`+del+`)
		SELECT count(*), coalesce(sum(b), 0)::bigint, (SELECT k1 FROM d ORDER BY k1 DESC, k2 DESC LIMIT 1),
			(SELECT k2 FROM d ORDER BY k1 DESC, k2 DESC LIMIT 1) FROM d`,
		append([]any{size, *k1, *k2}, args...)...).Scan(&rows, &bytes, &last1, &last2)
	if last1 != nil && last2 != nil {
		*k1, *k2 = *last1, *last2
	}
	return rows, bytes, err
}

// rowsFor is how many rows of rowBytes free bytes, at least 1.
func rowsFor(bytes int64, rowBytes float64) int64 {
	if rowBytes <= 0 {
		return 1
	}
	return max(1, int64(math.Ceil(float64(bytes)/rowBytes)))
}
