package daemon

// Helpers of the paging tests (paging_*_test.go): the issue "Paging" proved
// end to end through the real daemon. They start the daemon either
// in-process from an authwatch.yaml (pgStartInProcess: what `authwatch run
// --config` does, with the Main at hand for in-package checks) or as the
// real `authwatch run` binary (pgBuild, pgStartProc: for SIGKILL and the
// CLI), a webhook receiver the test controls (pgHook: up, answering a
// status, or refusing connections), and the demo IdP and API for flows that
// fail for real reasons. Everything listens on 127.0.0.1; every wait is
// bounded; the only processes ended are those started here, by pid.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/notify"
	_ "github.com/authwatch/authwatch/notify/all" // the notifier kinds, as cmd/authwatch registers them
	"github.com/authwatch/authwatch/notify/webhook"
)

// ---------------------------------------------------------------------------
// The demo environment.

// pgDemo starts the demo IdP and orders API on 127.0.0.1 for the test.
func pgDemo(t *testing.T) *demo.Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env, err := demo.Start(ctx)
	if err != nil {
		cancel()
		t.Fatalf("demo.Start: %v", err)
	}
	t.Cleanup(func() { _ = env.Close(); cancel() })
	return env
}

// pgWriteSecret writes a secret file (0600) and returns its path.
func pgWriteSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---------------------------------------------------------------------------
// A webhook receiver the test controls.

// pgHookReq is one request the receiver got and what it answered.
type pgHookReq struct {
	At     time.Time
	Path   string
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
}

// Payload decodes the webhook payload.
func (r pgHookReq) Payload(t *testing.T) webhook.Payload {
	t.Helper()
	var p webhook.Payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("webhook payload: %v: %s", err, r.Body)
	}
	return p
}

// pgHook is a plain-HTTP webhook receiver on a fixed 127.0.0.1 port that
// can answer a status (200 by default) or be down (the port refuses
// connections) and come back on the same port.
type pgHook struct {
	t    *testing.T
	addr string
	URL  string

	mu         sync.Mutex
	srv        *http.Server
	status     int
	retryAfter string
	reqs       []pgHookReq
}

func pgNewHook(t *testing.T) *pgHook {
	t.Helper()
	h := &pgHook{t: t, status: http.StatusOK}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	h.URL = "http://" + h.addr
	h.serve(ln)
	t.Cleanup(func() {
		h.mu.Lock()
		srv := h.srv
		h.srv = nil
		h.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
	})
	return h
}

func (h *pgHook) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(h.handle), ReadHeaderTimeout: 5 * time.Second}
	h.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

func (h *pgHook) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	h.mu.Lock()
	status, ra := h.status, h.retryAfter
	h.reqs = append(h.reqs, pgHookReq{At: time.Now(), Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Status: status})
	h.mu.Unlock()
	if ra != "" && status != http.StatusOK {
		w.Header().Set("Retry-After", ra)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

// Down closes the listener and every connection: the port refuses
// connections until Answer is called.
func (h *pgHook) Down() {
	h.mu.Lock()
	srv := h.srv
	h.srv = nil
	h.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Answer (re)opens the port if it was down and answers status from now on
// (with Retry-After when retryAfter is set and status is not 200).
func (h *pgHook) Answer(status int, retryAfter string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.retryAfter = status, retryAfter
	if h.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger a moment
		if ln, err = net.Listen("tcp", h.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		h.t.Fatalf("the receiver could not listen on %s again: %v", h.addr, err)
	}
	h.serve(ln)
}

// Requests returns every request received so far.
func (h *pgHook) Requests() []pgHookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]pgHookReq(nil), h.reqs...)
}

// Accepted returns the requests answered 2xx, in arrival order.
func (h *pgHook) Accepted() []pgHookReq {
	var out []pgHookReq
	for _, r := range h.Requests() {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}

// pgDelivery is one accepted webhook delivery, decoded.
type pgDelivery struct {
	ID    string // X-Authwatch-Delivery
	Event notify.Event
	Req   pgHookReq
}

// Deliveries decodes the accepted requests for flow ("" for all), in order.
func (h *pgHook) Deliveries(t *testing.T, flow string) []pgDelivery {
	t.Helper()
	var out []pgDelivery
	for _, r := range h.Accepted() {
		p := r.Payload(t)
		if flow != "" && p.Event.Flow != flow {
			continue
		}
		out = append(out, pgDelivery{ID: r.Header.Get(webhook.HeaderDelivery), Event: p.Event, Req: r})
	}
	return out
}

// pgDedupe keeps the first delivery of each X-Authwatch-Delivery id, as a
// receiver must, and returns them with the number of duplicates dropped.
func pgDedupe(ds []pgDelivery) (unique []pgDelivery, duplicates int) {
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.ID] {
			duplicates++
			continue
		}
		seen[d.ID] = true
		unique = append(unique, d)
	}
	return unique, duplicates
}

// pgTypes lists the event types of ds.
func pgTypes(ds []pgDelivery) []notify.EventType {
	out := make([]notify.EventType, len(ds))
	for i, d := range ds {
		out[i] = d.Event.Type
	}
	return out
}

// ---------------------------------------------------------------------------
// The daemon in-process, from a configuration file.

// pgInProc is a Main started from an authwatch.yaml, as `authwatch run
// --config` starts it (SetConfigPath: Reload re-reads the file).
type pgInProc struct {
	*e2eDaemon
	cfgPath string
}

// pgStartInProcess writes cfgBody (state_dir, listen and flows_dir are
// added) and the flow files, loads the configuration through config.Load
// and runs the daemon. Cleanup stops it.
func pgStartInProcess(t *testing.T, cfgBody string, files map[string]string) *pgInProc {
	t.Helper()
	dir := t.TempDir()
	d := &e2eDaemon{t: t, notify: &e2eNotifier{}, log: &e2eLog{},
		flowsDir: filepath.Join(dir, "flows.d"), stateDir: filepath.Join(dir, "state"), reload: make(chan struct{}, 1)}
	if err := os.Mkdir(d.flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		e2eWrite(t, d.flowsDir, name, content)
	}
	cfgPath := filepath.Join(dir, "authwatch.yaml")
	head := fmt.Sprintf("state_dir: %q\nlisten: 127.0.0.1:0\nflows_dir: %q\nwatch: false\n", d.stateDir, d.flowsDir)
	if err := os.WriteFile(cfgPath, []byte(head+cfgBody), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, true)
	if err != nil {
		t.Fatalf("config.Load:\n%v\n%s", err, head+cfgBody)
	}
	logger := slog.New(slog.NewTextHandler(d.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(cfg, logger, d.notify)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	m.SetConfigPath(cfgPath)
	d.m = m
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.done = make(chan error, 1)
	go func() { d.done <- m.Run(ctx, d.reload) }()
	addrCh := make(chan string, 1)
	go func() { addrCh <- m.Addr().String() }()
	select {
	case a := <-addrCh:
		d.base = "http://" + a
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("the daemon did not listen within 10s")
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("daemon Run returned %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	return &pgInProc{e2eDaemon: d, cfgPath: cfgPath}
}

// ---------------------------------------------------------------------------
// The real binary.

// pgBuild builds cmd/authwatch (without -race) into dir.
func pgBuild(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goBin, err = filepath.Join(os.Getenv("GOROOT"), "bin", "go"), nil
	}
	if err != nil {
		t.Fatalf("no go command to build authwatch with: %v", err)
	}
	bin := filepath.Join(dir, "authwatch")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/authwatch/authwatch/cmd/authwatch")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// pgProc is one `authwatch run` process.
type pgProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *e2eLog
	exited chan struct{}
	base   string
}

var pgListen = regexp.MustCompile(`msg="authwatch started".*? listen=(127\.0\.0\.1:\d+)`)

// pgSetup writes authwatch.yaml (cfgBody after state_dir, listen, flows_dir
// and watch: false) and the flow files into dir; it returns the
// configuration's path and the flows directory.
func pgSetup(t *testing.T, dir, cfgBody string, files map[string]string) (cfgPath, flowsDir string) {
	t.Helper()
	flowsDir = filepath.Join(dir, "flows.d")
	if err := os.MkdirAll(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		e2eWrite(t, flowsDir, name, content)
	}
	cfgPath = filepath.Join(dir, "authwatch.yaml")
	head := fmt.Sprintf("state_dir: %q\nlisten: 127.0.0.1:0\nflows_dir: %q\nwatch: false\n", filepath.Join(dir, "state"), flowsDir)
	if err := os.WriteFile(cfgPath, []byte(head+cfgBody), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, flowsDir
}

// pgStartProc starts `authwatch run --config cfg --log-level debug` with env
// added (systemd's variables removed) and waits up to 20s for "authwatch
// started". Cleanup SIGKILLs it, by its pid, if it still runs.
func pgStartProc(t *testing.T, bin, cfg string, env map[string]string) *pgProc {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfg, "--log-level", "debug")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "NOTIFY_SOCKET" && k != "WATCHDOG_USEC" && k != "WATCHDOG_PID" && env[k] == "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &pgProc{t: t, cmd: cmd, out: &e2eLog{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill() // the process this test started, by its pid
			<-p.exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := pgListen.FindStringSubmatch(p.out.String()); m != nil {
			p.base = "http://" + m[1]
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("authwatch run exited before it started (%v); output:\n%s", cmd.ProcessState, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("authwatch run did not start within 20s; output:\n%s", p.out.String())
		}
	}
}

// signal sends sig to the process and, unless it is SIGHUP, waits up to
// 30s for it to exit.
func (p *pgProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	if sig == syscall.SIGHUP {
		return
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("authwatch run did not exit within 30s of %v; output:\n%s", sig, p.out.String())
	}
}

// get returns the status and body of GET base+path.
func (p *pgProc) get(path string) (int, string) {
	p.t.Helper()
	resp, err := e2eClient.Get(p.base + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v\noutput:\n%s", path, err, p.out.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pgCount counts lines of the daemon's output that contain every part.
func pgCount(out string, parts ...string) int {
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// pgPEMOf returns the PEM of the certificate the TLS server at hostport
// presents (a notifytest Receiver's self-signed one), for SSL_CERT_FILE.
func pgPEMOf(t *testing.T, hostport string) []byte {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", hostport, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only to read the test receiver's certificate
	if err != nil {
		t.Fatalf("reading the receiver's certificate: %v", err)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		t.Fatal("the receiver presented no certificate")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw})
}

// pgRun runs the binary with args and returns its exit code, stdout and
// stderr (bounded by 60s).
func pgRun(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("running %s %v: %v", bin, args, err)
	return -1, "", ""
}
