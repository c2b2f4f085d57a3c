// Package store defines what the authwatch daemon keeps across restarts: the
// history of runs, each flow's pass/fail state with its streaks, and secrets
// at rest (rotated refresh tokens).
//
// The interface and its types live here; implementations live in
// sub-packages (internal/store/sqlite). The streak rules are the pure
// [FlowState.Next], so every backend applies the same ones.
package store

import (
	"context"
	"encoding/json"
	"time"
)

// Run is one finished (or cut short) run of a flow, as it is recorded.
// Times come back from a Store in UTC with nanosecond precision and without a
// monotonic clock reading.
type Run struct {
	ID   int64 // assigned by the store; ignored by RecordRun; never reused after a prune
	Flow string
	// Location is the probe location the run was made from (a cluster
	// node's cluster.location, docs/cluster.md); "" for a single daemon.
	Location   string
	Start      time.Time // must not be zero
	DurationMS float64   // the whole run, waits included
	// WaitedMS is the part of DurationMS spent in wait steps (time the flow
	// chose to pass): the run's latency is DurationMS - WaitedMS.
	WaitedMS   float64
	OK         bool
	Cancelled  bool   // cut short by authwatch itself (shutdown, reload); never counts toward streaks
	Reason     string // primary reason code of the failed step, "" when OK
	Layer      string
	Summary    string
	FailedStep string
	Warnings   int
	// Steps holds the run's per-step results as already-redacted JSON. The
	// store keeps the bytes as given and never looks inside.
	Steps json.RawMessage
}

// FlowState is the current pass/fail state of one flow, kept up to date by
// RecordRun.
type FlowState struct {
	Flow string
	// Location is the probe location of the runs the state follows: a
	// store shared by the nodes of several locations keeps one state per
	// flow and location (see LocationStates); "" for a single daemon.
	Location            string
	OK                  bool
	Since               time.Time // start of the first run of the current pass/fail state
	ConsecutivePasses   int
	ConsecutiveFailures int
	// LastRun is the start of the last counted (not cancelled) run. It is zero
	// while every run recorded for the flow was cancelled: OK then means
	// nothing yet.
	LastRun     time.Time
	LastReason  string
	LastSummary string
	// LastRunID, LastWarnings, LastLayer and LastFailedStep describe the last
	// counted run too, so that an overview of thousands of flows reads only
	// their states, never their runs. LastRunID is 0 when that run has no ID
	// yet (kept in memory while the store could not be written).
	LastRunID      int64
	LastWarnings   int
	LastLayer      string
	LastFailedStep string
	Runs           int64 // runs recorded since the state was created, cancelled ones included; pruning does not lower it
}

// Retention says which runs and roll-ups Prune deletes. A zero (or
// negative) field disables its rule.
type Retention struct {
	MaxAge         time.Duration // runs that started before now-MaxAge
	MaxRunsPerFlow int           // all but the newest MaxRunsPerFlow runs of each flow
	// PassingRunsKept keeps only the newest PassingRunsKept passing runs
	// of each flow whole (those KeptWhole does not keep): the older ones
	// live on in the roll-ups only. A store that keeps roll-ups also
	// applies it as it records runs, from the first Prune on (or from
	// its opening: sqlite.Options.Retention).
	PassingRunsKept int
	// MinuteRollups and HourRollups are how long the roll-ups of each tier
	// are kept (from their start).
	MinuteRollups, HourRollups time.Duration
	// MaxBytes bounds the database's used bytes: when they are over it,
	// Prune deletes the oldest whole records, then the oldest minute
	// roll-ups, until they are under 90 % of it (stores that can tell).
	MaxBytes int64
	// FailuresKeptPerStreak keeps whole only the first
	// FailuresKeptPerStreak failures of a streak whose reason and failed
	// step do not change, and the newest FailuresKeptPerStreak of the
	// others ("repeats") per flow; every run is still counted in the
	// roll-ups and the flow's state. Applied by stores that keep roll-ups,
	// as they record runs, from the first Prune on (or from the store's
	// opening: sqlite.Options.Retention).
	FailuresKeptPerStreak int
}

// Store keeps runs, flow states and secrets across restarts.
//
// Lifecycle: an implementation's constructor (e.g. sqlite.Open) creates or
// migrates the storage and returns a ready Store; Close releases it, after
// which every method fails. A Store is safe for concurrent use by multiple
// goroutines.
//
// Methods honour their context: one that ends before a write has begun
// aborts the call (record the run cut short by a shutdown with a context
// that outlives the shutdown: context.WithoutCancel plus a timeout). Writes
// are atomic, and durable when they return without error: a crash of the
// process or of the machine loses at most the writes in progress.
//
// Runs of one flow are expected to be recorded in start order, as the
// scheduler runs one flow at a time; streaks follow the order of RecordRun
// calls.
//
// A PostgreSQL backend would need: RecordRun as one transaction that locks
// the flow's state row (SELECT ... FOR UPDATE, or INSERT ... ON CONFLICT DO
// NOTHING first) so that writers from several processes serialize per flow;
// an identity column for Run.ID; start times as bigint nanoseconds (timestamptz
// keeps only microseconds and would break round trips and ordering ties);
// Steps as bytea, or jsonb if callers always pass valid JSON; Prune as one
// DELETE per rule (a window function for the per-flow count); ForgetFlows with
// "flow <> ALL($1)"; a schema_migrations table and an advisory lock instead of
// SQLite's user_version; synchronous_commit=on (the default) for the
// durability of SaveSecret; and encryption of secret values, since a shared
// database server is not a 0600 file read only by the service user.
type Store interface {
	// RecordRun appends the run and updates the flow's state in one
	// transaction, returning the new state (see FlowState.Next). The run's
	// ID is assigned by the store. Flow must not be empty nor Start zero.
	RecordRun(ctx context.Context, r Run) (FlowState, error)
	// FlowStates returns the state of every flow, ordered by flow name.
	FlowStates(ctx context.Context) ([]FlowState, error)
	// FlowState returns the state of one flow, and false if it has none.
	FlowState(ctx context.Context, flow string) (FlowState, bool, error)
	// Runs returns the flow's runs, newest (by start) first, at most limit
	// of them; limit <= 0 returns all.
	Runs(ctx context.Context, flow string, limit int) ([]Run, error)
	// Prune deletes runs older than ret.MaxAge before now, beyond
	// ret.MaxRunsPerFlow per flow and passing runs beyond
	// ret.PassingRunsKept per flow (and roll-ups past their tier's
	// retention, in stores that keep them), and returns how many runs it
	// deleted. Flow states are not touched.
	Prune(ctx context.Context, now time.Time, ret Retention) (int, error)
	// ForgetFlows drops the state (not the history) of every flow not in
	// keep, e.g. flows no longer configured. An empty keep drops all states.
	ForgetFlows(ctx context.Context, keep []string) error
	// SaveSecret stores value under key, replacing any previous value. It
	// is durable (fsync'ed) when it returns. Values are stored as given;
	// implementations must never log them nor put them in errors.
	SaveSecret(ctx context.Context, key, value string) error
	// LoadSecret returns the value saved under key, and false if none is.
	LoadSecret(ctx context.Context, key string) (string, bool, error)
	// DeleteSecret removes key; deleting a missing key is not an error.
	DeleteSecret(ctx context.Context, key string) error
	// Close releases the store. Calls in progress may fail; later calls do.
	Close() error
}

// Restorer writes runs that were recorded while the store could not be
// written (kept in memory meanwhile, see internal/store/buffered), with the
// flow states computed for them then, in one transaction.
type Restorer interface {
	RestoreRuns(ctx context.Context, runs []Run, states []FlowState) error
}
