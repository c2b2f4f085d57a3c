package testenv

import (
	"path/filepath"
	"testing"
)

// Restart restarts the server (pg_ctl restart -m fast, with the options it
// was started with): every session ends, as at a PostgreSQL upgrade or a
// failover of the database, and the server accepts connections again when
// Restart returns.
func (p *PostgresServer) Restart(t testing.TB) {
	t.Helper()
	p.run(t, filepath.Join(p.binDir, "pg_ctl"), "-D", p.dataDir, "-l", filepath.Join(p.Dir, "server.log"),
		"-m", "fast", "-w", "-t", "60", "restart")
}
