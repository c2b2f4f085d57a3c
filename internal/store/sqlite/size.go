package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"
)

// sizeTargetPercent is where a prune by size stops, in percent of the
// bound: far enough under it that the next prune does not have to delete
// a few rows again.
const sizeTargetPercent = 90

// sizePruneBatch is how many records one statement of a prune by size
// deletes (about 300 KB of failures): small, so that it stops near the
// target on a small bound.
const sizePruneBatch = 256

// SizePrune describes the last prune by size (retention.max_size).
type SizePrune struct {
	At                   time.Time // when it ran; zero: never
	UsedBefore           int64     // used bytes before
	UsedAfter            int64     // and after
	Runs                 int       // whole records deleted, oldest first
	MinuteRollups        int       // minute roll-ups deleted, oldest first
	OldestRunKept        time.Time // the start of the oldest record left; zero: none left
	StillOverAfterDelete bool      // nothing more to delete, still over the target
}

type sizePruneStats struct {
	mu   sync.Mutex
	last SizePrune
}

// LastSizePrune returns what the last prune by size deleted (for the
// daemon's health and metrics).
func (s *Store) LastSizePrune() SizePrune {
	s.sizePrune.mu.Lock()
	defer s.sizePrune.mu.Unlock()
	return s.sizePrune.last
}

// UsedBytes is the size of the database's pages in use: the file's size
// less its free pages (which SQLite reuses before it grows the file). The
// WAL is left out: it is checkpointed into these pages every 1,000 pages
// and cut back to journal_size_limit after.
func (s *Store) UsedBytes(ctx context.Context) (int64, error) {
	return usedBytes(ctx, s.write)
}

func usedBytes(ctx context.Context, q queryRower) (int64, error) {
	var pages, free, size int64
	err := q.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count),
		(SELECT freelist_count FROM pragma_freelist_count), (SELECT page_size FROM pragma_page_size)`).
		Scan(&pages, &free, &size)
	return (pages - free) * size, err
}

// pruneBySize deletes the minute roll-ups older than an hour, then the
// oldest whole records (of all flows, by start; never a flow's last run),
// a batch at a time, while the used bytes
// are over sizeTargetPercent of maxBytes, once they are over maxBytes.
// Deleted pages go to the free list and are reused: the file stops
// growing. It logs one warning when it deleted anything.
func (s *Store) pruneBySize(ctx context.Context, now time.Time, maxBytes int64) (int, error) {
	used, err := s.UsedBytes(ctx)
	if err != nil || used <= maxBytes {
		return 0, err
	}
	p := SizePrune{At: now, UsedBefore: used}
	target := maxBytes / 100 * sizeTargetPercent
	// First the minute roll-ups older than an hour, oldest hour first: the
	// hour tier holds their counts, so only resolution is lost. Then whole
	// records, oldest first, but never a flow's last counted run (the
	// overview's link and a failing flow's evidence). The minute roll-ups
	// of the last hour stay.
	lastHour := now.Unix()/60 - 60
	for used > target {
		var oldest sql.NullInt64
		if err := s.write.QueryRowContext(ctx, `SELECT min(start_min) FROM rollups WHERE tier = 0`).Scan(&oldest); err != nil {
			return p.Runs, err
		}
		if !oldest.Valid || oldest.Int64 >= lastHour {
			break
		}
		n, err := s.deleteRollupsBefore(ctx, 0, min(oldest.Int64+60, lastHour))
		p.MinuteRollups += n
		if err != nil {
			return p.Runs, err
		}
		if used, err = s.UsedBytes(ctx); err != nil {
			return p.Runs, err
		}
	}
	for used > target {
		n, err := s.deleteInBatchesOnce(ctx, `DELETE FROM runs WHERE id IN (
			SELECT id FROM runs WHERE id NOT IN (SELECT last_run_id FROM flow_state)
			ORDER BY start_ns, id LIMIT ?1)`)
		p.Runs += n
		if err != nil {
			return p.Runs, err
		}
		if n == 0 {
			break
		}
		if used, err = s.UsedBytes(ctx); err != nil {
			return p.Runs, err
		}
	}
	p.UsedAfter, p.StillOverAfterDelete = used, used > target
	var oldest sql.NullInt64
	if err := s.write.QueryRowContext(ctx, `SELECT min(start_ns) FROM runs`).Scan(&oldest); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p.Runs, err
	}
	if oldest.Valid {
		p.OldestRunKept = fromNanos(oldest.Int64)
	}
	// The writer's lists of kept runs may name deleted ones: read again.
	if err := s.changeMemory(ctx, func(h *history) {
		for _, e := range h.flows {
			e.kept, e.keptRead = nil, false
			e.repeats, e.repeatsRead = nil, false
		}
	}); err != nil {
		return p.Runs, err
	}
	s.sizePrune.mu.Lock()
	s.sizePrune.last = p
	s.sizePrune.mu.Unlock()
	s.log.Warn("the state database is over retention.max_size: deleted the oldest history",
		"used_bytes", p.UsedBefore, "max_size_bytes", maxBytes, "used_bytes_now", p.UsedAfter,
		"runs_deleted", p.Runs, "minute_rollups_deleted", p.MinuteRollups,
		"oldest_run_kept", p.OldestRunKept, "still_over", p.StillOverAfterDelete)
	return p.Runs, nil
}

// deleteInBatchesOnce runs a DELETE whose ?1 is the batch size once.
func (s *Store) deleteInBatchesOnce(ctx context.Context, query string) (int, error) {
	res, err := s.write.ExecContext(ctx, query, sizePruneBatch)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
