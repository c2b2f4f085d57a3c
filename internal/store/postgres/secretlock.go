package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authwatch/authwatch/internal/store"
)

var _ store.SecretLocker = (*Store)(nil)

// lockedSecretIdleLimit bounds how long a locked secret's transaction may
// sit idle when the context has no deadline: a node that stalls holding
// the lock (paused, its network cut) has its session ended by the server,
// which releases the lock for the other nodes.
const lockedSecretIdleLimit = 2 * time.Minute

// secretLockConns is the size of the pool LockSecret takes its
// connections from. A held lock keeps its connection (a transaction idle
// on the server) through the IdP's answer, and a node waiting for the
// lock keeps one too; in the store's main pool a slow IdP would take
// every connection, and the node would lose its leases for want of one
// (docs/cluster.md "Rotating refresh tokens"). In a pool of their own,
// more refreshes than this at once wait for a connection, within their
// run's deadline, and nothing else does.
const secretLockConns = 4

// newSecretLockPool is the pool of LockSecret's connections: the main
// pool's settings but secretLockConns connections at most, none kept
// open while no refresh runs (a single daemon never locks).
func newSecretLockPool(ctx context.Context, main *pgxpool.Config) (*pgxpool.Pool, error) {
	cfg := main.Copy()
	cfg.MaxConns, cfg.MinConns, cfg.MinIdleConns = secretLockConns, 0, 0
	cfg.MaxConnIdleTime = time.Minute
	return pgxpool.NewWithConfig(ctx, cfg)
}

// LockSecret holds key's row FOR UPDATE in a transaction that stays open
// until Replace commits the new value or Release rolls back: a second
// node's LockSecret of the same key waits until then and reads what the
// first one stored. A key never stored is first inserted empty in the
// same transaction (its uncommitted row is the lock; a rollback removes
// it). The transaction's idle time is bounded by the server
// (idle_in_transaction_session_timeout: ctx's deadline plus 10 s, else 2
// minutes), so a node that stalls, or dies without its socket closing,
// does not hold the token for longer. The transaction runs on a
// connection of the secret-lock pool (secretLockConns), never on one of
// the main pool that leases, runs and the outbox need.
func (s *Store) LockSecret(ctx context.Context, key string) (store.SecretLock, error) {
	key = storableText(key) // as SaveSecret stores it
	switch {
	case key == "":
		return nil, errors.New("store: lock secret: empty key")
	case s.secrets == nil:
		return nil, fmt.Errorf("store: lock secret %q: %w", key, ErrNoSecretKey)
	}
	idle := lockedSecretIdleLimit
	if d, ok := ctx.Deadline(); ok {
		idle = max(time.Until(d)+10*time.Second, time.Second)
	}
	conn, err := s.lockPool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("store: lock secret %q: all %d connections for refresh-token locks stayed in use by other refreshes of this node (an IdP slow to answer?): %w",
				key, secretLockConns, ctx.Err())
		}
		return nil, s.faultf("store: lock secret %q: %w", key, err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, s.faultf("store: lock secret %q: %w", key, err)
	}
	l := &lockedSecret{s: s, conn: conn, tx: tx, key: key}
	var keyID, sealed []byte
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('idle_in_transaction_session_timeout', $1, true)`, strconv.FormatInt(idle.Milliseconds(), 10))
	b.Queue(`INSERT INTO secrets (key, key_id, value) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
		key, s.secrets.id, s.secrets.seal(key, ""))
	b.Queue(`SELECT key_id, value FROM secrets WHERE key = $1 FOR UPDATE`, key).
		QueryRow(func(row pgx.Row) error { return row.Scan(&keyID, &sealed) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		l.Release()
		return nil, s.faultf("store: lock secret %q: %w", key, err)
	}
	if !bytes.Equal(keyID, s.secrets.id) {
		l.Release()
		return nil, fmt.Errorf("store: lock secret %q: it was encrypted with another secret key than store.postgres.secret_key", key)
	}
	if l.value, err = s.secrets.open(key, sealed); err != nil {
		l.Release()
		return nil, fmt.Errorf("store: lock secret %q: %w", key, err)
	}
	return l, nil
}

// lockedSecret is a secret row held FOR UPDATE by an open transaction.
type lockedSecret struct {
	s     *Store
	key   string
	value string // "" when none was stored (the row is LockSecret's placeholder)

	mu   sync.Mutex
	conn *pgxpool.Conn // of the secret-lock pool, given back with tx's end
	tx   pgx.Tx        // nil once committed or rolled back
}

func (l *lockedSecret) Value() (string, bool) { return l.value, l.value != "" }

func (l *lockedSecret) Replace(ctx context.Context, value string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tx == nil {
		return fmt.Errorf("store: replace secret %q: the lock was released", l.key)
	}
	tx := l.tx
	l.tx = nil
	defer l.conn.Release() // closed instead if the transaction did not end
	if _, err := tx.Exec(ctx, `UPDATE secrets SET key_id = $2, value = $3 WHERE key = $1`,
		l.key, l.s.secrets.id, l.s.secrets.seal(l.key, value)); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return l.s.faultf("store: replace secret %q: %w", l.key, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return l.s.faultf("store: replace secret %q: %w", l.key, err)
	}
	return nil
}

func (l *lockedSecret) Release() {
	l.mu.Lock()
	tx := l.tx
	l.tx = nil
	l.mu.Unlock()
	if tx == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer l.conn.Release() // closed instead if the rollback failed
	_ = tx.Rollback(ctx)   // a failed rollback closes the connection, which ends the transaction too
}
