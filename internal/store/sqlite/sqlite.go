// Package sqlite is the embedded store.Store of the authwatch daemon: one
// SQLite file (modernc.org/sqlite, pure Go) in WAL mode.
//
// Connections: one *sql.DB holds the single writer connection, so writes
// queue in the pool instead of failing with SQLITE_BUSY, and every write
// transaction begins IMMEDIATE (it takes the write lock up front, so a read
// inside it can never need an upgrade that another process could refuse).
// A second *sql.DB holds query_only connections for reads: WAL lets them read
// a consistent snapshot while the writer is inside its fsync.
//
// Durability: synchronous=FULL syncs the WAL on every commit, so a commit that
// returned survives a crash of the process or of the machine, and a killed
// process loses at most the transactions in progress. As a commit costs an
// fsync (0.3 to 1 ms), RecordRun calls that arrive while one is in progress
// are committed together in the next transaction (group commit): each call
// still returns only once its run is durable.
//
// Files: the database, and the -wal and -shm files SQLite creates beside it
// with the database's permissions, are 0600 whatever the umask, because the
// secrets table holds refresh tokens as given.
//
// Note for code sharing this process: SQLite's locks are POSIX record locks,
// which the kernel drops when any descriptor of the file is closed in the
// process. Never os.Open the database file (to hash or copy it) while a
// Store is open; use SQLite's backup API or VACUUM INTO instead.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/authwatch/authwatch/internal/store"
)

var _ store.Store = (*Store)(nil)

const (
	busyTimeoutMS = 5000 // how long a connection waits for a lock held by another process
	maxReaders    = 4    // read connections; see BenchmarkReadsDuringWrites
	walSizeLimit  = 32 << 20
)

// Store is the SQLite store.Store. Create it with Open; it is safe for
// concurrent use.
type Store struct {
	write *sql.DB // exactly one connection
	read  *sql.DB // query_only connections

	records    chan recordReq // RecordRun to writeLoop; unbuffered
	stmts      recordStmts    // prepared once: parsing SQL per run cost a third of the store's CPU
	txStmts    txStmts        // stmts bound to the writer's current transaction (history.go)
	hist       history        // the writer's memory of each flow (history.go)
	closing    chan struct{}  // closed by Close
	writerDone chan struct{}  // closed when writeLoop has returned
	closeOnce  sync.Once

	commitEvery atomic.Int64 // time.Duration: the least time between two commits' starts
	commits     atomic.Int64 // run batches committed, for tests and figures

	log       *slog.Logger
	sizePrune sizePruneStats // the last prune by size (size.go)
}

// SetCommitInterval spaces commits at least d apart: a run that arrives
// within d of the previous commit waits (at most d) and shares the next
// commit with the runs that arrive meanwhile. Each commit is an fsync, so
// at a steady rate this divides the store's largest cost by the batch size;
// durability is unchanged (RecordRun still returns after its commit). 0,
// the default, commits as soon as the previous commit is done.
func (s *Store) SetCommitInterval(d time.Duration) { s.commitEvery.Store(int64(max(d, 0))) }

// Options tune Open.
type Options struct {
	// Check is how much of an existing database is verified first
	// (default CheckQuick).
	Check Check
	// Logger receives the store's warnings (a prune by size); default
	// slog.Default().
	Logger *slog.Logger
	// Retention's PassingRunsKept and FailuresKeptPerStreak apply to the
	// runs recorded from the start, before the first Prune (which applies
	// its own, e.g. after a reload). Zero keeps every run whole.
	Retention store.Retention
}

// Open opens the database at path with the default options; see OpenWith.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens the database at path, creating the file (0600) and its
// directory (0700) when missing and migrating the schema to the current
// version. It fails if the file is another application's SQLite database, if
// its schema is newer than this program knows, if WAL mode cannot be enabled
// (e.g. on a network file system), if it fails its check (ErrCorrupt), or if
// it is missing or empty where one existed before (ErrLost): an auth monitor
// that silently starts afresh loses its open incidents and unsent pages.
func OpenWith(path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: no database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := checkNotLost(abs); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := prepareFiles(abs); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s, err := open(abs, o)
	if errors.Is(err, ErrCorrupt) {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	if err := writeMarker(abs); err != nil {
		return nil, errors.Join(fmt.Errorf("store: %w", err), s.Close())
	}
	return s, nil
}

func open(path string, o Options) (*Store, error) {
	write, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	if err := setup(write, path, o); err != nil {
		return nil, errors.Join(err, write.Close())
	}
	read, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, errors.Join(err, write.Close())
	}
	read.SetMaxOpenConns(maxReaders)
	read.SetMaxIdleConns(maxReaders)
	s := &Store{write: write, read: read, records: make(chan recordReq),
		closing: make(chan struct{}), writerDone: make(chan struct{}),
		hist: history{flows: map[string]*flowEntry{}, sweptMinute: math.MinInt64}, log: o.Logger}
	s.hist.setKept(o.Retention)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.stmts, err = prepareRecord(write); err != nil {
		return nil, errors.Join(err, write.Close(), read.Close())
	}
	go s.writeLoop()
	return s, nil
}

// setup checks the file and the journal mode and migrates the schema on the
// writer. A file that is not a database at all (garbage in its header) fails
// the first statement and is reported as corrupt too.
func setup(write *sql.DB, path string, o Options) error {
	ctx := context.Background()
	var mode string
	if err := write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		if isCorruption(err) {
			return corruptError(path, err.Error())
		}
		return err
	}
	if o.Check == "" {
		o.Check = CheckQuick
	}
	if err := verify(ctx, write, path, o.Check); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal (is the file on a network file system?)", mode)
	}
	return migrate(ctx, write)
}

// dsn returns the driver's data source name for path. The pragmas apply to
// every connection the pools open.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// The WAL is cut back to this after a checkpoint: retention.max_size
		// counts the database's pages only.
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
		q.Set("_txlock", "immediate")
	}
	// A file: URI, so that '?' or '%' in the path is escaped, not parsed.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close waits for the runs being committed, then closes both connection
// pools. The last connection to close checkpoints the WAL into the database
// file and removes -wal and -shm. Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	<-s.writerDone
	return errors.Join(s.read.Close(), s.write.Close())
}
