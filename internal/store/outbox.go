package store

import (
	"context"
	"encoding/json"
	"time"
)

// OutboxItem is one notification for one notifier, written before it is
// sent and marked delivered only on the receiver's success.
type OutboxItem struct {
	ID          int64
	Notifier    string
	IncidentKey string
	EventID     string
	Event       json.RawMessage // the notify.Event, already redacted
	Created     time.Time
	Attempts    int
	NextAttempt time.Time
	LastError   string // redacted
}

// Outbox is the durable notification queue and the incident states that
// produce it. Implementations are safe for concurrent use.
type Outbox interface {
	// CommitIncident saves a flow's incident state and enqueues the events
	// it produced in one transaction: a crash leaves both or neither.
	CommitIncident(ctx context.Context, flow string, state json.RawMessage, items []OutboxItem) error
	// IncidentStates returns every flow's saved incident state.
	IncidentStates(ctx context.Context) (map[string]json.RawMessage, error)
	// Due returns items whose next attempt is due, at most one per
	// (notifier, incident): the oldest undelivered, so that an incident's
	// events reach each receiver in order.
	Due(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// Delivered marks an item sent.
	Delivered(ctx context.Context, id int64, at time.Time) error
	// Retry records a failed attempt and when to try again.
	Retry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error
	// Dead gives up on an item the receiver will never accept (a 400), so
	// the incident's later events can go; it stays visible in Backlog.
	Dead(ctx context.Context, id int64, at time.Time, lastErr string) error
	// Backlog counts undelivered and dead items per notifier.
	Backlog(ctx context.Context) (map[string]Backlog, error)
	// PruneOutbox deletes delivered and dead items older than before.
	PruneOutbox(ctx context.Context, before time.Time) (int, error)
}

// Backlog is one notifier's queue.
type Backlog struct {
	Pending int
	Dead    int
	Oldest  time.Time // of the pending items
}
