package postgres

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

// Roll-ups (docs/history.md) are written with each run: the run's minute
// and hour rows are read inside its transaction, merged in Go (the latency
// histogram is a store.Histogram) and written back. The flow's locked
// state row serializes the writers of a flow's roll-ups.

const rollupColumns = `r.start_min, r.runs, r.passed, r.failed, r.cancelled, r.warnings,
	r.lat_sum_us, r.lat_min_us, r.lat_max_us, r.hist, r.last_run_id`

// scanRollup scans rollupColumns into u, preceded by the tier when tier is
// not nil.
func scanRollup(row pgx.Row, u *store.Rollup, tier *int16) error {
	var startMin, sum, lo, hi int64
	var hist []byte
	dest := []any{&startMin, &u.Runs, &u.Passed, &u.Failed, &u.Cancelled, &u.Warnings, &sum, &lo, &hi, &hist, &u.LastRunID}
	if tier != nil {
		dest = append([]any{tier}, dest...)
	}
	if err := row.Scan(dest...); err != nil {
		return err
	}
	u.Start = time.Unix(startMin*60, 0).UTC()
	u.LatencySumMS, u.LatencyMinMS, u.LatencyMaxMS = float64(sum)/1000, float64(lo)/1000, float64(hi)/1000
	return u.Latency.UnmarshalBinary(hist)
}

// queueUpsertRollup writes u as the row (tier, flowID, startMin): u holds
// the stored row's counts and the new ones.
func queueUpsertRollup(b *pgx.Batch, tier store.Tier, flowID, startMin int64, u store.Rollup) {
	b.Queue(`INSERT INTO rollups (tier, flow_id, start_min, runs, passed, failed, cancelled, warnings,
		lat_sum_us, lat_min_us, lat_max_us, hist, last_run_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
		ON CONFLICT (tier, flow_id, start_min) DO UPDATE SET runs = excluded.runs, passed = excluded.passed,
		failed = excluded.failed, cancelled = excluded.cancelled, warnings = excluded.warnings,
		lat_sum_us = excluded.lat_sum_us, lat_min_us = excluded.lat_min_us, lat_max_us = excluded.lat_max_us,
		hist = excluded.hist, last_run_id = excluded.last_run_id`,
		int16(tier), flowID, startMin, u.Runs, u.Passed, u.Failed, u.Cancelled, u.Warnings,
		micros(u.LatencySumMS), micros(u.LatencyMinMS), micros(u.LatencyMaxMS), u.Latency.AppendBinary([]byte{}), u.LastRunID)
}

// Rollups implements store.RollupReader.
func (s *Store) Rollups(ctx context.Context, flow string, tier store.Tier, since time.Time) ([]store.Rollup, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rollupColumns+` FROM rollups AS r
		WHERE r.tier = $1 AND r.flow_id = (SELECT id FROM flow_ids WHERE flow = $2) AND r.start_min >= $3
		ORDER BY r.start_min`, int16(tier), flow, sinceMinute(since))
	if err != nil {
		return nil, s.errorf("store: %s roll-ups of flow %q: %w", tier, flow, err)
	}
	defer rows.Close()
	var out []store.Rollup
	for rows.Next() {
		u := store.Rollup{Flow: flow, Tier: tier}
		if err := scanRollup(rows, &u, nil); err != nil {
			return nil, s.errorf("store: %s roll-ups of flow %q: %w", tier, flow, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("store: %s roll-ups of flow %q: %w", tier, flow, err)
	}
	return out, nil
}

// RollupTotals implements store.RollupReader. The sums are taken in SQL,
// so Latency (the histogram) is left empty.
func (s *Store) RollupTotals(ctx context.Context, tier store.Tier, since time.Time) (map[string]store.Rollup, error) {
	rows, err := s.pool.Query(ctx, `SELECT f.flow, sum(r.runs)::bigint, sum(r.passed)::bigint, sum(r.failed)::bigint,
		sum(r.cancelled)::bigint, sum(r.warnings)::bigint, sum(r.lat_sum_us)::bigint,
		coalesce(min(CASE WHEN r.passed + r.failed > 0 THEN r.lat_min_us END), 0), max(r.lat_max_us), max(r.last_run_id)
		FROM flow_ids AS f JOIN rollups AS r ON r.tier = $1 AND r.flow_id = f.id AND r.start_min >= $2
		GROUP BY f.id, f.flow`, int16(tier), sinceMinute(since))
	if err != nil {
		return nil, s.errorf("store: %s roll-up totals: %w", tier, err)
	}
	defer rows.Close()
	out := map[string]store.Rollup{}
	for rows.Next() {
		u := store.Rollup{Tier: tier, Start: since}
		var sum, lo, hi int64
		if err := rows.Scan(&u.Flow, &u.Runs, &u.Passed, &u.Failed, &u.Cancelled, &u.Warnings,
			&sum, &lo, &hi, &u.LastRunID); err != nil {
			return nil, s.errorf("store: %s roll-up totals: %w", tier, err)
		}
		u.LatencySumMS, u.LatencyMinMS, u.LatencyMaxMS = float64(sum)/1000, float64(lo)/1000, float64(hi)/1000
		out[u.Flow] = u
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("store: %s roll-up totals: %w", tier, err)
	}
	return out, nil
}

// sinceMinute is the first Unix minute that starts at or after since.
func sinceMinute(since time.Time) int64 { return floorDiv(since.Unix()+59, 60) }

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
