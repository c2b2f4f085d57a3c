package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestE2EPostgresStore: the real daemon on a real PostgreSQL
// (store.postgres, the DSN and the secret key from ${file:} references):
// its runs, flow states and the rotated refresh token are in the database
// (read back by another store on the same database), the status page and
// the API show the runs, and the DSN's password is in nothing the daemon
// shows.
func TestE2EPostgresStore(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	pg.CreateDatabase(t, "authwatch")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(api.Close)
	idp := &e2eCanaryIdP{clientID: "canary-client", secret: e2eRandom("cs-"), valid: map[string]bool{}}
	seed := e2eRandom("rt-seed-")
	idp.valid[seed] = true
	idpSrv := httptest.NewServer(idp)
	t.Cleanup(idpSrv.Close)

	// Trust authentication ignores the password: it is a canary here.
	password := e2eRandom("pw-canary-")
	dsn := pg.DSN("authwatch") + " password=" + password
	secretDir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(secretDir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dsnFile := write("pg_dsn", dsn)
	keyFile := write("pg_key", strings.Repeat("ab", 32))
	rotate := fmt.Sprintf(`name: rotate
every: 1s
steps:
  - id: refresh
    kind: refresh
    token_url: %q
    client_id: canary-client
    client_secret: ${file:%s}
    refresh_token: ${file:%s}
    persist: true
`, idpSrv.URL+"/token", write("client-secret", idp.secret), write("seed", seed))
	d := e2eStart(t, map[string]string{
		"up.yaml":     e2eHTTPFlow("up", "1s", api.URL+"/up", 200),
		"down.yaml":   e2eHTTPFlow("down", "1s", api.URL+"/down", 200),
		"rotate.yaml": rotate,
	}, e2eOptions{logLevel: "debug", configure: func(c *config.Config) {
		c.Store.Postgres = &config.PostgresConfig{DSN: conf.NewTemplate("${file:" + dsnFile + "}"),
			SecretKey: conf.NewTemplate("${file:" + keyFile + "}")}
	}})
	e2eWaitFor(t, 30*time.Second, "3 runs of every flow", func() bool {
		for _, f := range []string{"up", "down", "rotate"} {
			if st, ok := d.flowState(f); !ok || st.Runs < 3 {
				return false
			}
		}
		return true
	})

	// Another store on the same database sees what the daemon wrote.
	key, _ := postgres.ParseSecretKey(strings.Repeat("ab", 32))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for flow, ok := range map[string]bool{"up": true, "down": false, "rotate": true} {
		st, found, err := other.FlowState(ctx, flow)
		if err != nil || !found || st.OK != ok || st.Runs < 3 {
			t.Errorf("flow %s in PostgreSQL: %+v, %v, %v; want OK %v after 3 runs", flow, st, found, err, ok)
		}
		runs, err := other.Runs(ctx, flow, 0)
		if err != nil || len(runs) == 0 || runs[0].OK != ok {
			t.Errorf("runs of %s in PostgreSQL: %d, %v", flow, len(runs), err)
		}
	}
	if st, _, _ := other.FlowState(ctx, "rotate"); st.ConsecutivePasses < 3 {
		t.Errorf("rotate: %+v; want 3 passes in a row (each run used the token the previous one stored)", st)
	}
	stored, found, err := other.LoadSecret(ctx, "refresh_token/rotate/refresh")
	if err != nil || !found || !strings.HasPrefix(stored, "rt-canary-") {
		t.Errorf("the rotated refresh token in PostgreSQL: %v, %v (%d chars)", found, err, len(stored))
	}

	code, body := d.get("/api/v1/flows")
	var flows struct {
		Flows []struct{ Name, State string } `json:"flows"`
	}
	if err := json.Unmarshal([]byte(body), &flows); code != 200 || err != nil {
		t.Fatalf("/api/v1/flows: %d %v\n%s", code, err, body)
	}
	states := map[string]string{}
	for _, f := range flows.Flows {
		states[f.Name] = f.State
	}
	if states["up"] != "passing" || states["down"] != "failing" {
		t.Errorf("/api/v1/flows states %v; want up passing, down failing", states)
	}
	code, body = d.get("/api/v1/flows/down/runs")
	if code != 200 || !strings.Contains(body, `"reason"`) {
		t.Errorf("/api/v1/flows/down/runs: %d\n%s", code, body)
	}
	code, page := d.get("/")
	if code != 200 || !strings.Contains(page, "down") || !strings.Contains(page, "rotate") {
		t.Errorf("status page: %d, without the flows", code)
	}
	for what, text := range map[string]string{"log": d.log.String(), "/": page, "/metrics": d.metrics(), "runs": body} {
		if strings.Contains(text, password) {
			t.Errorf("the DSN's password is in the %s", what)
		}
	}
}

// TestPostgresWithoutSecretKeyRefusesPersist: on PostgreSQL without
// store.postgres.secret_key, a flow that persists rotated refresh tokens
// is refused at load, at its step, rather than failing the store at its
// first rotation.
func TestPostgresWithoutSecretKeyRefusesPersist(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "nokey")
	flowsDir := t.TempDir()
	e2eWrite(t, flowsDir, "rotate.yaml", `name: rotate
every: 1m
steps:
  - id: refresh
    kind: refresh
    token_url: http://127.0.0.1:1/token
    client_id: c
    client_auth: none
    refresh_token: seed
    persist: true
`)
	cfg := config.Default()
	cfg.StateDir, cfg.FlowsDir, cfg.Listen = filepath.Join(t.TempDir(), "state"), flowsDir, "127.0.0.1:0"
	cfg.Store.Postgres = &config.PostgresConfig{DSN: conf.NewTemplate(dsn)}
	m, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &e2eNotifier{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = m.Run(ctx, nil)
	want := filepath.Join(flowsDir, "rotate.yaml") + ":4:5: steps[0].persist: the state store is PostgreSQL without store.postgres.secret_key"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run: %v\nwant an error with %q", err, want)
	}
}

// TestE2EPostgresOneDaemonPerDatabase: a second daemon on the database of
// a running one, single or cluster node, refuses to start, naming the
// holder and never the DSN; a daemon whose lock connection dropped while
// another daemon took the lock cancels its runs in progress (their
// results discarded), runs no flow and says so on /readyz, and runs again
// once it has the lock back.
func TestE2EPostgresOneDaemonPerDatabase(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	pg.CreateDatabase(t, "single")
	password := e2eRandom("pw-canary-")
	dsn := pg.DSN("single") + " password=" + password
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(api.Close)
	usePostgres := func(cluster bool) func(*config.Config) {
		return func(c *config.Config) {
			c.Store.Postgres = &config.PostgresConfig{DSN: conf.NewTemplate(dsn)}
			c.Cluster.Enabled = cluster
		}
	}
	// hang's target holds every request until the client gives up: a run
	// in progress when the lock is lost must be cancelled, not left to
	// call on beside the daemon that took the lock.
	arrived, cancelled, release := make(chan struct{}, 100), make(chan struct{}, 100), make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
			select {
			case cancelled <- struct{}{}:
			default:
			}
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	releaseHang := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseHang)
	hangFlow := fmt.Sprintf("name: hang\nevery: 1s\ntimeout: 5m\nsteps:\n  - id: call\n    kind: http\n    url: %q\n    expect: {status: 200}\n", hang.URL)
	d := e2eStart(t, map[string]string{"up.yaml": e2eHTTPFlow("up", "1s", api.URL, 200), "hang.yaml": hangFlow}, e2eOptions{configure: usePostgres(false)})

	for _, cluster := range []bool{false, true} {
		cfg := config.Default()
		cfg.StateDir, cfg.FlowsDir, cfg.Listen = filepath.Join(t.TempDir(), "state"), t.TempDir(), "127.0.0.1:0"
		usePostgres(cluster)(cfg)
		m, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &e2eNotifier{})
		if err == nil {
			_ = m.closeState()
			t.Fatalf("a second daemon (cluster %v) started on the database of a running one", cluster)
		}
		if msg := err.Error(); !strings.Contains(msg, `another authwatch daemon uses this database (held by "authwatch single `) ||
			strings.Contains(msg, password) || strings.Contains(msg, dsn) {
			t.Errorf("second daemon (cluster %v): %v", cluster, err)
		}
	}

	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("hang's first run made no request")
	}

	// The lock's connection drops, and another daemon takes the lock.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var taken *postgres.InstanceLock
	for try := 0; taken == nil && try < 5; try++ { // the daemon may take it back in between
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'authwatch single %'`); err != nil {
			t.Fatal(err)
		}
		taken, _ = other.LockInstance(ctx, false)
	}
	if taken == nil {
		t.Fatal("could not take the lock from the daemon")
	}
	e2eWaitFor(t, time.Minute, "/readyz 503 for the lost lock", func() bool {
		code, body := d.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "instance lock lost")
	})
	select {
	case <-cancelled: // within a lock check (10 s), long before its 5 min timeout
	case <-time.After(time.Minute):
		t.Fatal("the run in progress when the lock was lost was not cancelled")
	}
	if st, _ := d.flowState("hang"); st.Runs != 0 {
		t.Errorf("the cancelled run was recorded: %+v", st)
	}
	releaseHang() // its runs once the lock is back answer at once
	before, _ := d.flowState("up")
	if err := taken.Release(); err != nil {
		t.Fatal(err)
	}
	e2eWaitFor(t, time.Minute, "/readyz 200 with the lock back", func() bool {
		code, _ := d.get("/readyz")
		return code == http.StatusOK
	})
	e2eWaitFor(t, time.Minute, "runs again", func() bool {
		st, _ := d.flowState("up")
		return st.Runs > before.Runs+1
	})
	for _, line := range []string{"instance lock on the PostgreSQL database lost", "runs in progress cancelled: instance lock lost", "run of hang cancelled: instance lock lost"} {
		if !strings.Contains(d.log.String(), line) {
			t.Errorf("%q is not in the log:\n%s", line, d.log.String())
		}
	}
}
