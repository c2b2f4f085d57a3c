package postgres

import (
	"context"
	"os"
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
