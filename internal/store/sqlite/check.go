package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Check says how much of the database Open verifies before using it.
type Check string

// Checks. CheckQuick is the default: PRAGMA quick_check reads every page and
// checks each b-tree's structure, without matching indexes to tables.
// CheckFull adds that (PRAGMA integrity_check); its cost grows with the index
// sizes (docs/benchmarks.md has both at 1 GB). CheckNone skips both.
const (
	CheckQuick Check = "quick"
	CheckFull  Check = "full"
	CheckNone  Check = "none"
)

// ParseCheck reads a --store-check value.
func ParseCheck(s string) (Check, error) {
	switch c := Check(s); c {
	case CheckQuick, CheckFull, CheckNone:
		return c, nil
	}
	return "", fmt.Errorf("store check %q: want quick, full or none", s)
}

// markerSuffix names the file beside a database that says it was created:
// a missing or empty database next to its marker is a lost one, not a first
// start. Moving the database aside with its -wal and -shm (db*) moves the
// marker too, so that the next start is a deliberate fresh one.
const markerSuffix = ".created"

// ErrCorrupt is wrapped by Open's error when the database fails its check.
var ErrCorrupt = errors.New("state database is corrupt")

// ErrLost is wrapped by Open's error when the database is missing or empty
// although the directory's marker says one was created there.
var ErrLost = errors.New("state database is missing or empty")

func markerPath(db string) string { return db + markerSuffix }

// checkNotLost refuses a missing or zero-length database in a directory that
// had one: starting afresh would silently drop history, incidents and the
// outbox of pages not yet sent.
func checkNotLost(db string) error {
	if _, err := os.Stat(markerPath(db)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	fi, err := os.Stat(db)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return lostError(db, "is missing")
	case err != nil:
		return err
	case fi.Size() == 0:
		return lostError(db, "is empty (0 bytes)")
	}
	return nil
}

func lostError(db, what string) error {
	return fmt.Errorf("%w: %s %s, but %s says this directory had one: history, incident states and unsent pages "+
		"would be lost. Restore it from a backup; to start afresh on purpose, run: rm %s",
		ErrLost, db, what, markerPath(db), shellQuote(markerPath(db)))
}

// writeMarker records that the database exists (after its schema is in
// place), once; existing installations get it at their next start.
func writeMarker(db string) error {
	p := markerPath(db)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	note := fmt.Sprintf("authwatch created %s at %s. While this file exists, authwatch refuses to start on a "+
		"missing or empty database instead of silently starting afresh.\n", filepath.Base(db), time.Now().UTC().Format(time.RFC3339))
	return os.WriteFile(p, []byte(note), fileMode)
}

// verify runs the configured check on the writer before anything is written.
func verify(ctx context.Context, db *sql.DB, path string, c Check) error {
	pragma := "quick_check"
	switch c {
	case CheckNone:
		return nil
	case CheckFull:
		pragma = "integrity_check"
	}
	rows, err := db.QueryContext(ctx, "PRAGMA "+pragma+"(20)")
	if err != nil {
		return corruptError(path, err.Error())
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return corruptError(path, err.Error())
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return corruptError(path, err.Error())
	}
	if len(problems) > 0 {
		return corruptError(path, pragma+": "+strings.Join(problems, "; "))
	}
	return nil
}

// corruptError says what is wrong and how to move the file aside: the
// database, its -wal and -shm (a WAL replayed into another database would
// corrupt it) and its marker go together.
func corruptError(path, detail string) error {
	dir := filepath.Dir(path)
	aside := filepath.Join(dir, "corrupt-"+time.Now().UTC().Format("20060102T150405Z"))
	base := filepath.Base(path)
	move := fmt.Sprintf("mkdir %s && mv %s %s", shellQuote(aside), shellQuote(path)+"*", shellQuote(aside)+"/")
	return fmt.Errorf("%w: %s: %s. authwatch will not start on it (its results and pages would be lost or wrong). "+
		"Keep it for recovery (sqlite3 %s .recover) and start afresh: %s", ErrCorrupt, path, detail, base, move)
}

// shellQuote quotes p for a POSIX shell when it needs it.
func shellQuote(p string) string {
	if strings.IndexFunc(p, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

// isCorruption reports SQLite's SQLITE_CORRUPT and SQLITE_NOTADB.
func isCorruption(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	primary := coded.Code() & 0xff
	return primary == sqliteCorrupt || primary == sqliteNotADB
}

// Primary result codes (https://sqlite.org/rescode.html).
const (
	sqliteCorrupt = 11
	sqliteFull    = 13
	sqliteNotADB  = 26
)
