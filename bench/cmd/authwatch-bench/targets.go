package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// statusTokenEnv carries the status page's bearer token to the daemon:
// the benchmark's configuration protects the status page, API and
// /metrics with it, as a deployment beyond loopback must.
const statusTokenEnv = "AUTHWATCH_BENCH_STATUS_TOKEN"

// daemonToken is that token: random per invocation, never printed.
var daemonToken = func() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// authorize adds the status page's credentials to a request to the daemon
// (harmless to a daemon or server that asks for none).
func authorize(req *http.Request) { req.Header.Set("Authorization", "Bearer "+daemonToken) }

// targetsReport is the result of -targets: every binary through the same
// scenario, one after the other, and the minimal program at the same rate.
type targetsReport struct {
	Scenario      string         `json:"scenario"`
	Flows         int            `json:"flows"`
	IntervalS     float64        `json:"interval_s"`
	TargetRate    float64        `json:"target_runs_per_s"`
	WarmupS       float64        `json:"warmup_s"`
	WindowS       float64        `json:"window_s"`
	ContentionS   float64        `json:"contention_window_s,omitempty"`
	HistoryDays   float64        `json:"history_days"`
	HistoryConfig string         `json:"history_config,omitempty"`
	Started       time.Time      `json:"started"`
	TookS         float64        `json:"took_s"`
	LoadStart     string         `json:"loadavg_start"`
	LoadEnd       string         `json:"loadavg_end"`
	CPUs          int            `json:"cpus"`
	Prefill       *prefillResult `json:"history_prefill,omitempty"`
	Binaries      []*binaryRun   `json:"binaries"`
	Minimal       side           `json:"minimal"`
}

// binaryRun is one authwatch binary through the scenario.
type binaryRun struct {
	Label         string     `json:"label"`
	Binary        string     `json:"binary"`
	Version       string     `json:"version"`
	HistoryConfig string     `json:"history_config"` // "applied", "not given", or why not applied
	Prefilled     bool       `json:"history_prefilled"`
	PrefillNote   string     `json:"history_prefill_note,omitempty"`
	Steady        side       `json:"steady"`
	SteadyHealth  string     `json:"steady_healthz"`
	SteadyWarns   logWarn    `json:"steady_warnings"`
	Pages         []page     `json:"pages"`
	PagesWindow   side       `json:"pages_window"`
	Contention    *contended `json:"contention,omitempty"`
	DBBytesEnd    int64      `json:"db_bytes_end"`
	DBBytesStart  int64      `json:"db_bytes_start"`
	RunsRecorded  float64    `json:"runs_recorded"` // authwatch_flow_runs_total at the last window's end
	StopS         float64    `json:"stop_s"`
	LogLines      int        `json:"log_lines"`
	WallS         float64    `json:"wall_s"`
}

// runTargets is -targets: the targets, for -before (when given)
// and the tree's authwatch, then the minimal program.
func runTargets(ctx context.Context, e *env) error {
	o := e.o
	t0 := time.Now()
	tokenURL, err := e.tokenURL(o.tokens[0])
	if err != nil {
		return err
	}
	sc := scenario{label: o.tokens[0], tokenURL: tokenURL, flows: o.flows, interval: o.interval, warmup: o.warmup, duration: o.duration}
	rep := &targetsReport{Scenario: sc.describe(), Flows: o.flows, IntervalS: o.interval.Seconds(), TargetRate: float64(o.flows) / o.interval.Seconds(),
		WarmupS: o.warmup.Seconds(), WindowS: o.duration.Seconds(), HistoryDays: o.historyDays, HistoryConfig: o.historyConfig,
		Started: t0.UTC(), LoadStart: loadAvg(), CPUs: numCPU()}
	if o.contention {
		rep.ContentionS = o.contentionWindow.Seconds()
	}

	// One set of flows for every binary: the same files, the same names.
	flowsDir := filepath.Join(e.tmp, "targets-flows")
	counts, err := writeFlows(flowsDir, sc.flows, sc.interval, sc.tokenURL, e.apiURL(), 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: targets: flows %v\n", counts)
	historyFlows := flowNames(min(o.historyFlows, sc.flows))

	// The prefill is written on /dev/shm when there is one: fsyncs there
	// cost nothing, and each binary gets a copy on the state's disk.
	template := filepath.Join(e.tmp, "history-template")
	if len(historyFlows) > 0 && o.historyDays > 0 {
		if shm, err := os.MkdirTemp("/dev/shm", "authwatch-bench-history-"); err == nil {
			defer os.RemoveAll(shm)
			template = filepath.Join(shm, "state")
		}
		fmt.Fprintf(os.Stderr, "authwatch-bench: prefilling %.0f days of history for %d flows (one run every %s)\n", o.historyDays, len(historyFlows), sc.interval)
		p, err := prefillHistory(ctx, template, historyFlows, o.historyDays, sc.interval, sc.flows, os.Stderr)
		if err != nil {
			return err
		}
		rep.Prefill = &p
		fmt.Fprintf(os.Stderr, "authwatch-bench: history prefill: %d runs in %.1f s (%.0f runs/s), %.1f MiB, %.0f B/run\n",
			p.Runs, p.TookS, p.RunsPerS, float64(p.DBBytes)/mib/mib, p.BytesPerRun)
	}

	type bin struct{ label, path string }
	var bins []bin
	if o.before != "" {
		bins = append(bins, bin{"before", o.before})
	}
	bins = append(bins, bin{"after", e.authwatch})
	for _, b := range bins {
		br := &binaryRun{Label: b.label, Binary: b.path, Version: binaryVersion(b.path)}
		if b.label == "after" && o.authwatchBin == "" {
			br.Version += "; built from the tree at " + treeRevision(e.root)
		}
		rep.Binaries = append(rep.Binaries, br)
		t := time.Now()
		err := runTargetBinary(ctx, e, sc, br, flowsDir, template, historyFlows, rep.Prefill != nil)
		br.WallS = time.Since(t).Seconds()
		if err != nil {
			return fmt.Errorf("%s (%s): %w", b.label, b.path, err)
		}
	}
	if !o.skipMinimal {
		r := &result{}
		t := time.Now()
		if err := runMinimal(ctx, e, sc, r); err != nil {
			return fmt.Errorf("minimal: %w", err)
		}
		rep.Minimal = r.Minimal
		rep.Minimal.WallS = time.Since(t).Seconds()
	}
	rep.LoadEnd = loadAvg()
	rep.TookS = time.Since(t0).Seconds()
	printTargets(os.Stdout, rep)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// flowNames are the names writeFlows gives the first n flows.
func flowNames(n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("bench-%s-%05d", kindOf(i, 0), i)
	}
	return out
}

// targetsConfig is the daemon's configuration for -targets: retention of
// days of history (max_age and enough runs per flow for it), the status
// page behind a bearer token, the binary's own max_concurrent unless
// -max-concurrent is given, and the -history-config snippet when the
// binary accepts it.
func (e *env) targetsConfig(stateDir, listen, flowsDir, history string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nlisten: %s\nflows_dir: %s\n", stateDir, listen, flowsDir)
	if e.o.maxConcurrentSet {
		fmt.Fprintf(&b, "max_concurrent: %d\n", e.o.maxConcurrent)
	}
	days := time.Duration(e.o.historyDays * 24 * float64(time.Hour))
	fmt.Fprintf(&b, "retention:\n  max_age: %s\n  max_runs_per_flow: %d\n", days, int(days/e.o.interval)+1000)
	fmt.Fprintf(&b, "status_page:\n  auth:\n    bearer: ${env:%s}\n", statusTokenEnv)
	if history != "" {
		b.WriteString(strings.TrimRight(history, "\n") + "\n")
	}
	return b.String()
}

// validateConfig runs `BIN validate --config cfg` on a one-flow directory
// (the configuration is what is checked, not 10,000 flows) and returns
// its complaint when it exits non-zero.
func (e *env) validateConfig(ctx context.Context, bin, cfg string) error {
	dir := filepath.Join(e.tmp, "validate-flows")
	if _, err := os.Stat(dir); err != nil {
		if _, err := writeFlows(dir, 1, e.o.interval, e.apiURL(), e.apiURL(), 0); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "validate", "--config", cfg, dir)
	cmd.Env = append(os.Environ(), secretEnv+"="+clientSec, statusTokenEnv+"="+daemonToken)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// runTargetBinary runs one binary: state (prefilled), configuration,
// start, warm-up, steady window, status page timings, contention window,
// stop.
func runTargetBinary(ctx context.Context, e *env, sc scenario, br *binaryRun, flowsDir, template string, historyFlows []string, prefilled bool) error {
	o := e.o
	dir := filepath.Join(e.tmp, "targets-"+br.Label)
	stateDir := filepath.Join(dir, "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "authwatch.yaml")
	write := func(history string) error {
		return os.WriteFile(cfg, []byte(e.targetsConfig(stateDir, listen, flowsDir, history)), 0o644)
	}
	if err := write(""); err != nil {
		return err
	}
	if err := e.validateConfig(ctx, br.Binary, cfg); err != nil {
		return fmt.Errorf("the benchmark's configuration is invalid for this binary: %w", err)
	}
	br.HistoryConfig = "not given (-history-config)"
	if o.historyConfig != "" {
		if err := write(o.historyConfig); err != nil {
			return err
		}
		if verr := e.validateConfig(ctx, br.Binary, cfg); verr != nil {
			br.HistoryConfig = "not applied: this binary rejects it: " + firstLine(verr.Error())
			if err := write(""); err != nil {
				return err
			}
		} else {
			br.HistoryConfig = "applied"
		}
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: %s: history config %s\n", br.Label, br.HistoryConfig)

	if prefilled {
		if err := copyDir(template, stateDir); err != nil {
			return err
		}
		br.Prefilled = true
	}
	br.DBBytesStart = dirSize(stateDir, "authwatch.db")
	tg, err := e.launch(ctx, br.Binary, br.Label, dir, cfg, flowsDir, stateDir, listen)
	if err != nil && prefilled && logSays(filepath.Join(dir, "daemon.log"), "newer than this authwatch knows") {
		// An older binary cannot open the state written by the tree's
		// store: it runs on an empty history instead, and the report says so.
		br.Prefilled = false
		br.PrefillNote = "history not prefilled: this binary cannot open the tree's state database (" + firstLine(lastLogLine(filepath.Join(dir, "daemon.log"))) + ")"
		fmt.Fprintf(os.Stderr, "authwatch-bench: %s: %s\n", br.Label, br.PrefillNote)
		if err := os.RemoveAll(stateDir); err != nil {
			return err
		}
		br.DBBytesStart = 0
		tg, err = e.launch(ctx, br.Binary, br.Label, dir, cfg, flowsDir, stateDir, listen)
	}
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = tg.stop()
		}
	}()
	total := o.warmup + o.duration + o.contentionWindow + 30*time.Minute
	mem := sampleMemory(tg.pid, time.Second, int(total.Seconds()))
	defer mem.finish()
	if err := sleepCtx(ctx, o.warmup); err != nil {
		return err
	}

	// Steady window: the CPU, RSS, runs and lateness of the targets.
	logAt := fileSize(tg.logPath)
	if err := measureWindow(ctx, e, sc, tg, &br.Steady, o.duration, mem, nil, nil); err != nil {
		return err
	}
	br.SteadyWarns = countWarnings(tg.logPath, logAt)
	br.SteadyHealth = healthSummary(getHealth(ctx, tg.metrics))

	// Status page timings, still under the full load, in a window of their
	// own so that their CPU does not count against the runs'.
	pages := pagePaths(historyFlows, sc)
	err = measureWindow(ctx, e, sc, tg, &br.PagesWindow, 0, mem, func() {
		br.Pages = timePages(ctx, tg.metrics, pages, o.pageRequests, o.pageBudget)
	}, nil)
	if err != nil {
		return err
	}

	if o.contention {
		c, err := measureContention(ctx, e, sc, tg, mem)
		if err != nil {
			return err
		}
		br.Contention = c
	}
	mem.finish()
	br.RunsRecorded = max(br.Steady.totalRuns, br.PagesWindow.totalRuns)
	if br.Contention != nil {
		br.RunsRecorded = max(br.RunsRecorded, br.Contention.totalRuns)
	}
	took, err := tg.stop()
	stopped = true
	br.StopS = took.Seconds()
	if err != nil {
		return err
	}
	br.DBBytesEnd = dirSize(stateDir, "authwatch.db")
	if b, err := os.ReadFile(tg.logPath); err == nil {
		br.LogLines = bytes.Count(b, []byte("\n"))
	}
	return nil
}

// binaryVersion is the first line of `BIN version`.
func binaryVersion(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return firstLine(string(out))
}

// treeRevision is `git describe --always --dirty` of the tree.
func treeRevision(root string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// logSays reports whether the log at path contains s.
func logSays(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

func lastLogLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// loadAvg is /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	return n
}

// logWarn counts the daemon's warnings in part of its log.
type logWarn struct {
	Warn       int      `json:"warn_lines"`
	LateOrSkip int      `json:"late_or_skip_lines"`
	Messages   []string `json:"late_or_skip_messages,omitempty"`
}

// countWarnings reads the text log (slog's text handler) at path from
// offset: lines at level WARN or above, and those about late or skipped
// runs, with up to three distinct messages of the latter (msg only: the
// attributes may name flows, never secrets, but are long).
func countWarnings(path string, offset int64) logWarn {
	var w logWarn
	f, err := os.Open(path)
	if err != nil {
		return w
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return w
	}
	b, _ := readAllLimit(f, 256<<20)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") {
			continue
		}
		w.Warn++
		low := strings.ToLower(line)
		if !strings.Contains(low, "late") && !strings.Contains(low, "skip") && !strings.Contains(low, "behind") {
			continue
		}
		w.LateOrSkip++
		msg := logMsg(line)
		if !seen[msg] && len(w.Messages) < 3 {
			seen[msg] = true
			w.Messages = append(w.Messages, msg)
		}
	}
	return w
}

// logMsg is the msg="..." of a text log line, cut to 160 characters.
func logMsg(line string) string {
	_, rest, ok := strings.Cut(line, `msg="`)
	if !ok {
		return firstLine(line)
	}
	if i := strings.Index(rest, `" `); i >= 0 {
		rest = rest[:i]
	}
	rest = strings.TrimSuffix(rest, `"`)
	if len(rest) > 160 {
		rest = rest[:160] + "…"
	}
	return rest
}

func readAllLimit(f *os.File, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(&limitedReader{f: f, n: limit})
	return buf.Bytes(), err
}

type limitedReader struct {
	f *os.File
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("log too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// health is the daemon's /healthz answer.
type health struct {
	Code int
	Body map[string]any
	Err  error
}

func getHealth(ctx context.Context, base string) health {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return health{Err: err}
	}
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return health{Err: err}
	}
	defer resp.Body.Close()
	h := health{Code: resp.StatusCode}
	h.Err = json.NewDecoder(resp.Body).Decode(&h.Body)
	return h
}

// healthSummary is "degraded: runs_skipped" and the like: the status and
// the keys that say why.
func healthSummary(h health) string {
	if h.Err != nil && h.Body == nil {
		return "no answer: " + h.Err.Error()
	}
	status, _ := h.Body["status"].(string)
	var why []string
	for k := range h.Body {
		if k != "status" && k != "flows" {
			why = append(why, k)
		}
	}
	sortStrings(why)
	if len(why) == 0 {
		return fmt.Sprintf("%s (%d)", status, h.Code)
	}
	return fmt.Sprintf("%s (%d): %s", status, h.Code, strings.Join(why, ", "))
}

// contended is the contention window: another process burns one core.
type contended struct {
	side
	BurnerCores float64        `json:"burner_cores"`
	Healthz     map[string]int `json:"healthz_seen"` // summary -> polls
	Polls       int            `json:"healthz_polls"`
	Warnings    logWarn        `json:"warnings"`
}

// measureContention starts a CPU burner (this program re-executed with
// -burn, GOMAXPROCS=1: one core), measures a window of
// -contention-window while polling /healthz every 2 s, then stops the
// burner by its process group.
func measureContention(ctx context.Context, e *env, sc scenario, tg *target, mem *memSampler) (*contended, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &contended{Healthz: map[string]int{}}
	var burner *proc
	var burn0 float64
	var wg sync.WaitGroup
	stopPoll := make(chan struct{})
	logAt := fileSize(tg.logPath)
	limit := e.o.contentionWindow + 2*time.Minute
	start := func() {
		cmd := exec.Command(self, "-burn", limit.String())
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if burner, err = startProc("burner", cmd); err != nil {
			return
		}
		burn0, _ = cpuSeconds(burner.pid())
		fmt.Fprintf(os.Stderr, "authwatch-bench: contention: burner pid %d for %s\n", burner.pid(), e.o.contentionWindow)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			for range int(limit/(2*time.Second)) + 1 {
				select {
				case <-stopPoll:
					return
				case <-t.C:
				}
				s := healthSummary(getHealth(ctx, tg.metrics))
				c.Healthz[s]++
				c.Polls++
			}
		}()
	}
	end := func() {
		close(stopPoll)
		wg.Wait()
		if burner != nil {
			b1, _ := cpuSeconds(burner.pid())
			c.BurnerCores = (b1 - burn0) / e.o.contentionWindow.Seconds()
			_, _ = burner.stop(syscall.SIGTERM, 5*time.Second)
		}
	}
	werr := measureWindow(ctx, e, sc, tg, &c.side, e.o.contentionWindow, mem, start, end)
	if err != nil {
		return nil, fmt.Errorf("burner: %w", err)
	}
	if werr != nil {
		return nil, werr
	}
	c.Warnings = countWarnings(tg.logPath, logAt)
	return c, nil
}

// burn spins one goroutine for at most limit, or until its parent (the
// harness) is gone: the contention window's other process.
func burn(limit time.Duration) {
	parent := os.Getppid()
	deadline := time.Now().Add(limit)
	x := 0
	for time.Now().Before(deadline) && os.Getppid() == parent {
		for range 10_000_000 {
			x++
		}
	}
	if x < 0 {
		fmt.Println(x)
	}
}
