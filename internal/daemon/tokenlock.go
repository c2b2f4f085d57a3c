package daemon

import (
	"context"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/scheduler"
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

// LockSecret locks the token for a refresh. Once it is held, a run
// cancelled because its node lost the flow's shard is cancelled only when
// the lock is given back (scheduler.DeferRevocation): cut while the IdP
// rotates the token, the run would lose the new token and leave the old,
// now dead one to the next holder (refresh_token_rejected); the lock
// keeps every other node from presenting it meanwhile. Waiting for the
// lock can be cancelled.
func (t lockingTokens) LockSecret(ctx context.Context, key string) (flows.LockedToken, error) {
	held, err := t.locker.LockSecret(ctx, key)
	if err != nil {
		return nil, err
	}
	return revocationDeferred{SecretLock: held, resume: scheduler.DeferRevocation(ctx)}, nil
}

// revocationDeferred is a held token lock whose run is not cancelled until
// it is given back.
type revocationDeferred struct {
	store.SecretLock
	resume func()
}

func (l revocationDeferred) Replace(ctx context.Context, value string) error {
	defer l.resume()
	return l.SecretLock.Replace(ctx, value)
}

func (l revocationDeferred) Release() {
	l.SecretLock.Release()
	l.resume()
}
