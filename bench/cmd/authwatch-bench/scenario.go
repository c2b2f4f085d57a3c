package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// result is one scenario: the daemon and the minimal program at the same
// rate, each measured over its own window of the same length.
type result struct {
	Scenario   string  `json:"scenario"`
	Token      string  `json:"token"`
	Flows      int     `json:"flows"`
	IntervalS  float64 `json:"interval_s"`
	TargetRate float64 `json:"target_runs_per_s"`
	WindowS    float64 `json:"window_s"`
	Daemon     side    `json:"daemon"`
	Minimal    side    `json:"minimal"`
}

// side is one program's measurements over its window.
type side struct {
	Planned      float64            `json:"planned"`
	Runs         float64            `json:"runs"`
	RunsPerS     float64            `json:"runs_per_s"`
	Failed       float64            `json:"failed"`
	FailReasons  map[string]float64 `json:"fail_reasons,omitempty"`
	Skipped      map[string]float64 `json:"skipped,omitempty"`
	LatenessP50  float64            `json:"lateness_p50_ms"`
	LatenessP99  float64            `json:"lateness_p99_ms"`
	LatenessNote string             `json:"lateness_note,omitempty"`
	RunP50MS     float64            `json:"run_p50_ms,omitempty"`
	RunP99MS     float64            `json:"run_p99_ms,omitempty"`
	CPUS         float64            `json:"cpu_s"`
	CPUPer1000   float64            `json:"cpu_s_per_1000_runs"`
	Cores        float64            `json:"cores"`
	SteadyRSSMiB float64            `json:"steady_rss_mib"`
	MaxRSSMiB    float64            `json:"max_rss_in_window_mib"`
	PeakRSSMiB   float64            `json:"peak_rss_vmhwm_mib"`
	Goroutines   float64            `json:"goroutines,omitempty"`
	Threads      int                `json:"threads"`
	FDs          int                `json:"fds"`
	MaxInFlight  int64              `json:"max_in_flight,omitempty"`
	DBBytes      int64              `json:"db_bytes,omitempty"`
	DBRuns       float64            `json:"db_runs,omitempty"`
	StopS        float64            `json:"stop_s,omitempty"`
	LogLines     int                `json:"log_lines,omitempty"`
	ScrapeBytes  int                `json:"metrics_bytes,omitempty"`
	ScrapeMS     float64            `json:"metrics_scrape_ms,omitempty"`
	FirstError   string             `json:"first_error,omitempty"`
	// Context over the same window.
	IdPCores     float64 `json:"idp_cores"`
	NginxCores   float64 `json:"nginx_cores"`
	MachineCores float64 `json:"machine_busy_cores"`
	OtherCores   float64 `json:"other_cores"`
	WallS        float64 `json:"wall_s"`

	totalRuns float64 // authwatch_flow_runs_total at the window's end
}

// snapshot is the CPU of everything of interest at one moment.
type snapshot struct {
	at                  time.Time
	self, idp, ngx, all float64
}

func (e *env) snap(pid int) snapshot {
	s := snapshot{at: time.Now()}
	s.self, _ = cpuSeconds(pid)
	s.idp, _ = cpuSeconds(e.idp.pid())
	s.ngx = groupCPU(e.ngxPIDs)
	s.all, _ = machineCPU()
	return s
}

// fillCPU sets the CPU figures of s from the window [a, b] with runs runs.
func fillCPU(s *side, a, b snapshot, runs float64) {
	win := b.at.Sub(a.at).Seconds()
	s.CPUS = b.self - a.self
	s.Cores = s.CPUS / win
	if runs > 0 {
		s.CPUPer1000 = s.CPUS / runs * 1000
	}
	s.IdPCores = (b.idp - a.idp) / win
	s.NginxCores = (b.ngx - a.ngx) / win
	s.MachineCores = (b.all - a.all) / win
	s.OtherCores = max(0, s.MachineCores-s.Cores-s.IdPCores-s.NginxCores)
}

const mib = 1024.0

// target is a running daemon: a child process or this process.
type target struct {
	pid      int
	metrics  string // base URL
	stateDir string
	stop     func() (time.Duration, error)
	logPath  string
}

func (e *env) writeConfig(dir, flowsDir, stateDir, listen string) (string, error) {
	path := filepath.Join(dir, "authwatch.yaml")
	conf := fmt.Sprintf("state_dir: %s\nlisten: %s\nflows_dir: %s\n", stateDir, listen, flowsDir)
	if e.o.maxConcurrent > 0 {
		conf += fmt.Sprintf("max_concurrent: %d\n", e.o.maxConcurrent)
	}
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// prepare writes the flows and the configuration of sc into a fresh directory.
func (e *env) prepare(sc scenario, name string, failEvery int) (dir, flowsDir, stateDir, listen string, err error) {
	dir = filepath.Join(e.tmp, name)
	flowsDir, stateDir = filepath.Join(dir, "flows"), filepath.Join(dir, "state")
	counts, err := writeFlows(flowsDir, sc.flows, sc.interval, sc.tokenURL, e.apiURL(), failEvery)
	if err != nil {
		return
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: %s: flows %v\n", name, counts)
	port, err := freePort()
	if err != nil {
		return
	}
	listen = fmt.Sprintf("127.0.0.1:%d", port)
	return
}

// startDaemon runs `authwatch run` on sc's flows.
func (e *env) startDaemon(ctx context.Context, sc scenario, name string, failEvery int) (*target, error) {
	dir, flowsDir, stateDir, listen, err := e.prepare(sc, name, failEvery)
	if err != nil {
		return nil, err
	}
	cfg, err := e.writeConfig(dir, flowsDir, stateDir, listen)
	if err != nil {
		return nil, err
	}
	return e.launch(ctx, e.authwatch, name, dir, cfg, flowsDir, stateDir, listen)
}

// launch runs `authwatch run` (bin) with the configuration cfg and waits
// for /readyz; its log goes to dir/daemon.log.
func (e *env) launch(ctx context.Context, bin, name, dir, cfg, flowsDir, stateDir, listen string) (*target, error) {
	logPath := filepath.Join(dir, "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cfg, "--flows", flowsDir, "--state-dir", stateDir, "--listen", listen, "--log-level", "warn")
	cmd.Env = append(os.Environ(), secretEnv+"="+clientSec, badSecEnv+"=not-the-secret", statusTokenEnv+"="+daemonToken)
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	p, err := startProc("authwatch", cmd)
	if err != nil {
		logf.Close()
		return nil, err
	}
	base := "http://" + listen
	if err := waitHTTP(ctx, base+"/readyz", 300*time.Second, p); err != nil {
		_, _ = p.stop(syscall.SIGTERM, 30*time.Second)
		logf.Close()
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: %s: authwatch pid %d ready in %s\n", name, p.pid(), time.Since(t0).Round(time.Millisecond))
	return &target{pid: p.pid(), metrics: base, stateDir: stateDir, logPath: logPath, stop: func() (time.Duration, error) {
		defer logf.Close()
		return p.stop(syscall.SIGTERM, 60*time.Second)
	}}, nil
}

func runDaemon(ctx context.Context, e *env, sc scenario, r *result) error {
	tg, err := e.startDaemon(ctx, sc, "daemon-"+sc.label, 0)
	if err != nil {
		return err
	}
	return measureDaemon(ctx, e, sc, r, tg, nil, nil)
}

// measureDaemon waits out the warm-up, measures the window and stops tg.
func measureDaemon(ctx context.Context, e *env, sc scenario, r *result, tg *target, onStart, onEnd func()) (err error) {
	d := &r.Daemon
	stopped := false
	defer func() {
		if !stopped {
			_, _ = tg.stop()
		}
	}()
	mem := sampleMemory(tg.pid, time.Second, int((sc.warmup+sc.duration).Seconds())+600)
	if err := sleepCtx(ctx, sc.warmup); err != nil {
		return err
	}
	if err := measureWindow(ctx, e, sc, tg, d, sc.duration, mem, onStart, onEnd); err != nil {
		return err
	}
	mem.finish()
	d.DBRuns = d.totalRuns

	took, err := tg.stop()
	stopped = true
	d.StopS = took.Seconds()
	if err != nil {
		return err
	}
	d.DBBytes = dirSize(tg.stateDir, "authwatch.db")
	if tg.logPath != "" {
		if b, err := os.ReadFile(tg.logPath); err == nil {
			d.LogLines = bytes.Count(b, []byte("\n"))
		}
	}
	return nil
}

// measureWindow measures tg over the next window (from now): its CPU, the
// runs, failures, skips and lateness of /metrics, and its RSS from mem's
// samples of the window. onStart and onEnd run inside the CPU window.
func measureWindow(ctx context.Context, e *env, sc scenario, tg *target, d *side, window time.Duration, mem *memSampler, onStart, onEnd func()) error {
	s0, err := getMetrics(ctx, tg.metrics)
	if err != nil {
		return err
	}
	a := e.snap(tg.pid)
	if onStart != nil {
		onStart()
	}
	if err := sleepCtx(ctx, window); err != nil {
		return err
	}
	if onEnd != nil {
		onEnd()
	}
	b := e.snap(tg.pid)
	_, hwm, _ := memKB(tg.pid)
	d.Threads, d.FDs = threads(tg.pid), openFDs(tg.pid)
	s1, err := getMetrics(ctx, tg.metrics)
	if err != nil {
		return err
	}
	samples := mem.snapshot()

	scrapeWin := s1.at.Sub(s0.at).Seconds()
	cpuWin := b.at.Sub(a.at).Seconds()
	runs := s1.sum("authwatch_flow_runs_total", nil) - s0.sum("authwatch_flow_runs_total", nil)
	d.Runs = runs * cpuWin / scrapeWin // the runs of the CPU window
	d.RunsPerS = runs / scrapeWin
	d.Planned = float64(sc.flows) * cpuWin / sc.interval.Seconds()
	d.Failed = s1.sum("authwatch_flow_runs_total", map[string]string{"result": "fail"}) - s0.sum("authwatch_flow_runs_total", map[string]string{"result": "fail"})
	d.FailReasons = deltaMap(s1.by("authwatch_flow_runs_total", "reason"), s0.by("authwatch_flow_runs_total", "reason"))
	delete(d.FailReasons, "")
	d.Skipped = deltaMap(s1.by("authwatch_runs_skipped_total", "why"), s0.by("authwatch_runs_skipped_total", "why"))
	h := histDelta(s1.histogram("authwatch_scheduler_lateness_seconds"), s0.histogram("authwatch_scheduler_lateness_seconds"))
	p50, over50 := quantile(0.5, h)
	p99, over99 := quantile(0.99, h)
	d.LatenessP50, d.LatenessP99 = p50*1000, p99*1000
	d.LatenessNote = fmt.Sprintf("p50 in bucket %s, p99 in bucket %s", bucketOf(p50, h), bucketOf(p99, h))
	if over50 || over99 {
		d.LatenessNote += " (beyond the highest bucket)"
	}
	d.Goroutines = s1.sum("go_goroutines", nil)
	d.ScrapeBytes, d.ScrapeMS = s1.bytes, float64(s1.took.Microseconds())/1000
	fillCPU(d, a, b, d.Runs)
	med, maxv := steadyRSS(samples, a.at, b.at)
	d.SteadyRSSMiB, d.MaxRSSMiB, d.PeakRSSMiB = float64(med)/mib, float64(maxv)/mib, float64(hwm)/mib
	d.totalRuns = s1.sum("authwatch_flow_runs_total", nil)
	return nil
}

func deltaMap(end, start map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range end {
		if dv := v - start[k]; dv != 0 {
			out[k] = dv
		}
	}
	return out
}

// minimalOut is bench/cmd/minimal's JSON line.
type minimalOut struct {
	Planned       int64   `json:"planned"`
	Runs          int64   `json:"runs"`
	Failed        int64   `json:"failed"`
	LatenessP50MS float64 `json:"lateness_p50_ms"`
	LatenessP99MS float64 `json:"lateness_p99_ms"`
	LatenessMaxMS float64 `json:"lateness_max_ms"`
	DurationP50MS float64 `json:"duration_p50_ms"`
	DurationP99MS float64 `json:"duration_p99_ms"`
	MaxInFlight   int64   `json:"max_in_flight"`
	Unfinished    int64   `json:"unfinished"`
	Skipped       int64   `json:"skipped"`
	FirstError    string  `json:"first_error"`
}

func runMinimal(ctx context.Context, e *env, sc scenario, r *result) error {
	m := &r.Minimal
	var out, errb bytes.Buffer
	cmd := exec.Command(e.minimal, "-flows", fmt.Sprint(sc.flows), "-interval", sc.interval.String(),
		"-warmup", sc.warmup.String(), "-duration", sc.duration.String(),
		"-token-url", sc.tokenURL, "-api-url", e.apiURL(), "-client-id", clientID, "-secret-env", secretEnv,
		"-resource", apiResource, "-scope", apiScope, "-max-concurrent", fmt.Sprint(e.minimalConcurrency()), "-linger")
	if e.o.sharedToken {
		cmd.Args = append(cmd.Args, "-shared-token")
	}
	if e.o.minimalProfile != "" {
		cmd.Args = append(cmd.Args, "-cpuprofile", e.o.minimalProfile)
	}
	cmd.Env = append(os.Environ(), secretEnv+"="+clientSec)
	cmd.Stdout, cmd.Stderr = &out, &errb
	p, err := startProc("minimal", cmd)
	if err != nil {
		return err
	}
	defer func() { _, _ = p.stop(syscall.SIGTERM, 10*time.Second) }()
	mem := sampleMemory(p.pid(), time.Second, int((sc.warmup+sc.duration).Seconds())+600)
	if err := sleepCtx(ctx, sc.warmup+50*time.Millisecond); err != nil {
		return err
	}
	a := e.snap(p.pid())
	if err := sleepCtx(ctx, sc.duration); err != nil {
		return err
	}
	b := e.snap(p.pid())
	_, hwm, _ := memKB(p.pid())
	m.Threads, m.FDs = threads(p.pid()), openFDs(p.pid())
	samples := mem.finish()
	if p.exited() {
		return fmt.Errorf("minimal exited before the end of its window: %v: %s", p.err, errb.String())
	}
	// Give the runs of the window's last moments time to finish, then stop it.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	_ = syscall.Kill(p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("minimal did not finish 60 s after its window (stderr: %s)", errb.String())
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.err != nil {
		return fmt.Errorf("minimal: %v: %s", p.err, errb.String())
	}
	var mo minimalOut
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &mo); err != nil {
		return fmt.Errorf("minimal's output %q: %w", out.String(), err)
	}
	m.Planned, m.Runs, m.Failed = float64(mo.Planned), float64(mo.Runs), float64(mo.Failed)
	m.RunsPerS = m.Runs / sc.duration.Seconds()
	m.LatenessP50, m.LatenessP99 = mo.LatenessP50MS, mo.LatenessP99MS
	m.LatenessNote = fmt.Sprintf("exact; max %.1f ms", mo.LatenessMaxMS)
	m.RunP50MS, m.RunP99MS = mo.DurationP50MS, mo.DurationP99MS
	m.MaxInFlight = mo.MaxInFlight
	if mo.Skipped > 0 {
		m.Skipped = map[string]float64{"overlap": float64(mo.Skipped)}
	}
	m.FirstError = mo.FirstError
	if mo.Failed > 0 {
		m.FailReasons = map[string]float64{"error": float64(mo.Failed)}
	}
	fillCPU(m, a, b, m.Runs)
	med, maxv := steadyRSS(samples, a.at, b.at)
	m.SteadyRSSMiB, m.MaxRSSMiB, m.PeakRSSMiB = float64(med)/mib, float64(maxv)/mib, float64(hwm)/mib
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func fmtMap(m map[string]float64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	var total float64
	for k, v := range m {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f", k, m[k])
	}
	return fmt.Sprintf("%.0f (%s)", total, strings.Join(parts, ", "))
}

func total(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

// minimalConcurrency is the minimal program's limit of runs at once: the
// daemon's when one is given, else the top of the daemon's adaptive range,
// so that the baseline is not capped where the daemon is not.
func (e *env) minimalConcurrency() int {
	if e.o.maxConcurrent > 0 {
		return e.o.maxConcurrent
	}
	return 1024
}
