package main

// Fault tests of `authwatch run` as a real process against real file-system
// faults: a full tmpfs and an immutable database under a running daemon, a
// garbage page, an empty or missing database at start. The daemon must keep
// paging (directly, bypassing the outbox it cannot write), say it is
// unhealthy, stop its heartbeat and its systemd watchdog, and, once the
// store takes writes again, lose nothing and page nothing twice.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestFaultProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authwatch binary; skipped with -short")
	}
	bin := rnBuild(t)
	t.Run("state store on a full tmpfs", func(t *testing.T) { t.Parallel(); ftTestFullDisk(t, bin) })
	t.Run("immutable state store, watchdog", func(t *testing.T) { t.Parallel(); ftTestImmutable(t, bin) })
	t.Run("corrupt, empty or missing database at start", func(t *testing.T) { t.Parallel(); ftTestBadDatabaseAtStart(t, bin) })
}

// ftNeedRoot skips (fails in CI) where mount and chattr cannot be used.
func ftNeedRoot(t *testing.T, tools ...string) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (mount, chattr)"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			why = "needs " + tool + " (Debian package e2fsprogs / mount)"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// ftRig is a daemon with one target (pass or fail on demand), a webhook
// receiver that records every event, and a heartbeat receiver.
type ftRig struct {
	t        *testing.T
	failing  atomic.Bool
	pings    atomic.Int64
	mu       sync.Mutex
	events   []ftEvent
	stateDir string
	cfg      string
	flows    []string
}

type ftEvent struct {
	ID, Type, Key, Flow, Reason, Layer, Summary string
}

func newFTRig(t *testing.T, stateDir string, nflows int) *ftRig {
	r := &ftRig{t: t, stateDir: stateDir}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.failing.Load() {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the signing key was rotated"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(target.Close)
	receiver := httptest.NewServer(http.HandlerFunc(r.receive))
	t.Cleanup(receiver.Close)
	heartbeat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { r.pings.Add(1) }))
	t.Cleanup(heartbeat.Close)
	files := map[string]string{}
	for i := range nflows {
		name := fmt.Sprintf("fault-%d", i)
		r.flows = append(r.flows, name)
		files[name+".yaml"] = fmt.Sprintf("name: %s\nevery: 1s\nsteps:\n  - id: call\n    kind: http\n    url: %q\n    expect: {status: 200}\n",
			name, target.URL+"/"+name)
	}
	r.cfg = rnSetup(t, stateDir, files)
	extra := fmt.Sprintf(`notifiers:
  hook: {kind: webhook, url: %q, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy: {open_after: 1, resolve_after: 1}
heartbeat: {url: %q, every: 1s}
`, receiver.URL+"/hook", heartbeat.URL+"/ping")
	f, err := os.OpenFile(r.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *ftRig) receive(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Event struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Key     string `json:"incident_key"`
			Flow    string `json:"flow"`
			Reason  string `json:"reason"`
			Layer   string `json:"layer"`
			Summary string `json:"summary"`
		} `json:"event"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		r.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	e := body.Event
	r.mu.Lock()
	r.events = append(r.events, ftEvent{ID: e.ID, Type: e.Type, Key: e.Key, Flow: e.Flow, Reason: e.Reason, Layer: e.Layer, Summary: e.Summary})
	r.mu.Unlock()
}

// got counts the events of a flow and type received so far.
func (r *ftRig) got(flow, typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Flow == flow && e.Type == typ {
			n++
		}
	}
	return n
}

func (r *ftRig) event(flow, typ string) ftEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Flow == flow && e.Type == typ {
			return e
		}
	}
	return ftEvent{}
}

// checkNoDuplicates: every event once, and per incident one opened and at
// most one resolved.
func (r *ftRig) checkNoDuplicates() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[string]bool{}
	perKey := map[string]int{}
	for _, e := range r.events {
		if ids[e.ID] {
			r.t.Errorf("event %s (%s %s) delivered twice", e.ID, e.Flow, e.Type)
		}
		ids[e.ID] = true
		perKey[e.Key+" "+e.Type]++
	}
	for k, n := range perKey {
		if (strings.HasSuffix(k, " opened") || strings.HasSuffix(k, " resolved")) && n > 1 {
			r.t.Errorf("%s delivered %d times", k, n)
		}
	}
}

// health returns /healthz's status code and body.
func ftHealth(t *testing.T, p *rnProc) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ftFlowState returns the state the JSON API shows for a flow.
func ftFlowState(t *testing.T, p *rnProc, flow string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(p.base + "/api/v1/flows/" + flow)
	if err != nil {
		t.Fatalf("GET flow: %v", err)
	}
	defer resp.Body.Close()
	var d struct {
		Flow struct {
			State string `json:"state"`
		} `json:"flow"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("flow %s: %d %v", flow, resp.StatusCode, err)
	}
	return d.Flow.State
}

// ftOutcomes counts the runs of flow the daemon reported in its log (one
// line per run at debug level), to compare with the history it stored.
func ftOutcomes(out, flow string) int {
	re := regexp.MustCompile(`msg=(?:run|"flow passing"|"flow failing"|"flow failing for another reason"|"run cancelled") flow=` + regexp.QuoteMeta(flow) + ` `)
	return len(re.FindAllString(out, -1))
}

// ftBreakAndHeal runs the common scenario: healthy, break the store, fail
// the target, see pages arrive and the heartbeat stop, heal, see it all
// written once. between runs while the store is broken and the target fails.
func ftBreakAndHeal(t *testing.T, r *ftRig, p *rnProc, breakStore, healStore func(), between func()) {
	rnWaitFor(t, 30*time.Second, "two heartbeats", func() bool { return r.pings.Load() >= 2 })
	if code, body := ftHealth(t, p); code != http.StatusOK {
		t.Fatalf("healthz before the fault: %d %s", code, body)
	}
	breakStore()
	rnWaitFor(t, 60*time.Second, "healthz to say unhealthy", func() bool { code, _ := ftHealth(t, p); return code == http.StatusServiceUnavailable })
	pingsAtBreak := r.pings.Load()
	_, body := ftHealth(t, p)
	if !strings.Contains(body, `"unhealthy"`) || !strings.Contains(body, "state store unwritable") {
		t.Errorf("healthz while the store is broken: %s", body)
	}
	rnWaitFor(t, 30*time.Second, "authwatch's own incident page", func() bool { return r.got("@authwatch", "opened") == 1 })
	if e := r.event("@authwatch", "opened"); e.Reason != "internal_error" || e.Layer != "monitor" || !strings.HasPrefix(e.Summary, "state store unwritable: ") {
		t.Errorf("authwatch's own page: %+v", e)
	}
	r.failing.Store(true)
	flow := r.flows[0]
	rnWaitFor(t, 30*time.Second, "the failing flow's page, sent while the store is broken", func() bool { return r.got(flow, "opened") == 1 })
	if e := r.event(flow, "opened"); e.Reason != "invalid_token" {
		t.Errorf("flow page: %+v", e)
	}
	if state := ftFlowState(t, p, flow); state != "failing" {
		t.Errorf("the API shows %s as %q while the store is broken, want failing", flow, state)
	}
	runsNow := ftOutcomes(p.out.String(), flow)
	rnWaitFor(t, 30*time.Second, "five more runs", func() bool { return ftOutcomes(p.out.String(), flow) >= runsNow+5 })
	if n := r.pings.Load(); n > pingsAtBreak+1 {
		t.Errorf("%d heartbeats after the store broke (at most the one in flight may go)", n-pingsAtBreak)
	}
	if between != nil {
		between()
	}
	healStore()
	rnWaitFor(t, 90*time.Second, "healthz to say ok again", func() bool { code, _ := ftHealth(t, p); return code == http.StatusOK })
	rnWaitFor(t, 30*time.Second, "authwatch's own incident to resolve", func() bool { return r.got("@authwatch", "resolved") == 1 })
	pingsAtHeal := r.pings.Load()
	rnWaitFor(t, 30*time.Second, "heartbeats again", func() bool { return r.pings.Load() > pingsAtHeal })
	r.failing.Store(false)
	for _, f := range r.flows {
		rnWaitFor(t, 30*time.Second, f+" to resolve", func() bool { return r.got(f, "opened") == 0 || r.got(f, "resolved") == 1 })
	}
	if st, _ := p.stop(syscall.SIGTERM, 40*time.Second); !st.Success() {
		t.Fatalf("exit after SIGTERM: %v\n%s", st, p.out.String())
	}
	r.checkNoDuplicates()
	st := rnOpenStore(t, r.stateDir)
	defer st.Close()
	for _, f := range r.flows {
		stored, logged := len(rnRuns(t, st, f)), ftOutcomes(p.out.String(), f)
		if stored != logged || stored == 0 {
			t.Errorf("%s: %d runs stored, %d run", f, stored, logged)
		}
	}
	t.Logf("events: %d; heartbeats: %d", len(r.events), r.pings.Load())
}

// A full disk: a tmpfs filled to the last byte under the running daemon.
func ftTestFullDisk(t *testing.T, bin string) {
	ftNeedRoot(t, "mount", "umount")
	stateDir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", stateDir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", stateDir).Run() })
	r := newFTRig(t, stateDir, 3)
	p := rnStart(t, bin, r.cfg, nil, true)
	filler := filepath.Join(stateDir, "filler")
	ftBreakAndHeal(t, r, p,
		func() { ftFill(t, filler) },
		func() {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		}, nil)
}

// ftFill writes zeros to path until the file system is full (bounded).
func ftFill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 1024 { // at most 64 MiB
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the file system did not fill up")
}

// An immutable database and WAL: writes fail with EPERM. The store stays
// broken long enough for the watchdog to starve, then heals.
func ftTestImmutable(t *testing.T, bin string) {
	ftNeedRoot(t, "chattr")
	stateDir := filepath.Join(t.TempDir(), "state")
	r := newFTRig(t, stateDir, 2)
	wd := ftWatchdog(t)
	p := rnStart(t, bin, r.cfg, map[string]string{"NOTIFY_SOCKET": wd.path, "WATCHDOG_USEC": "1000000"}, true)
	files := []string{filepath.Join(stateDir, "authwatch.db"), filepath.Join(stateDir, "authwatch.db-wal")}
	chattr := func(flag string) {
		args := append([]string{flag}, files...)
		if out, err := exec.Command("chattr", args...).CombinedOutput(); err != nil {
			t.Fatalf("chattr %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("chattr", append([]string{"-i"}, files...)...).Run() })
	rnWaitFor(t, 30*time.Second, "the watchdog to be fed", func() bool { return wd.count() >= 2 })
	ftBreakAndHeal(t, r, p, func() { chattr("+i") }, func() { chattr("-i") }, func() {
		rnWaitFor(t, 90*time.Second, "the daemon to stop feeding the watchdog",
			func() bool { return strings.Contains(p.out.String(), "no longer feeding the systemd watchdog") })
		fed := wd.count()
		runsNow := ftOutcomes(p.out.String(), r.flows[0])
		// Three watchdog intervals' worth of runs.
		rnWaitFor(t, 30*time.Second, "three more runs", func() bool { return ftOutcomes(p.out.String(), r.flows[0]) >= runsNow+3 })
		if n := wd.count(); n > fed+1 {
			t.Errorf("the watchdog was fed %d more times while the store stayed broken", n-fed)
		}
	})
	if wd.count() == 0 {
		t.Error("no watchdog message at all")
	}
}

// ftWatchdogSocket is a NOTIFY_SOCKET that counts WATCHDOG=1 messages.
type ftWatchdogSocket struct {
	path string
	n    atomic.Int64
}

func (w *ftWatchdogSocket) count() int64 { return w.n.Load() }

func ftWatchdog(t *testing.T) *ftWatchdogSocket {
	dir, err := os.MkdirTemp("", "aw-notify-") // a short path: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &ftWatchdogSocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: w.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:n]), "WATCHDOG=1") {
				w.n.Add(1)
			}
		}
	}()
	return w
}

// A database that went bad while the daemon was stopped is refused at the
// next start, with the command that moves it aside; so is an empty or
// missing one where one existed.
func ftTestBadDatabaseAtStart(t *testing.T, bin string) {
	stateDir := filepath.Join(t.TempDir(), "state")
	r := newFTRig(t, stateDir, 2)
	p := rnStart(t, bin, r.cfg, nil, true)
	rnWaitFor(t, 30*time.Second, "20 runs", func() bool { return ftOutcomes(p.out.String(), r.flows[0]) >= 20 })
	if st, _ := p.stop(syscall.SIGTERM, 40*time.Second); !st.Success() {
		t.Fatalf("exit: %v", st)
	}
	db := filepath.Join(stateDir, "authwatch.db")
	ftGarbage(t, db)
	out, code := ftStartFails(t, bin, r.cfg)
	if code != exitFailed || !strings.Contains(out, "state database is corrupt") || !strings.Contains(out, "mv ") {
		t.Fatalf("start on a corrupt database: exit %d\n%s", code, out)
	}
	_, cmd, _ := strings.Cut(strings.TrimSpace(lastLine(out)), "start afresh: ")
	if b, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
		t.Fatalf("the suggested command %q: %v %s", cmd, err, b)
	}
	p = rnStart(t, bin, r.cfg, nil, true) // fresh, after moving it aside
	rnWaitFor(t, 30*time.Second, "a run", func() bool { return ftOutcomes(p.out.String(), r.flows[0]) >= 1 })
	if st, _ := p.stop(syscall.SIGTERM, 40*time.Second); !st.Success() {
		t.Fatalf("exit: %v", st)
	}
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	if out, code := ftStartFails(t, bin, r.cfg); code != exitFailed || !strings.Contains(out, "is empty (0 bytes)") {
		t.Fatalf("start on an empty database: exit %d\n%s", code, out)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if out, code := ftStartFails(t, bin, r.cfg); code != exitFailed || !strings.Contains(out, "is missing") {
		t.Fatalf("start without the database: exit %d\n%s", code, out)
	}
}

// ftGarbage overwrites the last page of a database with random bytes.
func ftGarbage(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(i*131 + 7)
	}
	if _, err := f.WriteAt(junk, max(fi.Size()-4096, 4096)); err != nil {
		t.Fatal(err)
	}
}

// ftStartFails runs `authwatch run` expecting it to exit by itself.
func ftStartFails(t *testing.T, bin, cfg string) (string, int) {
	t.Helper()
	p := rnStart(t, bin, cfg, nil, false)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("authwatch run did not exit; output:\n%s", p.out.String())
	}
	return p.out.String(), p.cmd.ProcessState.ExitCode()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
