package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

// outbox.state: 0 pending, 1 delivered, 2 dead (refused for good).

const outboxColumns = `id, notifier, incident_key, event_id, event, created_ns, attempts, next_ns, last_error`

// CommitIncident implements store.Outbox.
func (s *Store) CommitIncident(ctx context.Context, flow string, state json.RawMessage, items []store.OutboxItem) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		var fence fenceCheck
		queueFence(ctx, b, &fence)
		queueCommit(b, flow, state, items)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return fence.err() // rolls back what the batch wrote
	})
	if err != nil {
		return s.errorf("store: commit incident of %q: %w", flow, err)
	}
	return nil
}

// queueCommit queues the writes of CommitIncident.
func queueCommit(b *pgx.Batch, flow string, state json.RawMessage, items []store.OutboxItem) {
	b.Queue(`INSERT INTO incident_state (flow, state) VALUES ($1, $2)
		ON CONFLICT (flow) DO UPDATE SET state = excluded.state`, flow, []byte(state))
	for _, it := range items {
		b.Queue(`INSERT INTO outbox (notifier, incident_key, event_id, event, created_ns, attempts, next_ns, last_error, state)
			VALUES ($1, $2, $3, $4, $5, 0, $6, '', 0)`, textArgs(it.Notifier, it.IncidentKey, it.EventID, []byte(it.Event),
			nanos(it.Created), nanos(it.NextAttempt))...)
	}
}

// IncidentStates implements store.Outbox.
func (s *Store) IncidentStates(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT flow, state FROM incident_state`)
	if err != nil {
		return nil, s.errorf("store: incident states: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var flow string
		var state []byte
		if err := rows.Scan(&flow, &state); err != nil {
			return nil, s.errorf("store: incident states: %w", err)
		}
		out[flow] = state
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("store: incident states: %w", err)
	}
	return out, nil
}

// Due implements store.Outbox, and claims what it returns for this Store
// until OutboxClaim from now (the server's clock): another Store on the
// database (another node) does not get an item claimed and unexpired,
// nor an incident's later item while an earlier one is pending, and rows
// being claimed by a concurrent Due are skipped (FOR UPDATE SKIP LOCKED),
// so two nodes never send one item. A node that dies mid-delivery leaves
// its claim to expire; Retry gives a claim back at once. This Store's own
// claims are returned again (and extended), as Due always did.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]store.OutboxItem, error) {
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT o.id FROM outbox AS o
			WHERE o.state = 0 AND o.next_ns <= $1 AND (o.claimed_until < now() OR o.claimed_by = $3)
			AND o.id = (SELECT min(p.id) FROM outbox AS p WHERE p.state = 0 AND p.notifier = o.notifier AND p.incident_key = o.incident_key)
			ORDER BY o.id LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE outbox AS o SET claimed_by = $3, claimed_until = now() + $4 * interval '1 microsecond'
		FROM due WHERE o.id = due.id
		RETURNING `+prefixed("o.", outboxColumns), nanos(now), limit, s.node, s.outboxClaim.Microseconds())
	if err != nil {
		return nil, s.faultf("store: due notifications: %w", err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		var it store.OutboxItem
		var event []byte
		var created, next int64
		if err := rows.Scan(&it.ID, &it.Notifier, &it.IncidentKey, &it.EventID, &event, &created, &it.Attempts, &next, &it.LastError); err != nil {
			return nil, s.faultf("store: due notifications: %w", err)
		}
		it.Event, it.Created, it.NextAttempt = event, fromNanos(created), fromNanos(next)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, s.faultf("store: due notifications: %w", err)
	}
	slices.SortFunc(out, func(a, b store.OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// prefixed qualifies each of a comma-separated column list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// Delivered implements store.Outbox. Delivered, Retry and Dead record an
// outcome only while the item is pending and claimed by this Store (or by
// no one: Retry gave the claim back): an outcome of a claim that expired
// and was taken by another node is not written over that node's claim; it
// is a no-op reported as errClaimMoved (store.ErrStaleLease under
// errors.Is).
func (s *Store) Delivered(ctx context.Context, id int64, at time.Time) error {
	return s.outcome(ctx, id, "mark delivered", `UPDATE outbox SET state = 1, done_ns = $1, attempts = attempts + 1, claimed_by = '', claimed_until = '-infinity'
		WHERE id = $2 AND state = 0 AND claimed_by IN ($3, '')`, nanos(at), id, s.node)
}

// Retry implements store.Outbox (see Delivered).
func (s *Store) Retry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	return s.outcome(ctx, id, "schedule retry", `UPDATE outbox SET attempts = $1, next_ns = $2, last_error = $3, claimed_by = '', claimed_until = '-infinity'
		WHERE id = $4 AND state = 0 AND claimed_by IN ($5, '')`, attempts, nanos(next), lastErr, id, s.node)
}

// Dead implements store.Outbox (see Delivered).
func (s *Store) Dead(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return s.outcome(ctx, id, "give up", `UPDATE outbox SET state = 2, done_ns = $1, attempts = attempts + 1, last_error = $2, claimed_by = '', claimed_until = '-infinity'
		WHERE id = $3 AND state = 0 AND claimed_by IN ($4, '')`, nanos(at), lastErr, id, s.node)
}

// outcome runs an outcome's UPDATE; no row updated means the item is no
// longer this Store's to settle.
func (s *Store) outcome(ctx context.Context, id int64, what, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, textArgs(args...)...)
	if err != nil {
		return s.faultf("store: outbox %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return errClaimMoved{id: id, what: what}
	}
	return nil
}

// errClaimMoved is an outcome not recorded: the item's claim expired and
// another node claimed it (or settled it) since. Retrying cannot succeed,
// and it is not a fault of the store: under errors.Is it is
// store.ErrStaleLease, which a buffering store drops rather than keeps.
type errClaimMoved struct {
	id   int64
	what string
}

func (e errClaimMoved) Error() string {
	return fmt.Sprintf("store: outbox %s of item %d not recorded: its claim expired and another node claimed or settled it", e.what, e.id)
}

func (e errClaimMoved) Is(target error) bool { return target == store.ErrStaleLease }

func (s *Store) exec(ctx context.Context, what, query string, args ...any) error {
	if _, err := s.pool.Exec(ctx, query, textArgs(args...)...); err != nil {
		return s.errorf("store: outbox %s: %w", what, err)
	}
	return nil
}

// Backlog implements store.Outbox.
func (s *Store) Backlog(ctx context.Context) (map[string]store.Backlog, error) {
	rows, err := s.pool.Query(ctx, `SELECT notifier, count(*) FILTER (WHERE state = 0), count(*) FILTER (WHERE state = 2),
		coalesce(min(created_ns) FILTER (WHERE state = 0), 0)
		FROM outbox WHERE state IN (0, 2) GROUP BY notifier`)
	if err != nil {
		return nil, s.errorf("store: outbox backlog: %w", err)
	}
	defer rows.Close()
	out := map[string]store.Backlog{}
	for rows.Next() {
		var name string
		var b store.Backlog
		var oldest int64
		if err := rows.Scan(&name, &b.Pending, &b.Dead, &oldest); err != nil {
			return nil, s.errorf("store: outbox backlog: %w", err)
		}
		b.Oldest = fromNanos(oldest)
		out[name] = b
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("store: outbox backlog: %w", err)
	}
	return out, nil
}

// PruneOutbox implements store.Outbox.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE state IN (1, 2) AND done_ns < $1`, nanos(before))
	if err != nil {
		return 0, s.errorf("store: prune outbox: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
