package main

// End-to-end tests of `authwatch run` as a real process: SIGTERM lets a
// running flow finish, SIGKILL at random moments never hurts the store, and a
// refresh token the IdP rotated survives a crash. The binary is built once
// (plain, without -race) into the parent test's temporary directory.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/daemon"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestRunProcess runs `authwatch run` as a subprocess.
func TestRunProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authwatch binary; skipped with -short")
	}
	bin := rnBuild(t)
	t.Run("SIGTERM lets the running flow finish", func(t *testing.T) { t.Parallel(); rnTestSIGTERM(t, bin) })
	t.Run("SIGHUP reloads", func(t *testing.T) { t.Parallel(); rnTestSIGHUP(t, bin) })
	t.Run("SIGKILL at random moments", func(t *testing.T) { t.Parallel(); rnTestSIGKILL(t, bin) })
	t.Run("rotated refresh token survives a crash", func(t *testing.T) { t.Parallel(); rnTestRotatedRefreshToken(t, bin) })
}

func rnBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goBin, err = filepath.Join(os.Getenv("GOROOT"), "bin", "go"), nil
	}
	if err != nil {
		t.Fatalf("no go command to build authwatch with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "authwatch")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// rnBuf is a goroutine-safe output buffer.
type rnBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *rnBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *rnBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// rnProc is one `authwatch run` process.
type rnProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *rnBuf
	exited chan struct{}
	base   string // http://127.0.0.1:PORT once started
}

var rnListen = regexp.MustCompile(`msg="authwatch started".*? listen=(127\.0\.0\.1:\d+)`)

// rnSetup writes a configuration file and the flow files into a new
// directory and returns the configuration's path and the state directory.
func rnSetup(t *testing.T, stateDir string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows.d")
	if err := os.Mkdir(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(flowsDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "authwatch.yaml")
	content := fmt.Sprintf("state_dir: %q\nlisten: 127.0.0.1:0\nflows_dir: %q\nwatch: false\n", stateDir, flowsDir)
	if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rnStart starts `authwatch run --config cfg` with env added to the
// environment (systemd's variables removed). Unless waitStarted is false it
// returns once the daemon logged "authwatch started" (failing the test if it
// does not within 15s). Cleanup SIGKILLs the process if it still runs.
func rnStart(t *testing.T, bin, cfg string, env map[string]string, waitStarted bool) *rnProc {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfg, "--log-level", "debug")
	p := rnSpawn(t, cmd, env)
	if waitStarted {
		p.waitStarted()
	}
	return p
}

// rnStartCmd starts an `authwatch run` command line of the caller's and
// waits for it to start.
func rnStartCmd(t *testing.T, cmd *exec.Cmd) *rnProc {
	t.Helper()
	p := rnSpawn(t, cmd, nil)
	p.waitStarted()
	return p
}

// rnSpawn starts cmd with env added to the environment (systemd's variables
// removed); cleanup SIGKILLs it if it still runs.
func rnSpawn(t *testing.T, cmd *exec.Cmd, env map[string]string) *rnProc {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "NOTIFY_SOCKET" && k != "WATCHDOG_USEC" && k != "WATCHDOG_PID" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &rnProc{t: t, cmd: cmd, out: &rnBuf{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill() // the process we started, by its pid
			<-p.exited
		}
	})
	return p
}

func (p *rnProc) waitStarted() {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := rnListen.FindStringSubmatch(p.out.String()); m != nil {
			p.base = "http://" + m[1]
			return
		}
		select {
		case <-p.exited:
			p.t.Fatalf("authwatch run exited before it started (%v); output:\n%s", p.cmd.ProcessState, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("authwatch run did not start within 15s; output:\n%s", p.out.String())
		}
	}
}

// stop sends sig and waits up to timeout for the exit.
func (p *rnProc) stop(sig syscall.Signal, timeout time.Duration) (*os.ProcessState, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.exited:
		return p.cmd.ProcessState, time.Since(start)
	case <-time.After(timeout):
		p.t.Fatalf("authwatch run did not exit within %s of %v; output:\n%s", timeout, sig, p.out.String())
		return nil, 0
	}
}

func (p *rnProc) metrics() string {
	p.t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.base + "/metrics")
	if err != nil {
		p.t.Fatalf("GET /metrics: %v\noutput:\n%s", err, p.out.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// rnMetric returns the value of the sample name{labels} (labels in the
// exposition's order), 0 if absent.
func rnMetric(body, name, labels string) float64 {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if key, val, ok := strings.Cut(sc.Text(), " "); ok && key == want {
			f, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
			return f
		}
	}
	return 0
}

func rnWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rnOpenStore opens the state store of a stopped daemon; cleanup closes it.
func rnOpenStore(t *testing.T, stateDir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(stateDir, "authwatch.db"))
	if err != nil {
		t.Fatalf("opening the store after the daemon stopped: %v", err)
	}
	return st
}

func rnRuns(t *testing.T, st store.Store, flow string) []store.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := st.Runs(ctx, flow, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func rnState(t *testing.T, st store.Store, flow string) (store.FlowState, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, ok, err := st.FlowState(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	return s, ok
}

// rnCheckModes: the database and its WAL files are 0600, the directory 0700
// (the secrets table holds refresh tokens).
func rnCheckModes(t *testing.T, stateDir string) {
	t.Helper()
	if fi, err := os.Stat(stateDir); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", fi.Mode().Perm())
	}
	for _, name := range []string{"authwatch.db", "authwatch.db-wal", "authwatch.db-shm"} {
		fi, err := os.Stat(filepath.Join(stateDir, name))
		if errors.Is(err, os.ErrNotExist) && name != "authwatch.db" {
			continue
		}
		if err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

// 3. SIGTERM: the run in progress finishes and is recorded, the process
// logs "authwatch stopping" and exits 0 within the grace period.
func rnTestSIGTERM(t *testing.T, bin string) {
	var started, finished atomic.Int32
	inFlight := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		select {
		case inFlight <- struct{}{}:
		default:
		}
		time.Sleep(time.Second)
		finished.Add(1)
	}))
	t.Cleanup(srv.Close)
	stateDir := filepath.Join(t.TempDir(), "state")
	cfg := rnSetup(t, stateDir, map[string]string{"slow.yaml": fmt.Sprintf(`name: slow
every: 1s
timeout: 10s
steps:
  - id: call
    kind: http
    url: %q
`, srv.URL+"/slow")})
	p := rnStart(t, bin, cfg, nil, true)
	select {
	case <-inFlight:
	case <-time.After(5 * time.Second):
		t.Fatalf("the slow flow did not run within 5s; output:\n%s", p.out.String())
	}
	time.Sleep(300 * time.Millisecond) // well inside the 1s request
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// While the run in progress finishes, the daemon is not ready.
	readyz := -1
	for i := 0; i < 20 && readyz != http.StatusServiceUnavailable && time.Since(signalled) < 500*time.Millisecond; i++ {
		if resp, err := (&http.Client{Timeout: time.Second}).Get(p.base + "/readyz"); err == nil {
			readyz = resp.StatusCode
			resp.Body.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if readyz != http.StatusServiceUnavailable {
		t.Errorf("/readyz while stopping (a run still in progress): %d, want 503", readyz)
	}
	state, took := p.stop(syscall.SIGTERM, daemon.StopGrace)
	out := p.out.String()
	if state.ExitCode() != 0 {
		t.Errorf("exit status after SIGTERM: %v, want 0; output:\n%s", state, out)
	}
	if took > 5*time.Second {
		t.Errorf("exited %s after SIGTERM; the run in progress needed under 1s", took)
	}
	if !strings.Contains(out, `msg="authwatch stopping"`) {
		t.Errorf("no \"authwatch stopping\" in the log:\n%s", out)
	}
	if s, f := started.Load(), finished.Load(); s != f {
		t.Errorf("the backend started %d requests and finished %d", s, f)
	}
	st := rnOpenStore(t, stateDir)
	defer st.Close()
	runs := rnRuns(t, st, "slow")
	if len(runs) == 0 {
		t.Fatalf("no run recorded; output:\n%s", out)
	}
	last := runs[0]
	end := last.Start.Add(time.Duration(last.DurationMS * float64(time.Millisecond)))
	if !last.OK || last.Cancelled || !last.Start.Before(signalled) || !end.After(signalled) {
		t.Errorf("the last run %+v (ends %s) should be the one in progress at SIGTERM (%s), passed and not cancelled",
			last, end.Format(time.StampMilli), signalled.Format(time.StampMilli))
	}
	if s, _ := rnState(t, st, "slow"); s.Runs != int64(len(runs)) || !s.OK {
		t.Errorf("state %+v, %d runs in the history", s, len(runs))
	}
}

// 4. SIGKILL at random moments: the daemon always starts again, the store
// opens cleanly (integrity_check ok), history and state always agree (a run
// and its state change are one transaction), run counts only grow, and the
// flows' state (streaks, since) survives.
func rnTestSIGKILL(t *testing.T, bin string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := demo.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	issuer, api := env.IdP.Issuer(), env.API.URL()
	files := map[string]string{
		"discovery.yaml": fmt.Sprintf("name: crash-discovery\nevery: 1s\nsteps:\n  - id: oidc\n    kind: discovery\n    issuer: %q\n", issuer),
		"orders.yaml": fmt.Sprintf(`name: crash-orders
every: 1s
steps:
  - id: token
    kind: client_credentials
    issuer: %q
    client_id: %s
    client_secret: ${env:CRASH_ORDERS_SECRET}
    scopes: [orders.read]
    expect: {access_token: {audience: [%s]}}
  - id: list
    kind: http
    url: %q
    auth: {bearer: "${steps.token.access_token}", audience: %s}
    expect: {status: 200}
`, issuer, idp.OrdersClientID, idp.OrdersAudience, api+"/orders", idp.OrdersAudience),
		"noauth.yaml": fmt.Sprintf("name: crash-requires-auth\nevery: 1s\nsteps:\n  - id: no_token\n    kind: http\n    url: %q\n    expect: {status: 401, challenge: Bearer}\n", api+"/orders"),
	}
	flowNames := []string{"crash-discovery", "crash-orders", "crash-requires-auth"}
	stateDir := filepath.Join(t.TempDir(), "state")
	cfg := rnSetup(t, stateDir, files)
	procEnv := map[string]string{"CRASH_ORDERS_SECRET": idp.OrdersClientSecret}

	seed := uint64(time.Now().UnixNano())
	rng := mrand.New(mrand.NewPCG(seed, 0))
	t.Logf("random seed %d", seed)

	prev := map[string]store.FlowState{}
	check := func(round string) {
		t.Helper()
		path := filepath.Join(stateDir, "authwatch.db")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return // killed before the store was created
		}
		st := rnOpenStore(t, stateDir)
		defer st.Close()
		for _, f := range flowNames {
			s, ok := rnState(t, st, f)
			runs := rnRuns(t, st, f)
			if !ok {
				if len(prev[f].Flow) > 0 || len(runs) > 0 {
					t.Errorf("%s: %s lost its state (%d runs in the history)", round, f, len(runs))
				}
				continue
			}
			if int64(len(runs)) != s.Runs {
				t.Errorf("%s: %s has %d runs in the history but its state counts %d", round, f, len(runs), s.Runs)
			}
			if p := prev[f]; s.Runs < p.Runs {
				t.Errorf("%s: %s's run count went down from %d to %d", round, f, p.Runs, s.Runs)
			}
			if p := prev[f]; p.Flow != "" && !p.Since.IsZero() && !s.Since.Equal(p.Since) {
				t.Errorf("%s: %s's state changed since %s to %s: a flow that always passes keeps its streak", round, f, p.Since, s.Since)
			}
			for _, r := range runs {
				if !r.OK && !r.Cancelled {
					t.Errorf("%s: %s failed: %s %s", round, f, r.Reason, r.Summary)
					break
				}
			}
			prev[f] = s
		}
		_ = st.Close()
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var res string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
			t.Errorf("%s: integrity_check: %q %v", round, res, err)
		}
	}

	const rounds = 10
	for i := range rounds + 2 {
		round := fmt.Sprintf("round %d", i+1)
		var p *rnProc
		var delay time.Duration
		if i < rounds {
			// Started (it always is), then killed 300-1500 ms later.
			p = rnStart(t, bin, cfg, procEnv, true)
			delay = time.Duration(300+rng.IntN(1201)) * time.Millisecond
		} else {
			// Two more, killed 0-150 ms after exec: inside the store's
			// opening or migration.
			p = rnStart(t, bin, cfg, procEnv, false)
			delay = time.Duration(rng.IntN(151)) * time.Millisecond
		}
		time.Sleep(delay)
		state, _ := p.stop(syscall.SIGKILL, 10*time.Second)
		if ws, ok := state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("%s: the process ended with %v before SIGKILL; output:\n%s", round, state, p.out.String())
		}
		check(fmt.Sprintf("%s (killed after %s)", round, delay))
		if out := p.out.String(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
			t.Errorf("%s: the daemon logged a problem after the previous crash:\n%s", round, out)
		}
		if t.Failed() {
			t.Fatalf("stopping after %s; last output:\n%s", round, p.out.String())
		}
	}
	total := int64(0)
	for _, s := range prev {
		total += s.Runs
	}
	t.Logf("%d runs recorded over %d killed processes", total, rounds+2)
	if total < 5 {
		t.Errorf("only %d runs recorded in %d rounds", total, rounds)
	}

	// Finally it starts once more, goes on counting, and stops cleanly.
	p := rnStart(t, bin, cfg, procEnv, true)
	rnWaitFor(t, 10*time.Second, "two more runs of crash-orders", func() bool {
		return rnMetric(p.metrics(), "authwatch_flow_runs_total", `flow="crash-orders",reason="",result="pass"`) >= 2
	})
	if state, _ := p.stop(syscall.SIGTERM, daemon.StopGrace); state.ExitCode() != 0 {
		t.Errorf("exit status %v after SIGTERM", state)
	}
	before := prev["crash-orders"].Runs
	check("after the last clean stop")
	if prev["crash-orders"].Runs < before+2 {
		t.Errorf("crash-orders: %d runs after the last start, want >= 2", prev["crash-orders"].Runs-before)
	}
	rnCheckModes(t, stateDir)
}

// rnLogin signs alice in at the oidc-provider with the authorization code
// grant and PKCE (app-client), and returns the refresh token.
func rnLogin(t *testing.T, p *testenv.NodeIdP) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	verifier := base64.RawURLEncoding.EncodeToString(buf)
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://127.0.0.1:49152/callback"
	q := url.Values{"client_id": {"app-client"}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"openid offline_access"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "state": {"s1"}}
	resp, err := browser.Get(p.URL + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`<form[^>]*action="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form (status %d):\n%s", resp.StatusCode, page)
	}
	resp, err = browser.PostForm(p.URL+html.UnescapeString(string(m[1])), url.Values{"login": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := resp.Location()
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("after login: status %d, location %v (%v)", resp.StatusCode, cb, err)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app-client", "app-secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.RefreshToken == "" {
		t.Fatalf("code exchange: status %d, %v", resp.StatusCode, err)
	}
	return tok.RefreshToken
}

func rnRefreshFlow(name, issuer string, persist bool) string {
	return fmt.Sprintf(`name: %s
every: 1s
steps:
  - id: refresh
    kind: refresh
    issuer: %q
    client_id: app-client
    client_secret: ${env:RN_APP_SECRET}
    refresh_token: ${env:SEED_RT}
    persist: %v
`, name, issuer, persist)
}

// 5. With persist, the refresh token the IdP rotated in is kept in the store:
// after SIGKILL, a restart with the same (now rotated-out) seed goes on
// passing. Without persist, the seed is reused and the IdP refuses it.
func rnTestRotatedRefreshToken(t *testing.T, bin string) {
	op := testenv.NodeOIDCProvider(t, nil)
	const appSecret = "app-secret"
	const key = "refresh_token/rt-persist/refresh"
	seed := rnLogin(t, op)
	stateDir := filepath.Join(t.TempDir(), "state")
	cfg := rnSetup(t, stateDir, map[string]string{"rt.yaml": rnRefreshFlow("rt-persist", op.Issuer, true)})
	env := map[string]string{"SEED_RT": seed, "RN_APP_SECRET": appSecret}
	passes := func(p *rnProc, flow string) float64 {
		return rnMetric(p.metrics(), "authwatch_flow_runs_total", `flow="`+flow+`",reason="",result="pass"`)
	}
	var outputs []string

	// First life: at least two refreshes, then SIGKILL right after a run
	// was recorded (the next one is a second away).
	p := rnStart(t, bin, cfg, env, true)
	rnWaitFor(t, 10*time.Second, "two passing refreshes", func() bool { return passes(p, "rt-persist") >= 2 })
	p.stop(syscall.SIGKILL, 10*time.Second)
	outputs = append(outputs, p.out.String())
	st := rnOpenStore(t, stateDir)
	stored1, ok, err := st.LoadSecret(context.Background(), key)
	if err != nil || !ok || stored1 == "" || stored1 == seed {
		t.Fatalf("after two refreshes the store holds no rotated token (ok %v, err %v, same as the seed %v)", ok, err, stored1 == seed)
	}
	s1, _ := rnState(t, st, "rt-persist")
	_ = st.Close()
	if !s1.OK || s1.ConsecutivePasses < 2 {
		t.Fatalf("state after the first life: %+v", s1)
	}

	// Second life with the same, now dead, seed: the stored token is used.
	p = rnStart(t, bin, cfg, env, true)
	rnWaitFor(t, 10*time.Second, "two passing refreshes after the restart", func() bool { return passes(p, "rt-persist") >= 2 })
	if state, _ := p.stop(syscall.SIGTERM, daemon.StopGrace); state.ExitCode() != 0 {
		t.Errorf("exit status %v after SIGTERM", state)
	}
	outputs = append(outputs, p.out.String())
	st = rnOpenStore(t, stateDir)
	stored2, _, _ := st.LoadSecret(context.Background(), key)
	s2, _ := rnState(t, st, "rt-persist")
	runs := rnRuns(t, st, "rt-persist")
	_ = st.Close()
	if stored2 == stored1 || stored2 == seed {
		t.Errorf("the stored refresh token did not rotate in the second life")
	}
	if !s2.OK || !s2.Since.Equal(s1.Since) || s2.ConsecutivePasses < s1.ConsecutivePasses+2 {
		t.Errorf("state after the restart %+v, before %+v: want the passing streak to go on", s2, s1)
	}
	for _, r := range runs {
		if !r.OK {
			t.Errorf("rt-persist failed at %s: %s %s", r.Start.Format(time.StampMilli), r.Reason, r.Summary)
		}
	}
	rnCheckModes(t, stateDir)

	// Without persist, in a short separate run with a fresh grant: the
	// first refresh rotates the seed out, the next one presents it again.
	seed2 := rnLogin(t, op)
	plainState := filepath.Join(t.TempDir(), "state")
	cfg = rnSetup(t, plainState, map[string]string{"rt.yaml": rnRefreshFlow("rt-plain", op.Issuer, false)})
	p = rnStart(t, bin, cfg, map[string]string{"SEED_RT": seed2, "RN_APP_SECRET": appSecret}, true)
	rnWaitFor(t, 10*time.Second, "rt-plain to fail with refresh_token_rejected", func() bool {
		return rnMetric(p.metrics(), "authwatch_flow_runs_total", `flow="rt-plain",reason="refresh_token_rejected",result="fail"`) >= 1
	})
	if state, _ := p.stop(syscall.SIGTERM, daemon.StopGrace); state.ExitCode() != 0 {
		t.Errorf("exit status %v after SIGTERM", state)
	}
	outputs = append(outputs, p.out.String())
	st = rnOpenStore(t, plainState)
	runs = rnRuns(t, st, "rt-plain")
	if _, ok, _ := st.LoadSecret(context.Background(), "refresh_token/rt-plain/refresh"); ok {
		t.Errorf("without persist a refresh token was stored")
	}
	_ = st.Close()
	if n := len(runs); n < 2 || !runs[n-1].OK || runs[0].OK || runs[0].Reason != "refresh_token_rejected" {
		for _, r := range runs {
			t.Logf("rt-plain run %s ok=%v %s %s", r.Start.Format(time.StampMilli), r.OK, r.Reason, r.Summary)
		}
		t.Errorf("without persist: want a first pass, then refresh_token_rejected")
	}

	// No refresh token nor the client secret in any log.
	for i, out := range outputs {
		for _, s := range []string{seed, seed2, stored1, stored2, appSecret} {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("the log of run %d contains a secret (%.6s...)", i+1, s)
			}
		}
	}
}

// TestRunRefusesBrokenFlows: `authwatch run` on flows that do not load exits
// 2 at once, naming file:line:column; nothing is listening afterwards.
func TestRunRefusesBrokenFlows(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	cfg := rnSetup(t, stateDir, map[string]string{"bad.yaml": "name: bad\nevery: 1s\nsteps:\n  - id: x\n    kind: teleport\n"})
	var stdout, stderr rnBuf
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := run(ctx, []string{"run", "--config", cfg}, &stdout, &stderr)
	if code != exitInvalid {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, exitInvalid, stderr.String())
	}
	if !strings.Contains(stderr.String(), "bad.yaml:5:11") || !strings.Contains(stderr.String(), "teleport") {
		t.Errorf("stderr does not point at bad.yaml:5:11:\n%s", stderr.String())
	}
}

// SIGHUP reloads the flows directory (watch is off in these tests): a broken
// file is rejected with its position and the process goes on; once fixed,
// the new flow runs.
func rnTestSIGHUP(t *testing.T, bin string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	stateDir := filepath.Join(t.TempDir(), "state")
	flow := func(name string) string {
		return fmt.Sprintf("name: %s\nevery: 1s\nsteps:\n  - id: call\n    kind: http\n    url: %q\n", name, srv.URL+"/"+name)
	}
	cfg := rnSetup(t, stateDir, map[string]string{"a.yaml": flow("hup-a")})
	flowsDir := filepath.Join(filepath.Dir(cfg), "flows.d")
	p := rnStart(t, bin, cfg, nil, true)
	passes := func(flow string) float64 {
		return rnMetric(p.metrics(), "authwatch_flow_runs_total", `flow="`+flow+`",reason="",result="pass"`)
	}
	rnWaitFor(t, 5*time.Second, "a run of hup-a", func() bool { return passes("hup-a") >= 1 })
	if err := os.WriteFile(filepath.Join(flowsDir, "b.yaml"), []byte("name: hup-b\nevery: 1s\nsteps: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rnWaitFor(t, 5*time.Second, "the rejected reload", func() bool {
		return rnMetric(p.metrics(), "authwatch_config_reloads_total", `result="failure"`) >= 1
	})
	if out := p.out.String(); !strings.Contains(out, "reload rejected") || !strings.Contains(out, "b.yaml:3:8") {
		t.Errorf("the log does not show the rejected reload at b.yaml:3:8:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(flowsDir, "b.yaml"), []byte(flow("hup-b")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rnWaitFor(t, 5*time.Second, "a run of the new flow hup-b", func() bool { return passes("hup-b") >= 1 })
	m := p.metrics()
	if v := rnMetric(m, "authwatch_config_last_reload_successful", ""); v != 1 {
		t.Errorf("authwatch_config_last_reload_successful = %v after the good reload", v)
	}
	if state, _ := p.stop(syscall.SIGTERM, daemon.StopGrace); state.ExitCode() != 0 {
		t.Errorf("exit status %v after SIGTERM", state)
	}
}
