package postgres

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// A prune of a backlog, timed (PRUNE_MEASURE=1; a measurement, not a
// check). Measured with 1,000,000 runs: 31.5 s when each 10,000-row batch
// re-ran the window function over what was left, 6.0 s with the ids found
// once (300,000 runs: 2.3 s and 1.9 s).
func TestPruneBacklogMeasure(t *testing.T) {
	if os.Getenv("PRUNE_MEASURE") == "" {
		t.Skip()
	}
	const runs = 1_000_000
	pg := testenv.Postgres(t)
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	if _, err := s.pool.Exec(ctx, `INSERT INTO runs (flow, start_ns, duration_ms, waited_ms, ok, cancelled, reason, layer, summary, failed_step, warnings)
		SELECT 'f' || (i % 20), i, 1, 0, true, false, '', '', '', '', 0 FROM generate_series(1, $1::int) AS i`, runs); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := s.Prune(ctx, time.Unix(0, 0), store.Retention{MaxRunsPerFlow: 100})
	t.Logf("pruned %d of %d runs (20 flows, keep 100 each, batches of %d) in %v, err %v", n, runs, DefaultPruneBatch, time.Since(start), err)
}

// The live-bytes estimate and a prune by size at scale, timed
// (SIZE_MEASURE=1, or SIZE_MEASURE=<runs>; a measurement, not a check):
// the estimate with its default sample against the runs table read whole,
// and against the table's size after VACUUM FULL.
func TestSizeEstimateMeasure(t *testing.T) {
	if os.Getenv("SIZE_MEASURE") == "" {
		t.Skip()
	}
	runs, _ := strconv.Atoi(os.Getenv("SIZE_MEASURE"))
	if runs <= 1 {
		runs = 1_000_000
	}
	pg := testenv.Postgres(t)
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	s := openOn(t, dsn, Options{})
	whole := openOn(t, dsn, Options{SizeSamplePages: 1 << 30})
	start := time.Now()
	insertRuns(t, s, runs, 10_000)
	if _, err := s.pool.Exec(ctx, `INSERT INTO rollups SELECT 0, i % 10000, 29000000 + i / 10000, 1, 1, 0, 0, 0, 1000, 1000, 1000, '\x0102', i
		FROM generate_series(1, $1::int) AS i`, runs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE runs, rollups`); err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %d runs and %d minute roll-ups in %v", runs, runs, time.Since(start))
	sizes, err := s.liveSizes(ctx, s.pool)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // warm and timed
		start = time.Now()
		est, err := s.LiveBytes(ctx)
		t.Logf("estimate: %d live bytes in %v (%v)", est, time.Since(start), err)
	}
	for _, name := range []string{"runs", "rollups"} {
		var pages int64
		if err := s.pool.QueryRow(ctx, `SELECT pg_relation_size($1) / 8192`, name).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		read := min(pages, DefaultSizeSamplePages)
		t.Logf("%s: %d pages, %d read by the estimate, about %d rows read of %d", name, pages, read, sizes[name].rows*read/max(pages, 1), sizes[name].rows)
	}
	start = time.Now()
	exact, err := whole.LiveBytes(ctx)
	t.Logf("read whole: %d live bytes in %v (%v)", exact, time.Since(start), err)
	used, _ := s.UsedBytes(ctx)
	start = time.Now()
	n, err := s.Prune(ctx, time.Unix(29000000*60+int64(runs)/10000*60+3600, 0), store.Retention{MaxBytes: exact / 2})
	p := s.LastSizePrune()
	t.Logf("prune by size to half: %d runs, %d minute roll-ups deleted in %v (%v); live %d → %d", n, p.MinuteRollups, time.Since(start), err, p.UsedBefore, p.UsedAfter)
	est, _ := s.LiveBytes(ctx)
	exact, _ = whole.LiveBytes(ctx)
	if _, err := s.pool.Exec(ctx, `VACUUM FULL`); err != nil {
		t.Fatal(err)
	}
	compact, _ := s.UsedBytes(ctx)
	t.Logf("after the prune: estimate %d, read whole %d, on disk %d, after VACUUM FULL %d", est, exact, used, compact)
}
