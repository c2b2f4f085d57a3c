// Package postgres is a store.Store on PostgreSQL (pgx, pure Go), for
// daemons whose state lives on a database server rather than in a local
// SQLite file, and, later, for several daemons sharing one (docs/cluster.md).
//
// It keeps the same data with the same semantics as internal/store/sqlite:
// the run history with its tiers (docs/history.md), the flows' states,
// incident states and the notification outbox, and secrets. What differs,
// and why:
//   - Every RecordRun is its own transaction that locks the flow's state
//     row (FOR UPDATE) before it reads it, so writers in several processes
//     serialize per flow; nothing about a flow is kept in memory between
//     runs (the roll-ups are written with each run, not per minute), so a
//     second node sees what the first wrote.
//   - Times are bigint Unix nanoseconds (timestamptz keeps microseconds);
//     IDs are identity columns, never reused after a prune.
//   - The schema version is in schema_migrations, migrated under a
//     transaction-scoped advisory lock, so that nodes starting together
//     migrate once.
//   - Secrets are encrypted (AES-256-GCM) with a key the configuration
//     gives; without a key, SaveSecret refuses: a database server shared
//     with other services is not a 0600 file read by the service user.
//   - retention.max_size bounds the live bytes (LiveBytes: the bytes the
//     live rows and their index entries hold, estimated from a sample of
//     pages), not the size on disk: PostgreSQL gives deleted rows' space
//     back to its own tables (autovacuum), not to the file system, so the
//     size on disk (UsedBytes, for the metrics) stays at its high-water
//     mark and no prune could bring it under a bound.
//
// The connection string is a secret (it may hold a password): it is never
// logged, and errors are scrubbed of its password.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authwatch/authwatch/internal/store"
)

var (
	_ store.Store          = (*Store)(nil)
	_ store.Restorer       = (*Store)(nil)
	_ store.Outbox         = (*Store)(nil)
	_ store.RollupReader   = (*Store)(nil)
	_ store.LocationStates = (*Store)(nil)
)

// Options tune Open.
type Options struct {
	// SecretKey is the AES-256 key secrets are encrypted with (32 bytes;
	// see ParseSecretKey). Empty: SaveSecret refuses, LoadSecret finds
	// nothing it could decrypt.
	SecretKey []byte
	// Logger receives the store's warnings; default slog.Default().
	Logger *slog.Logger
	// Retention gives PassingRunsKept and FailuresKeptPerStreak from the
	// first run on (Prune updates them), as sqlite.Options.Retention does.
	Retention store.Retention
	// OutboxClaim is how long an outbox item Due returned stays claimed
	// by this Store (DefaultOutboxClaim when 0): longer than a delivery
	// attempt, which is what a node that dies mid-delivery delays it by.
	OutboxClaim time.Duration
	// PruneBatch is how many rows one DELETE of Prune removes, each in its
	// own transaction (DefaultPruneBatch when 0).
	PruneBatch int
	// SizeSamplePages is how many pages of a table an estimate of the
	// live bytes (LiveBytes, retention.max_size) reads at most
	// (DefaultSizeSamplePages when 0); a table no larger is read whole.
	SizeSamplePages int
	// Location is the probe location of the node using the Store (a
	// cluster node's cluster.location; "" for a single daemon): FlowState
	// reads the flow's state there. Runs carry their own location.
	Location string
}

// DefaultOutboxClaim is Options.OutboxClaim's default: twice
// delivery.DefaultAttemptTimeout.
const DefaultOutboxClaim = time.Minute

// Store is the PostgreSQL store.Store. Create it with Open; it is safe for
// concurrent use, and several Stores (in several processes) may share one
// database.
type Store struct {
	pool     *pgxpool.Pool
	lockPool *pgxpool.Pool // LockSecret's own connections (newSecretLockPool)
	// leasePool is the lease cycle's own connection: under load the runs'
	// records held all of the main pool's and renewals waited past their
	// deadline, so nodes lost their leases and flows changed node.
	leasePool *pgxpool.Pool
	connCfg   *pgx.ConnConfig // for connections outside the pool (LockInstance)
	password  string          // of the connection string, scrubbed from errors
	secrets   *secretBox
	log       *slog.Logger
	flowIDs   flowIDCache
	// node names this Store in outbox claims: random, one per Open.
	node        string
	outboxClaim time.Duration
	location    string // Options.Location

	pruneBatchSize  int // Options.PruneBatch
	sizeSamplePages int // Options.SizeSamplePages
	sizePrune       sizePruneStats

	// passingKept and failuresKept are Retention.PassingRunsKept and
	// FailuresKeptPerStreak as Open or the last Prune gave them.
	passingKept, failuresKept atomic.Int64
}

// Open connects to the database the connection string dsn names (a
// key=value string or a postgres:// URL, as libpq takes), checks that it
// answers, and migrates the schema to the current version. It fails if the
// schema is newer than this program knows, or if the database holds a
// runs table that authwatch did not create.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password of the string it quotes; the scrub is
		// for a password it could not find as one.
		return nil, scrub(fmt.Errorf("store: postgres connection string: %w", err), dsnPassword(dsn))
	}
	password := cfg.ConnConfig.Password
	// A commit must be durable when it returns (SaveSecret, the outbox),
	// whatever the server's or the role's default says.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "authwatch"
	}
	s := &Store{password: password, connCfg: cfg.ConnConfig.Copy(), log: o.Logger, node: randomID(), outboxClaim: o.OutboxClaim, pruneBatchSize: o.PruneBatch,
		sizeSamplePages: o.SizeSamplePages, location: o.Location}
	s.passingKept.Store(int64(max(o.Retention.PassingRunsKept, 0)))
	s.failuresKept.Store(int64(max(o.Retention.FailuresKeptPerStreak, 0)))
	if s.outboxClaim <= 0 {
		s.outboxClaim = DefaultOutboxClaim
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if len(o.SecretKey) > 0 {
		if s.secrets, err = newSecretBox(o.SecretKey); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, s.errorf("store: postgres: %w", err)
	}
	if s.lockPool, err = newSecretLockPool(ctx, cfg); err != nil {
		s.pool.Close()
		return nil, s.errorf("store: postgres: %w", err)
	}
	if s.leasePool, err = newLeasePool(ctx, cfg); err != nil {
		s.pool.Close()
		s.lockPool.Close()
		return nil, s.errorf("store: postgres: %w", err)
	}
	if err := migrate(ctx, s.pool); err != nil {
		s.Close()
		return nil, s.errorf("store: postgres %s: %w", describe(cfg), err)
	}
	return s, nil
}

// describe names the database without its password, for errors.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("database %q on %s:%d as %q", c.Database, c.Host, c.Port, c.User)
}

// Close closes the connections; calls in progress may fail, later ones do.
// Closing twice is harmless.
func (s *Store) Close() error {
	s.pool.Close()
	s.lockPool.Close()
	s.leasePool.Close()
	return nil
}

// errorf is fmt.Errorf with the connection string's password scrubbed
// from the message.
// Data errors are marked store.ErrRefused (markRefused).
func (s *Store) errorf(format string, args ...any) error {
	return markRefused(scrub(fmt.Errorf(format, args...), s.password))
}

// faultf is errorf without the refusal mark, for statements that carry no
// data of a run or an event (claims, outcomes of the outbox, leases): a
// data error there is not a reason to drop a write for good.
func (s *Store) faultf(format string, args ...any) error {
	return scrub(fmt.Errorf(format, args...), s.password)
}

// scrub returns err with every occurrence of secret in its message
// replaced; errors.Is and errors.As still see the errors underneath.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// dsnPassword finds the password of a connection string that pgx could
// not parse, as well as it can: a URL's user info or a password= pair.
func dsnPassword(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return rest[colon+1 : at]
			}
		}
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, `'`)
		}
	}
	return ""
}

// randomID is 16 random hex digits.
func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
