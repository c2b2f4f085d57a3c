package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postgresBinDirs are where Debian's postgresql packages put initdb and
// pg_ctl (not on PATH), newest first.
var postgresBinDirs = []string{"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"}

// PostgresServer is a throw-away PostgreSQL cluster started by Postgres. It
// listens on a unix socket in its own directory only (no TCP port, so no
// port conflicts) and trusts local connections of the user it was created
// with.
type PostgresServer struct {
	Dir     string // holds data/ (the cluster) and the socket
	User    string // the database superuser, "authwatch"
	binDir  string
	runAs   string // the OS user the server runs as ("" for the test's own)
	dataDir string
}

// DSN returns a connection string for database db (created on demand with
// CreateDatabase; "postgres" always exists) over the unix socket.
func (p *PostgresServer) DSN(db string) string {
	return fmt.Sprintf("host=%s user=%s dbname=%s sslmode=disable", p.Dir, p.User, db)
}

// URL returns the DSN of db as a postgres:// URL (the form
// `authwatch store migrate --to postgres:URL` takes).
func (p *PostgresServer) URL(db string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&sslmode=disable", p.User, db, p.Dir)
}

// CreateDatabase creates a fresh database named db, so that the tests of one
// server do not share tables.
func (p *PostgresServer) CreateDatabase(t testing.TB, db string) string {
	t.Helper()
	p.run(t, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", p.Dir, "-U", p.User, "-d", "postgres",
		"-c", fmt.Sprintf(`CREATE DATABASE %q`, db))
	return p.DSN(db)
}

// Postgres starts a PostgreSQL cluster for the test (initdb and pg_ctl from
// Debian's postgresql package) and stops it in Cleanup (pg_ctl stop -m fast).
// initdb refuses to run as root: as root, the cluster is created and run as
// the postgres user (or nobody), in a directory that user owns. Without
// initdb the test is skipped, or fails when CI is set.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	binDir := postgresBinDir()
	if binDir == "" {
		unavailable(t, "initdb not found in %s; install it with: apt-get install postgresql", strings.Join(postgresBinDirs, ", "))
	}
	p := &PostgresServer{User: "authwatch", binDir: binDir}
	if os.Geteuid() == 0 {
		p.runAs = postgresOSUser(t)
	}
	// Not t.TempDir(): its parent is 0700 root, which the postgres user
	// cannot enter. A short path, too: a unix socket path has 107 bytes.
	dir, err := os.MkdirTemp("", "awpg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p.Dir, p.dataDir = dir, filepath.Join(dir, "data")
	if p.runAs != "" {
		u, err := user.Lookup(p.runAs)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	p.run(t, filepath.Join(binDir, "initdb"), "-D", p.dataDir, "-U", p.User, "--auth=trust",
		"--no-sync", "--encoding=UTF8", "--locale=C")
	logFile := filepath.Join(dir, "server.log")
	// fsync stays on (the default): the store's durability is part of what
	// is tested. listen_addresses='' serves the socket in dir only.
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -c max_connections=50", dir)
	p.run(t, filepath.Join(binDir, "pg_ctl"), "-D", p.dataDir, "-l", logFile, "-o", opts, "-w", "-t", "60", "start")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log:\n%s", readTail(logFile))
		}
		p.run(t, filepath.Join(binDir, "pg_ctl"), "-D", p.dataDir, "-m", "fast", "-w", "-t", "60", "stop")
	})
	return p
}

// Stop stops the server (pg_ctl stop -m fast), e.g. to see a store fail;
// Start starts it again. Cleanup stops it in any case.
func (p *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	p.run(t, filepath.Join(p.binDir, "pg_ctl"), "-D", p.dataDir, "-m", "fast", "-w", "-t", "60", "stop")
}

// run runs a PostgreSQL tool as the server's OS user and fails the test
// with its output when it fails.
func (p *PostgresServer) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if !filepath.IsAbs(name) {
		name = filepath.Join(p.binDir, name)
	}
	cmd := exec.Command(name, args...)
	if p.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.runAs, "--", name}, args...)...)
	}
	cmd.Dir = p.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group: a ^C of the test does not reach the server
	// before Cleanup stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: %s: %v", filepath.Base(name), err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("testenv: %s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("testenv: %s did not finish in 2 minutes\n%s", filepath.Base(name), out.String())
	}
}

func postgresBinDir() string {
	for _, d := range postgresBinDirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// postgresOSUser is the unprivileged user a root test runs PostgreSQL as.
func postgresOSUser(t testing.TB) string {
	for _, name := range []string{"postgres", "nobody"} {
		if _, err := user.Lookup(name); err == nil {
			return name
		}
	}
	unavailable(t, "running as root and neither a postgres nor a nobody user exists: initdb refuses to run as root")
	return ""
}
