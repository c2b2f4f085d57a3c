package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

// fenceCheck holds what queueFence found.
type fenceCheck struct {
	fenced bool // the context carried a Fence
	held   bool // its node still holds its lease with its generation
	f      store.Fence
}

// queueFence queues, first in a write's transaction, the check of the
// Fence ctx carries (none: nothing is queued). The lease row is read FOR
// SHARE: a claim by another node (an UPDATE of that row) waits until this
// transaction ends, so the check stays true until the write commits.
func queueFence(ctx context.Context, b *pgx.Batch, fc *fenceCheck) {
	f, ok := store.FenceFrom(ctx)
	if !ok {
		return
	}
	fc.fenced, fc.f = true, f
	b.Queue(`SELECT true FROM shard_lease WHERE location = $1 AND shard = $2 AND node = $3 AND generation = $4 FOR SHARE`,
		f.Location, f.Shard, f.Node, f.Generation).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&fc.held)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
}

// err is store.ErrStaleLease when the write must be refused.
func (fc *fenceCheck) err() error {
	if fc.fenced && !fc.held {
		return fmt.Errorf("shard %d of location %q is no longer held by node %s at generation %d: %w",
			fc.f.Shard, fc.f.Location, fc.f.Node, fc.f.Generation, store.ErrStaleLease)
	}
	return nil
}
