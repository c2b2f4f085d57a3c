package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

var _ store.Outbox = (*Store)(nil)

// outbox.state: 0 pending, 1 delivered, 2 dead (refused for good).

const outboxColumns = `id, notifier, incident_key, event_id, event, created_ns, attempts, next_ns, last_error`

// CommitIncident implements store.Outbox.
func (s *Store) CommitIncident(ctx context.Context, flow string, state json.RawMessage, items []store.OutboxItem) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: commit incident of %q: %w", flow, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO incident_state (flow, state) VALUES (?, ?)
		ON CONFLICT (flow) DO UPDATE SET state = excluded.state`, flow, []byte(state)); err != nil {
		return fmt.Errorf("store: commit incident of %q: %w", flow, err)
	}
	for _, it := range items {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (notifier, incident_key, event_id, event, created_ns, attempts, next_ns, last_error, state)
			VALUES (?, ?, ?, ?, ?, 0, ?, '', 0)`, it.Notifier, it.IncidentKey, it.EventID, []byte(it.Event), nanos(it.Created), nanos(it.NextAttempt)); err != nil {
			return fmt.Errorf("store: enqueue for %q: %w", it.Notifier, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit incident of %q: %w", flow, err)
	}
	return nil
}

// IncidentStates implements store.Outbox.
func (s *Store) IncidentStates(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT flow, state FROM incident_state`)
	if err != nil {
		return nil, fmt.Errorf("store: incident states: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var flow string
		var state []byte
		if err := rows.Scan(&flow, &state); err != nil {
			return nil, err
		}
		out[flow] = state
	}
	return out, rows.Err()
}

// Due implements store.Outbox.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]store.OutboxItem, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox o
		WHERE o.state = 0 AND o.next_ns <= ?
		AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.state = 0 AND p.notifier = o.notifier AND p.incident_key = o.incident_key)
		ORDER BY o.id LIMIT ?`, nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due notifications: %w", err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

func scanOutbox(rows *sql.Rows) (store.OutboxItem, error) {
	var it store.OutboxItem
	var event []byte
	var created, next int64
	err := rows.Scan(&it.ID, &it.Notifier, &it.IncidentKey, &it.EventID, &event, &created, &it.Attempts, &next, &it.LastError)
	it.Event, it.Created, it.NextAttempt = event, fromNanos(created), fromNanos(next)
	return it, err
}

// Delivered implements store.Outbox.
func (s *Store) Delivered(ctx context.Context, id int64, at time.Time) error {
	return s.exec(ctx, "mark delivered", `UPDATE outbox SET state = 1, done_ns = ?, attempts = attempts + 1 WHERE id = ?`, nanos(at), id)
}

// Retry implements store.Outbox.
func (s *Store) Retry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	return s.exec(ctx, "schedule retry", `UPDATE outbox SET attempts = ?, next_ns = ?, last_error = ? WHERE id = ?`, attempts, nanos(next), lastErr, id)
}

// Dead implements store.Outbox.
func (s *Store) Dead(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return s.exec(ctx, "give up", `UPDATE outbox SET state = 2, done_ns = ?, attempts = attempts + 1, last_error = ? WHERE id = ?`, nanos(at), lastErr, id)
}

func (s *Store) exec(ctx context.Context, what, query string, args ...any) error {
	if _, err := s.write.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("store: outbox %s: %w", what, err)
	}
	return nil
}

// Backlog implements store.Outbox.
func (s *Store) Backlog(ctx context.Context) (map[string]store.Backlog, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT notifier,
		SUM(state = 0), SUM(state = 2), COALESCE(MIN(CASE WHEN state = 0 THEN created_ns END), 0)
		FROM outbox WHERE state IN (0, 2) GROUP BY notifier`)
	if err != nil {
		return nil, fmt.Errorf("store: outbox backlog: %w", err)
	}
	defer rows.Close()
	out := map[string]store.Backlog{}
	for rows.Next() {
		var name string
		var b store.Backlog
		var oldest int64
		if err := rows.Scan(&name, &b.Pending, &b.Dead, &oldest); err != nil {
			return nil, err
		}
		b.Oldest = fromNanos(oldest)
		out[name] = b
	}
	return out, rows.Err()
}

// PruneOutbox implements store.Outbox.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM outbox WHERE state IN (1, 2) AND done_ns < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune outbox: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
