package daemon

import (
	"context"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/store"
)

// refreshTokenStore is what the runner keeps rotated refresh tokens in:
// the state store, and on a cluster node one that locks a stored token
// in PostgreSQL while a refresh uses it, so that two nodes never present
// the same token (docs/cluster.md "Rotating refresh tokens"). A single
// node has no one to race and keeps the buffered store's fallback to
// memory when the database fails.
func (m *Main) refreshTokenStore() flows.TokenStore {
	locker, ok := m.db.(store.SecretLocker)
	if m.cluster == nil || !ok {
		return m.store
	}
	return lockingTokens{TokenStore: m.store, locker: locker}
}

// lockingTokens is a flows.TokenLocker over a store.SecretLocker.
type lockingTokens struct {
	flows.TokenStore
	locker store.SecretLocker
}

func (t lockingTokens) LockSecret(ctx context.Context, key string) (flows.LockedToken, error) {
	return t.locker.LockSecret(ctx, key)
}
