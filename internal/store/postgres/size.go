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
		n, bytes, err := s.deleteBySize(ctx, conn, `DELETE FROM rollups WHERE ctid IN (
			SELECT ctid FROM rollups WHERE tier = 0 AND start_min < $2 LIMIT $1) RETURNING `+heapRowBytes("rollups"),
			s.pruneBatch(), cutoff)
		p.MinuteRollups += n
		freed += int64(float64(bytes) * t.perHeapByte)
		if err != nil || n == 0 || cutoff == lastHour {
			return freed, err
		}
	}
	return freed, nil
}

// pruneRunsBySize deletes the oldest runs of all flows, never one that is
// a flow's last run in some location, until excess bytes are freed or
// none is left; it returns the live bytes freed. Each batch is as many
// runs as the excess left at the average row size (at most pruneBatch).
func (s *Store) pruneRunsBySize(ctx context.Context, conn *pgxpool.Conn, excess int64, t tableSize, p *SizePrune) (freed int64, err error) {
	for excess-freed > 0 {
		n, bytes, err := s.deleteOnce(ctx, conn, `DELETE FROM runs WHERE id IN (
			SELECT id FROM runs WHERE id NOT IN (SELECT last_run_id FROM flow_state)
			ORDER BY start_ns, id LIMIT $1) RETURNING `+heapRowBytes("runs"),
			min(rowsFor(excess-freed, t.rowBytes()), int64(s.pruneBatch())))
		p.Runs += n
		freed += int64(float64(bytes) * t.perHeapByte)
		if err != nil || n == 0 {
			return freed, err
		}
	}
	return freed, nil
}

// deleteBySize runs query, a DELETE whose $1 is the batch size and which
// returns each row's heap bytes, until a batch deletes less than a full
// one; it returns the rows deleted and their heap bytes.
func (s *Store) deleteBySize(ctx context.Context, conn *pgxpool.Conn, query string, batch int, args ...any) (rows int, bytes int64, err error) {
	for {
		n, b, err := s.deleteOnce(ctx, conn, query, append([]any{batch}, args...)...)
		rows, bytes = rows+n, bytes+b
		if err != nil || n < batch {
			return rows, bytes, err
		}
	}
}

// deleteOnce runs query, a DELETE returning each row's heap bytes, in its
// own transaction.
func (s *Store) deleteOnce(ctx context.Context, conn *pgxpool.Conn, query string, args ...any) (rows int, bytes int64, err error) {
	err = conn.QueryRow(ctx, `WITH d AS (`+query+` AS b) SELECT count(*), coalesce(sum(b), 0)::bigint FROM d`, args...).
		Scan(&rows, &bytes)
	return rows, bytes, err
}

// rowsFor is how many rows of rowBytes free bytes, at least 1.
func rowsFor(bytes int64, rowBytes float64) int64 {
	if rowBytes <= 0 {
		return 1
	}
	return max(1, int64(math.Ceil(float64(bytes)/rowBytes)))
}
