package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// TestFileModes checks that the database, -wal and -shm are 0600 and a
// created directory 0700 under umasks that would give other modes. It sets
// the process umask, so it must not run in parallel.
func TestFileModes(t *testing.T) {
	for _, umask := range []int{0o000, 0o022, 0o277} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state", "authwatch")
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			path := filepath.Join(dir, "authwatch.db")
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			record(t, s, sampleRun("f", 0)) // the writer creates -wal and -shm
			if _, err := s.FlowStates(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkMode(t, dir, 0o700)
			checkMode(t, filepath.Dir(dir), 0o700)
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				checkMode(t, p, 0o600)
			}
		})
	}
}

func TestOpenTightensExistingFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authwatch.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	record(t, s, sampleRun("f", 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-wal", nil, 0o644); err != nil { // a stale, empty WAL
		t.Fatal(err)
	}
	if err := os.Chmod(path+"-wal", 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMode(t, path, 0o600)
	checkMode(t, path+"-wal", 0o600)
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %03o, want %03o", filepath.Base(path), got, want)
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTemp(t)
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"busy_timeout": "5000", "user_version": fmt.Sprint(len(migrations)), "application_id": fmt.Sprint(applicationID)}
	for name, db := range map[string]*sql.DB{"write": s.write, "read": s.read} {
		for pragma, w := range want {
			var got string
			if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil || got != w {
				t.Errorf("%s: PRAGMA %s = %q, %v; want %q", name, pragma, got, err, w)
			}
		}
	}
	var q int
	if err := s.read.QueryRow("PRAGMA query_only").Scan(&q); err != nil || q != 1 {
		t.Errorf("read: query_only = %d, %v", q, err)
	}
	if _, err := s.read.Exec(`DELETE FROM secrets`); err == nil {
		t.Error("a read connection could write")
	}
}

func TestOpenPaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a b.db", "what?.db", "100%.db", "x#y.db"} {
		path := filepath.Join(dir, name)
		s, err := Open(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		record(t, s, sampleRun("f", 0))
		s.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 8 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files in dir: %q, want the 4 databases and their markers only", names)
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	execSQL(t, foreign, "CREATE TABLE notes (body TEXT)")
	newer := filepath.Join(dir, "newer.db")
	s, err := Open(newer)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	execSQL(t, newer, "PRAGMA user_version = 99")
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"another application's database", foreign, "not an authwatch database"},
		{"newer schema", newer, "schema version 99 is newer"},
		{"parent is a file", filepath.Join(notDir, "x.db"), "not a directory"},
		{"empty path", "", "no database path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v; want it to say %q", err, tt.want)
			}
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authwatch.db")
	for i := range 3 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st := record(t, s, sampleRun("f", i))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if st.Runs != int64(i+1) {
			t.Errorf("open %d: %d runs recorded, want %d", i, st.Runs, i+1)
		}
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("-wal left after Close: %v", err)
	}
}

// TestMigrateFromVersion2 opens a database written by a version-2 authwatch
// (before runs.waited_ms): its runs come back with no waited time, and new
// runs keep theirs.
func TestMigrateFromVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authwatch.db")
	execSQL(t, path, migrations[0]+"\n"+migrations[1]+fmt.Sprintf(`
		INSERT INTO runs (flow, start_ns, duration_ms, ok, cancelled, reason, layer, summary, failed_step, warnings, steps)
			VALUES ('old', %d, 2500.5, 1, 0, '', '', 'ok', '', 0, NULL);
		PRAGMA application_id = %d; PRAGMA user_version = 2;`, at(0).UnixNano(), applicationID))
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("user_version = %d, %v; want %d", version, err, len(migrations))
	}
	ctx := context.Background()
	old, err := s.Runs(ctx, "old", 0)
	if err != nil || len(old) != 1 || old[0].DurationMS != 2500.5 || old[0].WaitedMS != 0 || !old[0].OK {
		t.Fatalf("version-2 run after the migration: %+v, %v", old, err)
	}
	in := sampleRun("old", 1)
	in.DurationMS, in.WaitedMS = 2100, 2000
	record(t, s, in)
	runs, err := s.Runs(ctx, "old", 1)
	if err != nil || len(runs) != 1 || runs[0].WaitedMS != 2000 || runs[0].DurationMS != 2100 {
		t.Errorf("new run after the migration: %+v, %v", runs, err)
	}
}

// execSQL runs one statement on the database at path with a plain connection.
func execSQL(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationBackfillsHourRollups: a database from before the history
// tiers gets hour roll-ups from its runs (counts and latency bounds, no
// histogram), so its pass rates do not start from nothing; new runs of
// the same hour add to them.
func TestMigrationBackfillsHourRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authwatch.db")
	var rows strings.Builder
	for i, r := range []struct {
		ok, cancelled bool
		ms            float64
	}{{true, false, 100}, {false, false, 300}, {true, true, 5}, {true, false, 200}} {
		fmt.Fprintf(&rows, `INSERT INTO runs (flow, start_ns, duration_ms, ok, cancelled, reason, layer, summary, failed_step, warnings, steps, waited_ms)
			VALUES ('old', %d, %g, %d, %d, '', '', '', '', 0, NULL, 0);`, at(i).UnixNano(), r.ms, b2i(r.ok), b2i(r.cancelled))
	}
	execSQL(t, path, strings.Join(migrations[:4], "\n")+rows.String()+fmt.Sprintf(`
		PRAGMA application_id = %d; PRAGMA user_version = 4;`, applicationID))
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ups, err := s.Rollups(ctx, "old", store.TierHour, time.Time{})
	if err != nil || len(ups) != 1 {
		t.Fatalf("hour roll-ups after the migration: %+v, %v", ups, err)
	}
	u := ups[0]
	if u.Runs != 4 || u.Passed != 2 || u.Failed != 1 || u.Cancelled != 1 || u.LatencySumMS != 600 ||
		u.LatencyMinMS != 100 || u.LatencyMaxMS != 300 || !u.Start.Equal(at(0).Truncate(time.Hour)) {
		t.Errorf("back-filled hour: %+v", u)
	}
	record(t, s, sampleRun("old", 5))
	if ups, err = s.Rollups(ctx, "old", store.TierHour, time.Time{}); err != nil || len(ups) != 1 || ups[0].Runs != 5 {
		t.Errorf("after a new run of the same hour: %+v, %v", ups, err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
