package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

var _ store.Baselines = (*Store)(nil)

// LoadBaseline implements store.Baselines.
func (s *Store) LoadBaseline(ctx context.Context, flow string) (store.Baseline, bool, error) {
	b := store.Baseline{Flow: flow}
	var updated int64
	err := s.pool.QueryRow(ctx, `SELECT data, updated_ns FROM baselines WHERE flow = $1`, flow).Scan(&b.Data, &updated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Baseline{}, false, nil
	case err != nil:
		return store.Baseline{}, false, fmt.Errorf("store: load baseline of %q: %w", flow, err)
	}
	b.Updated = time.Unix(0, updated).UTC()
	return b, true, nil
}

// SaveBaseline implements store.Baselines.
func (s *Store) SaveBaseline(ctx context.Context, b store.Baseline) error {
	return s.SaveBaselines(ctx, []store.Baseline{b})
}

// SaveBaselines implements store.Baselines.
func (s *Store) SaveBaselines(ctx context.Context, bs []store.Baseline) error {
	for _, b := range bs {
		if b.Flow == "" {
			return errors.New("store: save baselines: empty flow")
		}
	}
	if len(bs) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, b := range bs {
			batch.Queue(`INSERT INTO baselines (flow, data, updated_ns) VALUES ($1, $2, $3)
				ON CONFLICT (flow) DO UPDATE SET data = excluded.data, updated_ns = excluded.updated_ns`,
				b.Flow, []byte(b.Data), b.Updated.UnixNano())
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return fmt.Errorf("store: save baselines: %w", err)
	}
	return nil
}

// DeleteBaseline implements store.Baselines.
func (s *Store) DeleteBaseline(ctx context.Context, flow string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM baselines WHERE flow = $1`, flow); err != nil {
		return fmt.Errorf("store: delete baseline of %q: %w", flow, err)
	}
	return nil
}

// AcceptBaseline implements store.Baselines.
func (s *Store) AcceptBaseline(ctx context.Context, a store.BaselineAccept) (store.BaselineAccept, error) {
	if a.Flow == "" || a.By == "" {
		return a, errors.New("store: accept baseline: empty flow or by")
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO baseline_accepts (flow, by_name, at_ns) VALUES ($1, $2, $3) RETURNING id`,
		a.Flow, a.By, a.At.UnixNano()).Scan(&a.ID)
	if err != nil {
		return a, fmt.Errorf("store: accept baseline of %q: %w", a.Flow, err)
	}
	a.At = a.At.UTC().Round(0)
	return a, nil
}

// BaselineAccepts implements store.Baselines.
func (s *Store) BaselineAccepts(ctx context.Context, flow string, after int64, limit int) ([]store.BaselineAccept, error) {
	q := `SELECT id, by_name, at_ns FROM baseline_accepts WHERE flow = $1 AND id > $2 ORDER BY id`
	args := []any{flow, after}
	if limit > 0 {
		q += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: baseline accepts of %q: %w", flow, err)
	}
	defer rows.Close()
	var out []store.BaselineAccept
	for rows.Next() {
		a := store.BaselineAccept{Flow: flow}
		var at int64
		if err := rows.Scan(&a.ID, &a.By, &at); err != nil {
			return nil, fmt.Errorf("store: baseline accepts of %q: %w", flow, err)
		}
		a.At = time.Unix(0, at).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}
