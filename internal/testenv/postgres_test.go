package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Postgres starts a server on a unix socket in its own directory, creates
// databases on it, and Cleanup stops it.
func TestPostgres(t *testing.T) {
	var dir string
	t.Run("server", func(t *testing.T) {
		p := Postgres(t)
		dir = p.Dir
		dsn := p.CreateDatabase(t, "first")
		if !strings.Contains(dsn, "host="+p.Dir) || !strings.Contains(dsn, "dbname=first") {
			t.Errorf("DSN %q", dsn)
		}
		if _, err := os.Stat(filepath.Join(p.Dir, ".s.PGSQL.5432")); err != nil {
			t.Errorf("no socket in the server's directory: %v", err)
		}
	})
	if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
		t.Error("the server still runs after Cleanup")
	}
}

// StartPostgres starts a server with the settings asked (here the
// pg_stat_statements library the cluster benchmark counts queries with)
// outside a test's Cleanup; Close stops it and removes its directory.
func TestStartPostgres(t *testing.T) {
	if postgresBinDir() == "" {
		unavailable(t, "initdb not found in %s", strings.Join(postgresBinDirs, ", "))
	}
	p, err := StartPostgres(PostgresOptions{MaxConnections: 60, Settings: []string{"shared_preload_libraries=pg_stat_statements"}})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = p.Close()
		}
	}()
	if err := p.Psql("postgres", "CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Errorf("pg_stat_statements not loaded: %v", err)
	}
	if err := p.Psql("postgres", "DO $$ BEGIN IF current_setting('max_connections') <> '60' THEN RAISE 'max_connections %', current_setting('max_connections'); END IF; END $$"); err != nil {
		t.Error(err)
	}
	pid, err := p.PostmasterPID()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
		t.Errorf("postmaster %d: %v", pid, err)
	}
	if err := p.Psql("postgres", "SELECT nonsense"); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("a failing statement: %v; want its error", err)
	}
	closed = true
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Errorf("%s after Close: %v; want it removed", p.Dir, err)
	}
}
