package testenv

import (
	"os"
	"path/filepath"
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
