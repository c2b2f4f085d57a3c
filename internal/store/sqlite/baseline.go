package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

var _ store.Baselines = (*Store)(nil)

// LoadBaseline implements store.Baselines.
func (s *Store) LoadBaseline(ctx context.Context, flow string) (store.Baseline, bool, error) {
	b := store.Baseline{Flow: flow}
	var updated int64
	err := s.read.QueryRowContext(ctx, `SELECT data, updated_ns FROM baselines WHERE flow = ?`, flow).Scan(&b.Data, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: save baselines: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO baselines (flow, data, updated_ns) VALUES (?, ?, ?)
		ON CONFLICT (flow) DO UPDATE SET data = excluded.data, updated_ns = excluded.updated_ns`)
	if err != nil {
		return fmt.Errorf("store: save baselines: %w", err)
	}
	defer stmt.Close()
	for _, b := range bs {
		if _, err := stmt.ExecContext(ctx, b.Flow, []byte(b.Data), b.Updated.UnixNano()); err != nil {
			return fmt.Errorf("store: save baseline of %q: %w", b.Flow, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: save baselines: %w", err)
	}
	return nil
}

// DeleteBaseline implements store.Baselines.
func (s *Store) DeleteBaseline(ctx context.Context, flow string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM baselines WHERE flow = ?`, flow); err != nil {
		return fmt.Errorf("store: delete baseline of %q: %w", flow, err)
	}
	return nil
}

// AcceptBaseline implements store.Baselines.
func (s *Store) AcceptBaseline(ctx context.Context, a store.BaselineAccept) (store.BaselineAccept, error) {
	if a.Flow == "" || a.By == "" {
		return a, errors.New("store: accept baseline: empty flow or by")
	}
	err := s.write.QueryRowContext(ctx, `INSERT INTO baseline_accepts (flow, by_name, at_ns) VALUES (?, ?, ?) RETURNING id`,
		a.Flow, a.By, a.At.UnixNano()).Scan(&a.ID)
	if err != nil {
		return a, fmt.Errorf("store: accept baseline of %q: %w", a.Flow, err)
	}
	a.At = a.At.UTC().Round(0)
	return a, nil
}

// BaselineAccepts implements store.Baselines.
func (s *Store) BaselineAccepts(ctx context.Context, flow string, after int64, limit int) ([]store.BaselineAccept, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, by_name, at_ns FROM baseline_accepts
		WHERE flow = ? AND id > ? ORDER BY id LIMIT ?`, flow, after, limit)
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
