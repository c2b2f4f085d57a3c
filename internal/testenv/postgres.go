package testenv

import (
	"bytes"
	"errors"
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

// Psql runs sql on database db as the superuser (psql -c, stopping at the
// first error), for a program that has no test to fail.
func (p *PostgresServer) Psql(db, sql string) error {
	return p.exec("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", p.Dir, "-U", p.User, "-d", db, "-c", sql)
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
	runAs := ""
	if os.Geteuid() == 0 {
		if runAs = postgresOSUser(); runAs == "" {
			unavailable(t, "running as root and neither a postgres nor a nobody user exists: initdb refuses to run as root")
		}
	}
	p, err := startPostgres(binDir, runAs, PostgresOptions{})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(p.Dir) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log:\n%s", readTail(p.logFile()))
		}
		p.run(t, filepath.Join(binDir, "pg_ctl"), "-D", p.dataDir, "-m", "fast", "-w", "-t", "60", "stop")
	})
	return p
}

// PostgresOptions are what StartPostgres adds to the server's settings.
type PostgresOptions struct {
	// MaxConnections is max_connections; 0 is 50, as for tests.
	MaxConnections int
	// Settings are further server settings, "name=value" each (passed as
	// -c name=value), e.g. "shared_preload_libraries=pg_stat_statements".
	Settings []string
}

// StartPostgres starts a throw-away server like Postgres, for a program
// rather than a test (a benchmark): errors are returned, and Close stops the
// server and removes its directory.
func StartPostgres(o PostgresOptions) (*PostgresServer, error) {
	binDir := postgresBinDir()
	if binDir == "" {
		return nil, fmt.Errorf("initdb not found in %s; install it with: apt-get install postgresql", strings.Join(postgresBinDirs, ", "))
	}
	runAs := ""
	if os.Geteuid() == 0 {
		if runAs = postgresOSUser(); runAs == "" {
			return nil, errors.New("running as root and neither a postgres nor a nobody user exists: initdb refuses to run as root")
		}
	}
	return startPostgres(binDir, runAs, o)
}

// Close stops a server of StartPostgres (pg_ctl stop -m fast) and removes
// its directory, also when the stop fails.
func (p *PostgresServer) Close() error {
	err := p.exec(filepath.Join(p.binDir, "pg_ctl"), "-D", p.dataDir, "-m", "fast", "-w", "-t", "60", "stop")
	if rmErr := os.RemoveAll(p.Dir); err == nil {
		err = rmErr
	}
	return err
}

// PostmasterPID is the server's main process (the first line of
// postmaster.pid); the backends are its children.
func (p *PostgresServer) PostmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(p.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// LogTail is the end of the server's log.
func (p *PostgresServer) LogTail() string { return readTail(p.logFile()) }

func (p *PostgresServer) logFile() string { return filepath.Join(p.Dir, "server.log") }

// startPostgres creates and starts a cluster in a new temporary directory,
// run as the OS user runAs ("" for this process's own); on an error nothing
// is left running and the directory is removed.
func startPostgres(binDir, runAs string, o PostgresOptions) (_ *PostgresServer, err error) {
	p := &PostgresServer{User: "authwatch", binDir: binDir, runAs: runAs}
	// Not t.TempDir(): its parent is 0700 root, which the postgres user
	// cannot enter. A short path, too: a unix socket path has 107 bytes.
	dir, err := os.MkdirTemp("", "awpg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	p.Dir, p.dataDir = dir, filepath.Join(dir, "data")
	if p.runAs != "" {
		u, err := user.Lookup(p.runAs)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := p.exec(filepath.Join(binDir, "initdb"), "-D", p.dataDir, "-U", p.User, "--auth=trust",
		"--no-sync", "--encoding=UTF8", "--locale=C"); err != nil {
		return nil, err
	}
	maxConns := o.MaxConnections
	if maxConns == 0 {
		maxConns = 50
	}
	// fsync stays on (the default): the store's durability is part of what
	// is tested. listen_addresses='' serves the socket in dir only.
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -c max_connections=%d", dir, maxConns)
	for _, s := range o.Settings {
		opts += " -c " + s
	}
	if err := p.exec(filepath.Join(binDir, "pg_ctl"), "-D", p.dataDir, "-l", p.logFile(), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, readTail(p.logFile()))
	}
	return p, nil
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
	if err := p.exec(name, args...); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// exec runs a PostgreSQL tool as the server's OS user, at most 2 minutes;
// its error carries the tool's output.
func (p *PostgresServer) exec(name string, args ...string) error {
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
		return fmt.Errorf("%s: %v", filepath.Base(name), err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
		}
		return nil
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill() // the tool this function started, by its pid
		<-done
		return fmt.Errorf("%s did not finish in 2 minutes\n%s", filepath.Base(name), out.String())
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

// postgresOSUser is the unprivileged user a root process runs PostgreSQL
// as, or "" when there is none.
func postgresOSUser() string {
	for _, name := range []string{"postgres", "nobody"} {
		if _, err := user.Lookup(name); err == nil {
			return name
		}
	}
	return ""
}
