package store

import (
	"context"
	"errors"
)

// Fence is the shard lease a write is made under, when several nodes
// share one store (docs/cluster.md): the node that held shard Shard of
// Location with lease generation Generation when the run began. A store
// that keeps leases refuses the write, in the write's own transaction,
// unless Node still holds that lease with that generation, so a node that
// was paused past its lease cannot write over the node that took it over.
type Fence struct {
	Location   string
	Shard      int
	Node       string
	Generation int64
}

// ErrStaleLease is the error (under errors.Is) of a write refused because
// its Fence's lease moved on to another holder or generation. It is not a
// fault of the store: the write must be dropped, not kept and retried.
var ErrStaleLease = errors.New("store: the shard lease this write was made under has moved on (fenced)")

type fenceKey struct{}

// WithFence returns ctx carrying f: RecordRun and CommitIncident called
// with it are fenced by f in stores that keep leases (PostgreSQL); others
// ignore it.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the Fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// ErrRefused is the error (under errors.Is) of a write the store refuses
// for good, whatever its health: data its database cannot hold (a
// PostgreSQL data error, SQLSTATE class 22 or 23) or a secret without a
// key to encrypt it with. Retrying it cannot succeed, so it is not a fault
// of the store either: a caller that keeps writes to retry them later
// (internal/store/buffered) drops it instead of waiting behind it.
var ErrRefused = errors.New("store: refused for good")
