package main

// Hardening tests of `authwatch run` as a real process: its listener under
// idle and slow clients, authentication on every route, and stopping while a
// reload waits on a secret file that never answers.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHardenedDaemonProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authwatch binary; skipped with -short")
	}
	bin := rnBuild(t)
	t.Run("idle connections are bounded and closed", func(t *testing.T) { t.Parallel(); hdTestListener(t, bin) })
	t.Run("every route behind auth, with opt-outs", func(t *testing.T) { t.Parallel(); hdTestAuth(t, bin) })
	t.Run("beyond loopback without auth exits 2", func(t *testing.T) { t.Parallel(); hdTestListenRefused(t, bin) })
	t.Run("SIGTERM during a reload blocked on a FIFO", func(t *testing.T) { t.Parallel(); hdTestStopDuringReload(t, bin) })
	t.Run("restart-only settings: warned only when the file changes them", func(t *testing.T) { t.Parallel(); hdTestRestartOnlyWarning(t, bin) })
}

// A reload warned that state_dir/listen "change only with a restart" at
// every SIGHUP when --state-dir or --listen overrode the file; it warns
// when the file's own values change, once.
func hdTestRestartOnlyWarning(t *testing.T, bin string) {
	cfg, _ := hdConfig(t, "")
	otherState := filepath.Join(t.TempDir(), "flag-state")
	cmd := exec.Command(bin, "run", "--config", cfg, "--state-dir", otherState, "--listen", "127.0.0.1:0")
	p := rnStartCmd(t, cmd)
	const warning = "apply at the next restart"
	reloads := func() int { return strings.Count(p.out.String(), "flows reloaded") }
	hup := func() {
		n := reloads()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		rnWaitFor(t, 20*time.Second, "the reload", func() bool { return reloads() > n })
	}
	hup()
	hup()
	if strings.Contains(p.out.String(), warning) {
		t.Fatalf("warned about restart-only settings the file did not change:\n%s", p.out.String())
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, []byte("http: {max_connections: 99}\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	hup()
	if n := strings.Count(p.out.String(), warning); n != 1 {
		t.Fatalf("%d warnings after the file changed http once, want 1:\n%s", n, p.out.String())
	}
}

// hdConfig writes a config with one passing flow plus extra YAML.
func hdConfig(t *testing.T, extra string) (cfg, stateDir string) {
	t.Helper()
	stateDir = filepath.Join(t.TempDir(), "state")
	cfg = rnSetup(t, stateDir, map[string]string{"idle.yaml": "name: idle\nevery: 1h\nsteps:\n  - id: call\n    kind: http\n    url: http://127.0.0.1:1/\n"})
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	return cfg, stateDir
}

func hdOpenFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries)
}

// 1,000 connections that never send a request (held for ever before the
// fix: fds 17 → 1,017): at most max_connections are accepted at a time, and
// each is closed after read_header_timeout.
func hdTestListener(t *testing.T, bin string) {
	cfg, _ := hdConfig(t, "http: {max_connections: 20, read_header_timeout: 1s, idle_timeout: 1s}\n")
	p := rnStart(t, bin, cfg, nil, true)
	pid := p.cmd.Process.Pid
	base := hdOpenFDs(t, pid)
	addr := strings.TrimPrefix(p.base, "http://")
	var conns []net.Conn
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	peak := 0
	// Each idle connection must be closed by the server: read returns EOF.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
			t.Fatalf("connection %d: not closed by the server: %v", i, err)
		}
		if i%25 == 0 {
			peak = max(peak, hdOpenFDs(t, pid))
		}
	}
	if peak > base+20+5 {
		t.Errorf("open file descriptors peaked at %d with 300 idle connections (base %d, max_connections 20)", peak, base)
	}
	// A keep-alive connection left idle after a request is closed too.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz on a keep-alive connection: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err == nil || os.IsTimeout(err) {
		t.Errorf("idle keep-alive connection not closed: %v", err)
	}
	t.Logf("fds: base %d, peak %d with 300 idle connections", base, peak)
}

// hdGet does a GET with optional basic credentials.
func hdGet(t *testing.T, url, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func hdTestAuth(t *testing.T, bin string) {
	const pass = "Status-Page-Pässword&<>"
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, "pw"), []byte(pass), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := fmt.Sprintf("status_page:\n  auth:\n    basic: {username: ops, password: \"${file:%s}\"}\n", filepath.Join(secretDir, "pw"))
	routes := []string{"/metrics", "/healthz", "/readyz", "/", "/api/v1/flows", "/flows/idle"}

	t.Run("everything protected by default", func(t *testing.T) {
		cfg, _ := hdConfig(t, auth)
		p := rnStart(t, bin, cfg, nil, true)
		for _, r := range routes {
			if code, body := hdGet(t, p.base+r, "", ""); code != http.StatusUnauthorized {
				t.Errorf("%s without credentials: %d %.200s", r, code, body)
			}
			if code, _ := hdGet(t, p.base+r, "ops", "wrong"); code != http.StatusUnauthorized {
				t.Errorf("%s with a wrong password: %d", r, code)
			}
			if code, body := hdGet(t, p.base+r, "ops", pass); code != http.StatusOK {
				t.Errorf("%s with credentials: %d %.200s", r, code, body)
			}
		}
	})
	t.Run("metrics_auth: none, health_auth: none", func(t *testing.T) {
		cfg, _ := hdConfig(t, auth+"  metrics_auth: none\n  health_auth: none\n")
		p := rnStart(t, bin, cfg, nil, true)
		if code, body := hdGet(t, p.base+"/metrics", "", ""); code != http.StatusOK || !strings.Contains(body, "authwatch_flows") {
			t.Errorf("/metrics with metrics_auth: none: %d", code)
		}
		for _, r := range []string{"/healthz", "/readyz"} {
			code, body := hdGet(t, p.base+r, "", "")
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK || got["status"] != "ok" {
				t.Errorf("%s without credentials: %d %s", r, code, body)
			}
			for k := range got {
				if k != "status" && k != "ready" {
					t.Errorf("%s without credentials shows %q: %s", r, k, body)
				}
			}
			if code, _ := hdGet(t, p.base+r, "ops", "wrong"); code != http.StatusUnauthorized {
				t.Errorf("%s with a wrong password: %d", r, code)
			}
		}
		if _, body := hdGet(t, p.base+"/healthz", "ops", pass); !strings.Contains(body, `"flows"`) {
			t.Errorf("/healthz with credentials lacks the detail: %s", body)
		}
		for _, r := range []string{"/", "/api/v1/flows"} {
			if code, _ := hdGet(t, p.base+r, "", ""); code != http.StatusUnauthorized {
				t.Errorf("%s without credentials: %d", r, code)
			}
		}
	})
}

func hdTestListenRefused(t *testing.T, bin string) {
	cfg, _ := hdConfig(t, "")
	// --listen overrides the file: every interface, and no status_page.auth.
	out, code := hdRunExits(t, bin, "run", "--config", cfg, "--listen", "0.0.0.0:0")
	if code != exitInvalid || !strings.Contains(out, "beyond loopback") {
		t.Fatalf("listen on 0.0.0.0 without auth: exit %d\n%s", code, out)
	}
}

// hdRunExits runs the binary and waits (bounded) for it to exit by itself.
func hdRunExits(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit within 60s:\n%s", args, out)
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	return string(out), code
}

// A reload that reads a FIFO nobody writes to waits for it (until the
// secret read's own deadline); SIGTERM meanwhile still stops the daemon.
func hdTestStopDuringReload(t *testing.T, bin string) {
	cfg, _ := hdConfig(t, "")
	p := rnStart(t, bin, cfg, nil, true)
	fifo := filepath.Join(t.TempDir(), "secret.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	flow := fmt.Sprintf("name: fifo\nevery: 1h\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: http://127.0.0.1:1/token\n    client_id: c\n    client_secret: ${file:%s}\n", fifo)
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "flows.d", "fifo.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload has the FIFO open when a writer can open it without
	// blocking; the writer stays open (and silent) so the read waits. A
	// reload that refuses the FIFO says so in the log instead.
	rnWaitFor(t, 20*time.Second, "the reload to open the FIFO or refuse it", func() bool {
		if fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			t.Cleanup(func() { syscall.Close(fd) })
			return true
		}
		return strings.Contains(p.out.String(), "fifo")
	})
	st, took := p.stop(syscall.SIGTERM, stopDeadline+5*time.Second)
	if !st.Exited() {
		t.Fatalf("not exited after %s: %v", took, st)
	}
	t.Logf("stopped %s after SIGTERM, exit %d", took.Round(time.Millisecond), st.ExitCode())
}
