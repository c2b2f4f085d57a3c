package daemon

// Helpers of the daemon's end-to-end tests: a real Main on 127.0.0.1:0 with
// a temporary state directory and flows directory, a Notifier that records
// its calls, a captured log, and bounded polling.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store"
)

// e2eNotifier records the Notifier calls in order, and the status lines
// apart (the tests of the calls' order predate them).
type e2eNotifier struct {
	mu       sync.Mutex
	calls    []string
	statuses []string
}

func (n *e2eNotifier) Status(s string) error {
	n.mu.Lock()
	n.statuses = append(n.statuses, s)
	n.mu.Unlock()
	return nil
}

func (n *e2eNotifier) Statuses() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.statuses...)
}

func (n *e2eNotifier) add(s string) error {
	n.mu.Lock()
	n.calls = append(n.calls, s)
	n.mu.Unlock()
	return nil
}

func (n *e2eNotifier) Starting(string, time.Duration) error { return nil }
func (n *e2eNotifier) Ready() error                         { return n.add("ready") }
func (n *e2eNotifier) Reloading() error                     { return n.add("reloading") }
func (n *e2eNotifier) Stopping() error                      { return n.add("stopping") }
func (n *e2eNotifier) Watchdog() error                      { return n.add("watchdog") }
func (n *e2eNotifier) WatchdogInterval() time.Duration      { return 0 }

func (n *e2eNotifier) Calls() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.calls...)
}

var _ Notifier = (*e2eNotifier)(nil)

// e2eLog is a goroutine-safe buffer: the daemon's log, a process's output.
type e2eLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *e2eLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *e2eLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// e2eDaemon is a running Main.
type e2eDaemon struct {
	t        *testing.T
	m        *Main
	notify   *e2eNotifier
	log      *e2eLog
	flowsDir string
	stateDir string
	base     string // http://127.0.0.1:PORT
	reload   chan struct{}
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

type e2eOptions struct {
	watch    bool   // run WatchFlows on the flows directory
	logLevel string // default info
	// stateDir and flowsDir, when set, are used instead of new ones (a
	// restart of a stopped daemon).
	stateDir, flowsDir string
	// configure, when set, edits the configuration before the start.
	configure func(*config.Config)
}

// e2eStart writes files (name → content) into a new flows directory and
// starts the daemon on it. Cleanup stops it.
func e2eStart(t *testing.T, files map[string]string, o e2eOptions) *e2eDaemon {
	t.Helper()
	d := &e2eDaemon{t: t, notify: &e2eNotifier{}, log: &e2eLog{},
		flowsDir: o.flowsDir, stateDir: o.stateDir, reload: make(chan struct{}, 1)}
	if d.flowsDir == "" {
		d.flowsDir = t.TempDir()
	}
	if d.stateDir == "" {
		d.stateDir = filepath.Join(t.TempDir(), "state")
	}
	for name, content := range files {
		e2eWrite(t, d.flowsDir, name, content)
	}
	cfg := config.Default()
	cfg.StateDir, cfg.FlowsDir, cfg.Listen = d.stateDir, d.flowsDir, "127.0.0.1:0"
	if o.configure != nil {
		o.configure(cfg)
	}
	var level slog.Level
	if o.logLevel != "" {
		if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(d.log, &slog.HandlerOptions{Level: level}))
	m, err := New(cfg, logger, d.notify)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	d.m = m
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	if o.watch {
		if err := WatchFlows(ctx, d.flowsDir, d.reload); err != nil {
			cancel()
			t.Fatalf("WatchFlows: %v", err)
		}
	}
	d.done = make(chan error, 1)
	go func() { d.done <- m.Run(ctx, d.reload) }()
	addrCh := make(chan string, 1)
	go func() {
		if a := m.Addr(); a != nil {
			addrCh <- a.String()
		} else {
			addrCh <- "" // Run failed to start
		}
	}()
	select {
	case a := <-addrCh:
		if a == "" {
			cancel()
			t.Fatalf("the daemon did not start: %v\nlog:\n%s", <-d.done, d.log.String())
		}
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
	select {
	case err := <-d.done:
		d.done <- err
		t.Fatalf("the daemon stopped at once: %v\nlog:\n%s", err, d.log.String())
	default:
	}
	return d
}

// stop cancels Run and waits for it (bounded by StopGrace plus a margin).
func (d *e2eDaemon) stop() error {
	d.stopOnce.Do(func() {
		d.cancel()
		select {
		case d.stopErr = <-d.done:
		case <-time.After(StopGrace + 10*time.Second):
			d.stopErr = fmt.Errorf("Run did not return within %s of cancellation", StopGrace+10*time.Second)
		}
	})
	return d.stopErr
}

func e2eWrite(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// e2eWaitFor polls cond every 50ms until it holds or timeout passes.
func e2eWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var e2eClient = &http.Client{Timeout: 5 * time.Second}

// get returns the status and body of GET base+path.
func (d *e2eDaemon) get(path string) (int, string) {
	d.t.Helper()
	resp, err := e2eClient.Get(d.base + path)
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func (d *e2eDaemon) healthz() map[string]any {
	d.t.Helper()
	status, body := d.get("/healthz")
	if status != http.StatusOK {
		d.t.Fatalf("/healthz: status %d: %s", status, body)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		d.t.Fatalf("/healthz: %v: %s", err, body)
	}
	return v
}

func (d *e2eDaemon) metrics() string {
	d.t.Helper()
	status, body := d.get("/metrics")
	if status != http.StatusOK {
		d.t.Fatalf("/metrics: status %d", status)
	}
	return body
}

// e2eMetric returns the value of the sample whose name and labels (in the
// exposition's order, e.g. `flow="a",reason="",result="pass"`) match, and
// false if there is none.
func e2eMetric(body, name, labels string) (float64, bool) {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		if !ok || key != want {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

func (d *e2eDaemon) flowState(flow string) (store.FlowState, bool) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, ok, err := d.m.store.FlowState(ctx, flow)
	if err != nil {
		d.t.Fatalf("FlowState(%s): %v", flow, err)
	}
	return st, ok
}

func (d *e2eDaemon) runs(flow string) []store.Run {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := d.m.store.Runs(ctx, flow, 0)
	if err != nil {
		d.t.Fatalf("Runs(%s): %v", flow, err)
	}
	return rs
}

// e2eHTTPFlow is a one-step flow calling url every `every`.
func e2eHTTPFlow(name, every, url string, status int) string {
	return fmt.Sprintf(`name: %s
every: %s
timeout: 10s
steps:
  - id: call
    kind: http
    url: %q
    expect: {status: %d}
`, name, every, url, status)
}

// e2eHits counts requests per path on a test backend.
type e2eHits struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *e2eHits) inc(path string) {
	h.mu.Lock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[path]++
	h.mu.Unlock()
}

func (h *e2eHits) get(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[path]
}

// e2eCheckSlots checks that flow, run every `every`, ran at most once per
// planned start, with no planned start missed, as seen in its history. The
// planned starts are the scheduler's: NextRun plus or minus whole intervals
// (an every: flow keeps its phase). A run starts at or after its planned
// start; on an overloaded host a start more than 900ms late cannot be told
// from the next slot's, so then only duplicates are checked.
func (d *e2eDaemon) checkSlots(flow string, every time.Duration) {
	d.t.Helper()
	next, ok := d.m.sched.NextRun(flow)
	if !ok {
		d.t.Errorf("%s: no next run", flow)
		return
	}
	runs := d.runs(flow)
	slots := map[int64]time.Time{}
	lo, hi, reliable := int64(1<<62), int64(-1<<62), true
	for _, r := range runs {
		off := r.Start.Sub(next)
		k := int64(off / every)
		if off < 0 && off%every != 0 {
			k--
		}
		if late := off - time.Duration(k)*every; late > 900*time.Millisecond {
			d.t.Logf("%s: a run started %s after its planned start: the host is overloaded", flow, late)
			reliable = false
		}
		if prev, dup := slots[k]; dup {
			d.t.Errorf("%s: two runs for one planned start: %s and %s", flow, prev.Format(time.StampMilli), r.Start.Format(time.StampMilli))
		}
		slots[k] = r.Start
		lo, hi = min(lo, k), max(hi, k)
	}
	if reliable && len(runs) > 0 && hi-lo+1 != int64(len(slots)) {
		d.t.Errorf("%s: %d runs over %d planned starts: some were missed", flow, len(slots), hi-lo+1)
	}
}
