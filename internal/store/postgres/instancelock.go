package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// instanceLock is the key of the session advisory lock that keeps daemons
// that do not share flows off each other's database: a single daemon
// holds it exclusively, cluster nodes shared, so a single daemon and
// cluster nodes, or two single daemons, never run the same flows at once
// (each would page on every failure).
const instanceLock int64 = 0x6177696e7374616e // "awinstan"

// lockCheckTimeout bounds one check or re-acquisition of the lock.
const lockCheckTimeout = 10 * time.Second

// InstanceLock is the advisory lock a daemon holds on its database for
// its lifetime, on a connection of its own (the lock is the session's:
// it ends with the connection). Check keeps it: a dropped connection is
// reconnected and the lock taken again, or Held reports false.
type InstanceLock struct {
	s      *Store
	shared bool
	name   string // application_name of the lock's connection

	checkTimeout time.Duration // lockCheckTimeout; longer in a test
	// mu serialises Check and Release, which use conn over the network;
	// Held never takes it (it is asked on every run's admission and by
	// /readyz, and must not wait behind a slow database).
	mu    sync.Mutex
	conn  *pgx.Conn // nil while not held
	state atomic.Pointer[lockState]
}

// lockState is what the last Check found.
type lockState struct {
	held bool
	err  error // why it is not held
}

// LockInstance takes the instance lock: exclusively for a daemon that runs
// every flow (shared false), shared for a cluster node. It fails, naming
// the other holder as PostgreSQL knows it (application_name, address,
// since when), if another daemon of the other kind, or another single
// daemon, holds it.
func (s *Store) LockInstance(ctx context.Context, shared bool) (*InstanceLock, error) {
	host, _ := os.Hostname()
	kind := "single"
	if shared {
		kind = "cluster"
	}
	l := &InstanceLock{s: s, shared: shared, name: truncateName(fmt.Sprintf("authwatch %s %s pid %d", kind, host, os.Getpid())),
		checkTimeout: lockCheckTimeout}
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// truncateName keeps a name within application_name's 63 bytes.
func truncateName(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.ToValidUTF8(s, "")
}

// acquire connects and takes the lock; l.mu is held or l is not shared yet.
func (l *InstanceLock) acquire(ctx context.Context) error {
	cfg := l.s.connCfg.Copy()
	cfg.RuntimeParams["application_name"] = l.name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return l.s.errorf("store: instance lock: %w", err)
	}
	fn := "pg_try_advisory_lock"
	if l.shared {
		fn = "pg_try_advisory_lock_shared"
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT `+fn+`($1)`, instanceLock).Scan(&got); err != nil {
		_ = conn.Close(ctx)
		return l.s.errorf("store: instance lock: %w", err)
	}
	if !got {
		holders := l.holders(ctx, conn)
		_ = conn.Close(ctx)
		return fmt.Errorf("store: another authwatch daemon uses this database (%s): %w", holders, l.conflict())
	}
	l.conn = conn
	l.state.Store(&lockState{held: true})
	return nil
}

// conflict says why two daemons cannot share the database.
func (l *InstanceLock) conflict() error {
	if l.shared {
		return ErrInstanceLocked{"a daemon without cluster.enabled runs every flow of this database; stop it, or enable cluster on every daemon"}
	}
	return ErrInstanceLocked{"one daemon per database runs every flow (two would page twice); stop the other, or set cluster.enabled on every daemon to share the flows"}
}

// ErrInstanceLocked is the error (under errors.As) of LockInstance when
// another daemon holds the lock.
type ErrInstanceLocked struct{ Why string }

func (e ErrInstanceLocked) Error() string { return e.Why }

// holders describes the other sessions holding the lock, from
// pg_stat_activity (what the role may see of them).
func (l *InstanceLock) holders(ctx context.Context, conn *pgx.Conn) string {
	rows, err := conn.Query(ctx, `SELECT coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'),
		coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '?')
		FROM pg_locks AS k LEFT JOIN pg_stat_activity AS a ON a.pid = k.pid
		WHERE k.locktype = 'advisory' AND k.granted AND k.pid <> pg_backend_pid() AND k.objsubid = 1
		AND ((k.classid::bigint << 32) | k.objid::bigint) = $1 ORDER BY a.backend_start LIMIT 5`, instanceLock)
	if err != nil {
		return "holder unknown"
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var app, addr, since string
		if rows.Scan(&app, &addr, &since) == nil {
			out = append(out, fmt.Sprintf("%q from %s since %s", app, addr, since))
		}
	}
	if len(out) == 0 {
		return "holder unknown"
	}
	return "held by " + strings.Join(out, ", ")
}

// Check makes sure the lock is still held: it asks the lock's connection,
// and if that connection is gone, connects and takes the lock again. It
// returns nil while the lock is held.
func (l *InstanceLock) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.checkTimeout)
	defer cancel()
	if l.conn != nil {
		if _, err := l.conn.Exec(ctx, `SELECT 1`); err == nil {
			return nil
		}
		_ = l.conn.Close(ctx)
		l.conn = nil
	}
	if err := l.acquire(ctx); err != nil {
		l.state.Store(&lockState{err: err})
		return err
	}
	return nil
}

// Held reports whether the lock was held at the last Check, and why not.
// It does not wait for a Check in progress.
func (l *InstanceLock) Held() (bool, error) {
	st := l.state.Load()
	return st.held, st.err
}

// Release gives the lock back (by closing its connection).
func (l *InstanceLock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	err := l.conn.Close(context.Background())
	l.conn = nil
	l.state.Store(&lockState{err: errors.New("released")})
	return err
}
