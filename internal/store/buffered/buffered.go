// Package buffered keeps the daemon working when its state store cannot be
// written: a full disk, a read-only or immutable file, a corrupted page.
//
// A monitor that stops paging because it cannot write its history fails at
// the one thing it is for. So every write that the backend refuses is kept
// in memory instead (runs with the flow states they produced, incident
// states, outbox items, rotated refresh tokens, delivery marks), reads see
// memory over the backend, and Flush writes everything, in order, once the
// backend takes writes again. Outbox items kept in memory are not sent by
// the outbox's sender: the daemon delivers them directly (Unsent, MarkSent),
// and an item delivered that way is never written to the outbox, so no page
// is sent twice.
//
// While the store is failing, writes go to memory without touching the
// backend, so that a broken disk is not hammered at the run rate and the
// order of each flow's runs is kept; only Flush probes the backend.
//
// Memory is bounded (Options): beyond MaxEvidenceBytes, the oldest kept runs
// lose their step details; beyond MaxRuns, the oldest runs are dropped and
// counted (flow states stay exact: they are kept with each run).
package buffered

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// Backend is the store being protected.
type Backend interface {
	store.Store
	store.Outbox
	store.Restorer
}

// Defaults of Options.
const (
	DefaultMaxRuns          = 200_000
	DefaultMaxEvidenceBytes = 64 << 20
	DefaultMaxItems         = 10_000
)

// Options bound the memory the store may hold while its backend fails.
type Options struct {
	MaxRuns          int // runs kept; then the oldest are dropped
	MaxEvidenceBytes int // bytes of step details kept; then the oldest runs lose theirs
	MaxItems         int // outbox items kept; then the oldest already sent, then the oldest
	Now              func() time.Time
	// Logger receives a line for each write Flush drops because the
	// backend refuses it for good (store.ErrRefused); default slog.Default().
	Logger *slog.Logger
}

// Health is the backend's condition as this store sees it.
type Health struct {
	OK bool
	// Since is when the current failure began (zero when OK).
	Since time.Time
	// LastError is the backend's last refusal; Failures counts the writes
	// and flush attempts refused since Since.
	LastError string
	Failures  int
	// Pending counts what waits in memory; Dropped the runs dropped and
	// Stripped the runs that lost their step details to the bounds.
	PendingRuns, PendingItems int
	Dropped, Stripped         int64
}

// Store is a Backend that keeps what the backend refuses. It is safe for
// concurrent use, except that Flush, Unsent and MarkSent are meant for one
// goroutine (the daemon's store guard).
type Store struct {
	backend Backend
	opts    Options
	signal  chan struct{} // something new waits in memory

	mu        sync.Mutex
	closed    bool // reads no longer fall back to memory
	failing   bool
	health    Health
	states    map[string]store.FlowState // every flow's state as of its last recorded run
	runs      []pendingRun
	evidence  int // bytes of Steps in runs
	incidents map[string]pendingIncident
	items     []Item
	nextSeq   int64              // of items and runs
	secrets   map[string]*string // nil: deleted
	marks     map[int64]mark
	forget    []string // the keep list of a ForgetFlows that waits; nil: none
	forgetSet bool
	version   int64 // bumped on every change to incidents
	// isolate counts the runs Flush still writes one at a time, to find
	// the one in a refused chunk that the backend refuses.
	isolate int
}

type pendingRun struct {
	seq   int64
	run   store.Run
	state store.FlowState // the flow's state after run
}

type pendingIncident struct {
	state   json.RawMessage
	version int64
}

// Item is an outbox item kept in memory while the backend refuses writes.
type Item struct {
	Seq  int64 // order of creation
	Flow string
	store.OutboxItem
	Sent bool
}

// mark is a delivery outcome of a backend outbox item, kept until flushed.
type mark struct {
	kind     markKind
	at       time.Time
	attempts int
	next     time.Time
	lastErr  string
}

type markKind int

const (
	markDelivered markKind = iota + 1
	markRetry
	markDead
)

// New wraps backend. It reads every flow's state once, so that a run kept in
// memory continues its flow's streak; if that read fails, streaks start from
// the zero state (a store that cannot even be read fails its next write too).
func New(ctx context.Context, backend Backend, opts Options) *Store {
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = DefaultMaxRuns
	}
	if opts.MaxEvidenceBytes <= 0 {
		opts.MaxEvidenceBytes = DefaultMaxEvidenceBytes
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = DefaultMaxItems
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{backend: backend, opts: opts, signal: make(chan struct{}, 1), health: Health{OK: true},
		states: map[string]store.FlowState{}, incidents: map[string]pendingIncident{}, secrets: map[string]*string{},
		marks: map[int64]mark{}}
	if states, err := backend.FlowStates(ctx); err == nil {
		for _, st := range states {
			s.states[st.Flow] = st
		}
	}
	return s
}

// Signal receives when something new waits in memory (an item to deliver
// directly), or when the backend started failing.
func (s *Store) Signal() <-chan struct{} { return s.signal }

func (s *Store) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Health returns the backend's condition.
func (s *Store) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.health
	h.PendingRuns, h.PendingItems = len(s.runs), len(s.items)
	return h
}

// failLocked records a refused write; s.mu is held.
func (s *Store) failLocked(err error) {
	if !s.failing {
		s.failing = true
		s.health.OK, s.health.Since, s.health.Failures = false, s.opts.Now(), 0
		defer s.wake()
	}
	s.health.Failures++
	s.health.LastError = err.Error()
}

// isStoreFault tells a backend refusal from the caller's own context
// ending, from a write fenced off (store.ErrStaleLease: another node
// holds the flow's lease now, so the write must be dropped, not kept),
// and from a write refused for good (store.ErrRefused: kept, it would
// block every write behind it).
func isStoreFault(ctx context.Context, err error) bool {
	return err != nil && !errors.Is(err, store.ErrStaleLease) && !errors.Is(err, store.ErrRefused) &&
		!(ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)))
}

// Close closes the backend. What is still in memory is lost: the daemon
// flushes before (and says so in its log when it cannot).
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.backend.Close()
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Outbox = (*Store)(nil)
)
