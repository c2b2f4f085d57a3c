// Command authwatch-bench measures the authwatch daemon under load and
// compares it with a minimal Go program making the same HTTP exchanges.
//
// It builds authwatch (go build ./cmd/authwatch) and bench/cmd/minimal into
// a temporary directory, starts the test IdP (testdata/oidc-provider, npm
// oidc-provider, JWT access tokens for https://api.example.test/) and nginx
// (an API location answering 200 JSON, access_log off, 2 workers) on
// 127.0.0.1, writes -flows flow files (half a client_credentials token with
// token_url and a GET of the API with it as bearer, half a plain GET) and
// runs `authwatch run` on them. After -warmup it measures for -duration:
// the daemon's CPU (utime+stime from /proc/PID/stat), VmRSS every second
// and VmHWM (/proc/PID/status), and from /metrics at the start and end of
// the window the runs, skips and the scheduler lateness histogram. Then it
// runs bench/cmd/minimal at the same rate for the same time and measures
// its CPU the same way, and prints a markdown table with the ratios.
//
//	go run ./bench/cmd/authwatch-bench -flows 2000 -interval 10s -duration 3m -warmup 30s
//	go run ./bench/cmd/authwatch-bench -flows 2000 -interval 1s -duration 2m -token node,static
//	go run ./bench/cmd/authwatch-bench -soak -flows 200 -interval 5s -duration 30m
//	go run ./bench/cmd/authwatch-bench -targets -contention -before /tmp/authwatch-before
//	go run ./bench/cmd/authwatch-bench -cluster-nodes 3 -postgres -flows 2000 -interval 10s -duration 2m
//
// -cluster-nodes N -postgres starts a PostgreSQL (testenv.StartPostgres:
// initdb and pg_ctl in a temporary directory, a unix socket only,
// pg_stat_statements loaded) and N `authwatch run` nodes with cluster:
// {enabled: true} and their store on it, sharing the same flows; it
// measures over the window the nodes' CPU summed, PostgreSQL's (postmaster
// and backends), the statements (pg_stat_statements) and transactions
// (pg_stat_database) per run, lateness (the nodes' histograms added) and
// skips; then the single daemon on SQLite and the minimal program the same
// way, and prints them side by side: see docs/benchmarks.md, "Cluster".
//
// -targets runs issue 15's targets (10,000 flows @ 10 s with 30 days of
// history prefilled for -history-flows flows, status page timings, and
// with -contention a window with one core burnt) for the -before binary
// and the tree's, then the minimal program, and reports each target as
// met or missed: see docs/benchmarks.md, Method.
//
// -token static replaces the IdP's token endpoint by a fixed answer from
// nginx (a real JWT fetched from the IdP once), so that the IdP's own CPU
// does not limit the rate: see docs/benchmarks.md.
//
// Every process it starts leads its own process group and is stopped by
// that group's id; all traffic goes to 127.0.0.1; every wait is bounded.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	flows         int
	interval      time.Duration
	duration      time.Duration
	warmup        time.Duration
	tokens        []string
	skipMinimal   bool
	skipDaemon    bool
	sharedToken   bool
	authwatchBin  string
	minimalBin    string
	jsonOut       string
	keep          bool
	maxConcurrent int

	soak       bool
	soakSample time.Duration
	failEvery  int
	csvOut     string

	profile string
	// minimalProfile: the minimal program writes a CPU profile of its
	// window here (to set its figures beside the daemon's profile).
	minimalProfile string

	targets          bool
	before           string
	contention       bool
	contentionWindow time.Duration
	historyConfig    string
	historyDays      float64
	historyFlows     int
	pageRequests     int
	pageBudget       time.Duration
	maxConcurrentSet bool

	clusterNodes int
	postgres     bool
	pgParams     string
}

func main() {
	var o options
	var tokens string
	flag.IntVar(&o.flows, "flows", 2000, "number of flows (half token + API call, half API call)")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "every: of each flow")
	flag.DurationVar(&o.duration, "duration", 3*time.Minute, "measurement window (the soak's length with -soak)")
	flag.DurationVar(&o.warmup, "warmup", 30*time.Second, "warm-up before the window")
	flag.StringVar(&tokens, "token", "node", "token endpoints to run, comma-separated: node (oidc-provider), static (a fixed answer from nginx)")
	flag.BoolVar(&o.skipMinimal, "skip-minimal", false, "do not run the minimal program")
	flag.BoolVar(&o.skipDaemon, "skip-daemon", false, "do not run the daemon (minimal only)")
	flag.BoolVar(&o.sharedToken, "shared-token", false, "the minimal program fetches one token at start and reuses it (token flows make only the API call): the baseline of the peer figures")
	flag.StringVar(&o.authwatchBin, "authwatch", "", "authwatch binary to use (default: go build ./cmd/authwatch)")
	flag.StringVar(&o.minimalBin, "minimal", "", "minimal binary to use (default: go build ./bench/cmd/minimal)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (flows, state, logs)")
	flag.IntVar(&o.maxConcurrent, "max-concurrent", 0, "the daemon's max_concurrent; 0: its default (adaptive, 64..1024), and 1024 for the minimal program")
	flag.BoolVar(&o.soak, "soak", false, "soak test: run the daemon for -duration, sampling every -sample into a CSV")
	flag.DurationVar(&o.soakSample, "sample", 30*time.Second, "soak sampling period")
	flag.IntVar(&o.failEvery, "fail-every", 10, "soak: every Nth flow fails (alternately wrong secret and API 401); 0: none")
	flag.StringVar(&o.csvOut, "csv", "", "soak: CSV path (default: in the temporary directory)")
	flag.StringVar(&o.minimalProfile, "minimal-profile", "", "the minimal program writes a CPU profile of its measurement window here")
	flag.StringVar(&o.profile, "profile", "", "run the daemon in this process (internal/daemon, same code as authwatch run) and write a CPU profile of the window here and a heap profile at its end in FILE.heap (no minimal run); with -soak, heap profiles FILE.heap-NNNNs after the second sample and at the end")
	flag.BoolVar(&o.targets, "targets", false, "run issue 15's targets (default 10,000 flows @ 10s, 2m window, 60s warm-up; -flows etc. scale it): steady window, status page timings, -contention; reports each target as met or missed")
	flag.StringVar(&o.before, "before", "", "targets: also run this authwatch binary (e.g. built from an older commit) through the same scenario, before the tree's")
	flag.BoolVar(&o.contention, "contention", false, "targets: after the steady window, a window with a process burning one core")
	flag.DurationVar(&o.contentionWindow, "contention-window", 0, "targets: length of the contention window (default -duration)")
	flag.StringVar(&o.historyConfig, "history-config", "", "targets: YAML appended to the daemon's configuration (e.g. a history: section) for every binary that validates it (authwatch validate); the others run without it")
	flag.Float64Var(&o.historyDays, "history-days", 30, "targets: days of history: retention.max_age, and the prefilled history")
	flag.IntVar(&o.historyFlows, "history-flows", 20, "targets: flows whose history is prefilled (-history-days, one run every -interval, 1 % failing) before the daemon starts; 0: none")
	flag.IntVar(&o.pageRequests, "page-requests", 50, "targets: requests of each status page timed")
	flag.DurationVar(&o.pageBudget, "page-budget", 90*time.Second, "targets: time at most for each page's requests (at least 3 are made)")
	flag.IntVar(&o.clusterNodes, "cluster-nodes", 0, "with -postgres: run this many `authwatch run` nodes (cluster: {enabled: true}) sharing the flows on one PostgreSQL started in a temporary directory, then the single daemon on SQLite and the minimal program the same way; reports CPU per run (nodes summed, PostgreSQL's own), DB statements and transactions per run, lateness and skips")
	flag.BoolVar(&o.postgres, "postgres", false, "store the nodes' state on a PostgreSQL started by the harness (initdb and pg_ctl of Debian's postgresql, pg_stat_statements loaded); needs -cluster-nodes")
	flag.StringVar(&o.pgParams, "pg-params", "", "with -postgres: key=value settings added to the nodes' DSN, space-separated (e.g. pool_max_conns=16)")
	burnFor := flag.Duration("burn", 0, "internal: burn one core for this long (the contention window's other process)")
	flag.Parse()
	if *burnFor > 0 {
		burn(*burnFor)
		return
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.maxConcurrentSet = set["max-concurrent"]
	if o.targets {
		for name, v := range map[string]func(){
			"flows":    func() { o.flows = 10000 },
			"duration": func() { o.duration = 2 * time.Minute },
			"warmup":   func() { o.warmup = 60 * time.Second },
		} {
			if !set[name] {
				v()
			}
		}
		if o.contentionWindow <= 0 {
			o.contentionWindow = o.duration
		}
		if o.soak || o.profile != "" || o.skipDaemon {
			fmt.Fprintln(os.Stderr, "authwatch-bench: -targets does not go with -soak, -profile or -skip-daemon")
			os.Exit(2)
		}
	}
	if o.clusterNodes != 0 || o.postgres {
		if o.clusterNodes < 1 || o.clusterNodes > 16 || !o.postgres {
			fmt.Fprintln(os.Stderr, "authwatch-bench: -cluster-nodes N (1 to 16) goes with -postgres, and -postgres with -cluster-nodes")
			os.Exit(2)
		}
		if o.targets || o.soak || o.profile != "" {
			fmt.Fprintln(os.Stderr, "authwatch-bench: -cluster-nodes does not go with -targets, -soak or -profile")
			os.Exit(2)
		}
	}
	o.tokens = strings.Split(tokens, ",")
	if o.flows < 1 || o.flows > 100000 || o.interval < time.Second || o.duration <= 0 || o.warmup < 0 {
		fmt.Fprintln(os.Stderr, "authwatch-bench: need 1 <= -flows <= 100000, -interval >= 1s, -duration > 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "authwatch-bench:", err)
		os.Exit(1)
	}
}

// env is what every scenario shares.
type env struct {
	o         options
	root, tmp string
	authwatch string
	minimal   string
	idp       *idp
	nginx     *nginx
	ngxPIDs   []int
}

func (e *env) tokenURL(which string) (string, error) {
	switch which {
	case "node":
		return e.idp.url + "/token", nil
	case "static":
		return e.nginx.url + "/static-token", nil
	}
	return "", fmt.Errorf("unknown -token %q: node or static", which)
}

func (e *env) apiURL() string { return e.nginx.url + "/api" }

func run(ctx context.Context, o options) (err error) {
	e := &env{o: o}
	if e.root, err = repoRoot(); err != nil {
		return err
	}
	if e.tmp, err = os.MkdirTemp("", "authwatch-bench-"); err != nil {
		return err
	}
	defer func() {
		if o.keep || err != nil {
			fmt.Fprintln(os.Stderr, "authwatch-bench: kept", e.tmp)
			return
		}
		_ = os.RemoveAll(e.tmp)
	}()
	fmt.Fprintln(os.Stderr, "authwatch-bench: working in", e.tmp)

	t0 := time.Now()
	e.authwatch, e.minimal = o.authwatchBin, o.minimalBin
	if e.authwatch == "" && o.profile == "" {
		e.authwatch = filepath.Join(e.tmp, "authwatch")
		if err := goBuild(ctx, e.root, "./cmd/authwatch", e.authwatch); err != nil {
			return err
		}
	}
	if e.minimal == "" && !o.skipMinimal && !o.soak && o.profile == "" {
		e.minimal = filepath.Join(e.tmp, "minimal")
		if err := goBuild(ctx, e.root, "./bench/cmd/minimal", e.minimal); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: built in %s\n", time.Since(t0).Round(time.Millisecond))

	idpLog, err := os.Create(filepath.Join(e.tmp, "oidc-provider.log"))
	if err != nil {
		return err
	}
	defer idpLog.Close()
	if e.idp, err = startIdP(ctx, e.root, e.tmp, idpLog); err != nil {
		return err
	}
	defer func() { _, _ = e.idp.stop(syscall.SIGTERM, 10*time.Second) }()
	jwt, err := fetchToken(ctx, e.idp.url+"/token", clientSec)
	if err != nil {
		return fmt.Errorf("the IdP does not issue the benchmark's token: %w", err)
	}
	if strings.Count(jwt, ".") != 2 {
		return fmt.Errorf("the IdP's access token is not a JWT (%d characters)", len(jwt))
	}
	if e.nginx, err = startNginx(ctx, e.tmp, jwt); err != nil {
		return err
	}
	defer func() { _, _ = e.nginx.stop(syscall.SIGQUIT, 10*time.Second) }()
	e.ngxPIDs = append([]int{e.nginx.pid()}, children(e.nginx.pid())...)
	fmt.Fprintf(os.Stderr, "authwatch-bench: IdP %s (pid %d), nginx %s (pids %v)\n", e.idp.url, e.idp.pid(), e.nginx.url, e.ngxPIDs)

	if o.soak {
		return runSoak(ctx, e)
	}
	if o.targets {
		return runTargets(ctx, e)
	}
	if o.clusterNodes > 0 {
		return runCluster(ctx, e)
	}
	var results []*result
	for _, which := range o.tokens {
		tokenURL, err := e.tokenURL(which)
		if err != nil {
			return err
		}
		sc := scenario{label: which, tokenURL: tokenURL, flows: o.flows, interval: o.interval, warmup: o.warmup, duration: o.duration}
		r := &result{Scenario: sc.describe(), Token: which, Flows: o.flows, IntervalS: o.interval.Seconds(),
			TargetRate: float64(o.flows) / o.interval.Seconds(), WindowS: o.duration.Seconds()}
		if o.sharedToken {
			r.Scenario += "; minimal reuses one token"
		}
		results = append(results, r)
		if !o.skipDaemon {
			t := time.Now()
			if o.profile != "" {
				err = runInProcess(ctx, e, sc, r)
			} else {
				err = runDaemon(ctx, e, sc, r)
			}
			r.Daemon.WallS = time.Since(t).Seconds()
			if err != nil {
				return fmt.Errorf("%s: daemon: %w", sc.describe(), err)
			}
		}
		if !o.skipMinimal && o.profile == "" {
			t := time.Now()
			err := runMinimal(ctx, e, sc, r)
			r.Minimal.WallS = time.Since(t).Seconds()
			if err != nil {
				return fmt.Errorf("%s: minimal: %w", sc.describe(), err)
			}
		}
		printResult(os.Stdout, r)
	}
	printSummary(os.Stdout, results)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// scenario is one measured configuration.
type scenario struct {
	label                      string
	tokenURL                   string
	flows                      int
	interval, warmup, duration time.Duration
}

func (s scenario) describe() string {
	return fmt.Sprintf("%d flows @ %s, %s token endpoint", s.flows, s.interval, s.label)
}

// sleepCtx sleeps d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return errors.New("interrupted")
	}
}
