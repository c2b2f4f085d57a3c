package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/testenv"
)

// clusterResult is one scenario run by -cluster-nodes nodes on one
// PostgreSQL, next to the single daemon on SQLite and the minimal program
// at the same rate (each in its own window of the same length).
type clusterResult struct {
	Scenario   string  `json:"scenario"`
	Nodes      int     `json:"nodes"`
	Flows      int     `json:"flows"`
	IntervalS  float64 `json:"interval_s"`
	TargetRate float64 `json:"target_runs_per_s"`
	WindowS    float64 `json:"window_s"`

	Planned     float64            `json:"planned"`
	Runs        float64            `json:"runs"`        // completed (authwatch_flow_runs_total), summed over nodes
	RunStarts   float64            `json:"run_starts"`  // observations of the lateness histogram, summed over nodes
	RunsSource  string             `json:"runs_source"` // which of the two the per-run figures divide by
	RunsPerS    float64            `json:"runs_per_s"`
	Failed      float64            `json:"failed"`
	FailReasons map[string]float64 `json:"fail_reasons,omitempty"`
	Skipped     map[string]float64 `json:"skipped,omitempty"`
	LatenessP50 float64            `json:"lateness_p50_ms"`
	LatenessP99 float64            `json:"lateness_p99_ms"`
	LateNote    string             `json:"lateness_note"`

	NodeCPUS       float64 `json:"nodes_cpu_s"`
	NodeCPUPer1000 float64 `json:"nodes_cpu_s_per_1000_runs"`
	PGCPUS         float64 `json:"postgres_cpu_s"`
	PGCPUPer1000   float64 `json:"postgres_cpu_s_per_1000_runs"`
	PGCores        float64 `json:"postgres_cores"`
	NodeCores      float64 `json:"nodes_cores"`
	IdPCores       float64 `json:"idp_cores"`
	NginxCores     float64 `json:"nginx_cores"`
	MachineCores   float64 `json:"machine_busy_cores"`
	OtherCores     float64 `json:"other_cores"`

	Statements        float64     `json:"db_statements"` // pg_stat_statements calls (BEGIN and COMMIT included)
	StatementsPerRun  float64     `json:"db_statements_per_run"`
	Xacts             float64     `json:"db_transactions"` // pg_stat_database xact_commit + xact_rollback
	XactsPerRun       float64     `json:"db_transactions_per_run"`
	Rollbacks         float64     `json:"db_rollbacks"`
	RowsWrittenPerRun float64     `json:"db_rows_written_per_run"` // tup_inserted + tup_updated + tup_deleted
	ExecMSPerRun      float64     `json:"db_exec_ms_per_run"`      // pg_stat_statements total_exec_time
	TopStatements     []stmtShare `json:"top_statements"`

	PerNode []nodeFigures `json:"per_node"`
	DBBytes int64         `json:"db_bytes"`
	WallS   float64       `json:"wall_s"`

	Single  side `json:"single_sqlite"`
	Minimal side `json:"minimal"`
}

type nodeFigures struct {
	PID        int     `json:"pid"`
	Shards     int     `json:"shards"`
	Runs       float64 `json:"runs"`
	Starts     float64 `json:"run_starts"`
	Cores      float64 `json:"cores"`
	CPUS       float64 `json:"cpu_s"`
	SteadyRSS  float64 `json:"rss_mib"`
	PeakRSSMiB float64 `json:"peak_rss_vmhwm_mib"`
	StopS      float64 `json:"stop_s"`
	LogLines   int     `json:"log_lines"`
	StopErr    string  `json:"stop_error,omitempty"`
	// Warnings counts the node's WARN and ERROR lines by message.
	Warnings map[string]int `json:"warnings,omitempty"`
}

type stmtShare struct {
	Calls  float64 `json:"calls"`
	PerRun float64 `json:"per_run"`
	ExecMS float64 `json:"exec_ms"`
	Query  string  `json:"query"`
}

// benchDB is the database the nodes share; the harness reads the
// statistics from the postgres database, so its own queries are not counted.
const benchDB = "bench"

func runCluster(ctx context.Context, e *env) error {
	o := e.o
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{
		// Each node: the store's pool, the refresh-lock pool (idle here), the
		// instance lock's connection.
		MaxConnections: 40*o.clusterNodes + 20,
		Settings:       []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"},
	})
	if err != nil {
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	defer func() {
		if err := pg.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "authwatch-bench: stopping PostgreSQL:", err)
		}
	}()
	pgPID, err := pg.PostmasterPID()
	if err != nil {
		return err
	}
	version := ""
	if b, err := os.ReadFile(filepath.Join(pg.Dir, "data", "PG_VERSION")); err == nil {
		version = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: PostgreSQL %s in %s (postmaster pid %d)\n", version, pg.Dir, pgPID)
	if err := pg.Psql("postgres", "CREATE EXTENSION pg_stat_statements"); err != nil {
		return err
	}

	var results []*clusterResult
	for i, which := range o.tokens {
		tokenURL, err := e.tokenURL(which)
		if err != nil {
			return err
		}
		db := fmt.Sprintf("%s%d", benchDB, i)
		if err := pg.Psql("postgres", fmt.Sprintf("CREATE DATABASE %s", db)); err != nil {
			return err
		}
		sc := scenario{label: which, tokenURL: tokenURL, flows: o.flows, interval: o.interval, warmup: o.warmup, duration: o.duration}
		r := &clusterResult{Scenario: sc.describe(), Nodes: o.clusterNodes, Flows: o.flows, IntervalS: o.interval.Seconds(),
			TargetRate: float64(o.flows) / o.interval.Seconds(), WindowS: o.duration.Seconds()}
		results = append(results, r)
		t := time.Now()
		err = runClusterScenario(ctx, e, sc, r, pg, pgPID, db)
		r.WallS = time.Since(t).Seconds()
		if err != nil {
			fmt.Fprintf(os.Stderr, "authwatch-bench: PostgreSQL log:\n%s\n", pg.LogTail())
			return fmt.Errorf("%s: cluster: %w", sc.describe(), err)
		}
		// The single daemon on SQLite, and the minimal program, the same way.
		sr := &result{Scenario: sc.describe(), Token: which, Flows: o.flows, IntervalS: o.interval.Seconds(),
			TargetRate: r.TargetRate, WindowS: o.duration.Seconds()}
		if !o.skipDaemon {
			t := time.Now()
			err := runDaemon(ctx, e, sc, sr)
			sr.Daemon.WallS = time.Since(t).Seconds()
			if err != nil {
				return fmt.Errorf("%s: single daemon: %w", sc.describe(), err)
			}
		}
		if !o.skipMinimal {
			t := time.Now()
			err := runMinimal(ctx, e, sc, sr)
			sr.Minimal.WallS = time.Since(t).Seconds()
			if err != nil {
				return fmt.Errorf("%s: minimal: %w", sc.describe(), err)
			}
		}
		r.Single, r.Minimal = sr.Daemon, sr.Minimal
		printClusterResult(os.Stdout, r, version)
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// clusterNode is one `authwatch run` of the cluster.
type clusterNode struct {
	*target
	mem *memSampler
}

func runClusterScenario(ctx context.Context, e *env, sc scenario, r *clusterResult, pg *testenv.PostgresServer, pgPID int, db string) (err error) {
	name := "cluster-" + sc.label
	dir := filepath.Join(e.tmp, name)
	flowsDir := filepath.Join(dir, "flows")
	counts, err := writeFlows(flowsDir, sc.flows, sc.interval, sc.tokenURL, e.apiURL(), 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "authwatch-bench: %s: flows %v, %d nodes\n", name, counts, e.o.clusterNodes)
	// A secret key, as a production node has one (without it each node
	// warns at its start); these flows persist no secret.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "pg_secret_key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	var nodes []*clusterNode
	defer func() {
		for _, n := range nodes {
			if n.stop != nil {
				_, _ = n.stop()
			}
		}
	}()
	for i := range e.o.clusterNodes {
		ndir := filepath.Join(dir, fmt.Sprintf("node%d", i))
		stateDir := filepath.Join(ndir, "state")
		if err := os.MkdirAll(stateDir, 0o755); err != nil {
			return err
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		listen := fmt.Sprintf("127.0.0.1:%d", port)
		conf := fmt.Sprintf("state_dir: %s\nlisten: %s\nflows_dir: %s\nstore:\n  postgres: {dsn: %q, secret_key: \"${file:%s}\"}\ncluster: {enabled: true}\n",
			stateDir, listen, flowsDir, strings.TrimSpace(pg.DSN(db)+" "+e.o.pgParams), keyFile)
		if e.o.maxConcurrent > 0 {
			conf += fmt.Sprintf("max_concurrent: %d\n", e.o.maxConcurrent)
		}
		cfg := filepath.Join(ndir, "authwatch.yaml")
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			return err
		}
		tg, err := e.launch(ctx, e.authwatch, fmt.Sprintf("%s-node%d", name, i), ndir, cfg, flowsDir, stateDir, listen)
		if err != nil {
			return err
		}
		nodes = append(nodes, &clusterNode{target: tg, mem: sampleMemory(tg.pid, time.Second, int((sc.warmup+sc.duration).Seconds())+900)})
	}
	// The shards settle within two lease renewals (10 s) of the last start;
	// the warm-up starts once every node sees the others.
	if err := waitLiveNodes(ctx, nodes, len(nodes), 120*time.Second); err != nil {
		return err
	}
	if err := sleepCtx(ctx, sc.warmup); err != nil {
		return err
	}

	stats, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return err
	}
	defer stats.Close(context.Background())

	s0, err := scrapeNodes(ctx, nodes)
	if err != nil {
		return err
	}
	db0, err := readDBStats(ctx, stats, db)
	if err != nil {
		return err
	}
	a := clusterSnap(e, nodes, pgPID)
	if err := sleepCtx(ctx, sc.duration); err != nil {
		return err
	}
	b := clusterSnap(e, nodes, pgPID)
	db1, err := readDBStats(ctx, stats, db)
	if err != nil {
		return err
	}
	s1, err := scrapeNodes(ctx, nodes)
	if err != nil {
		return err
	}
	shards := make([]int, len(nodes))
	for i, n := range nodes {
		shards[i], _ = readyShardsOf(ctx, n.metrics)
	}

	cpuWin := b.at.Sub(a.at).Seconds()
	var starts, runs, moved float64
	latency := []bucket(nil)
	r.FailReasons, r.Skipped = map[string]float64{}, map[string]float64{}
	for i, n := range nodes {
		x0, x1 := s0[i], s1[i]
		scrapeWin := x1.at.Sub(x0.at).Seconds()
		nr := x1.sum("authwatch_flow_runs_total", nil) - x0.sum("authwatch_flow_runs_total", nil)
		ns := x1.sum("authwatch_scheduler_lateness_seconds_count", nil) - x0.sum("authwatch_scheduler_lateness_seconds_count", nil)
		runs += nr * cpuWin / scrapeWin
		starts += ns * cpuWin / scrapeWin
		moved += flowsMoved(x0, x1)
		r.Failed += x1.sum("authwatch_flow_runs_total", map[string]string{"result": "fail"}) - x0.sum("authwatch_flow_runs_total", map[string]string{"result": "fail"})
		for k, v := range deltaMap(x1.by("authwatch_flow_runs_total", "reason"), x0.by("authwatch_flow_runs_total", "reason")) {
			if k != "" {
				r.FailReasons[k] += v
			}
		}
		for k, v := range deltaMap(x1.by("authwatch_runs_skipped_total", "why"), x0.by("authwatch_runs_skipped_total", "why")) {
			r.Skipped[k] += v
		}
		latency = addBuckets(latency, histDelta(x1.histogram("authwatch_scheduler_lateness_seconds"), x0.histogram("authwatch_scheduler_lateness_seconds")))
		_, hwm, _ := memKB(n.pid)
		med, _ := steadyRSS(n.mem.snapshot(), a.at, b.at)
		r.PerNode = append(r.PerNode, nodeFigures{PID: n.pid, Shards: shards[i], Runs: nr * cpuWin / scrapeWin, Starts: ns * cpuWin / scrapeWin,
			CPUS: b.nodes[i] - a.nodes[i], Cores: (b.nodes[i] - a.nodes[i]) / cpuWin, SteadyRSS: float64(med) / mib, PeakRSSMiB: float64(hwm) / mib})
	}
	r.Runs, r.RunStarts = runs, starts
	// The per-run figures divide by the run starts (each node's lateness
	// histogram, never dropped): a node's per-flow run counters undercount,
	// since it drops the series of a flow it stops running (a moved shard),
	// and in the runs measured they also fell short without moves.
	r.RunsSource = fmt.Sprintf("run starts (lateness observations, summed over the nodes); completed runs counted %.0f (authwatch_flow_runs_total); %.0f flows changed node in the window", runs, moved)
	perRun := starts
	r.Planned = float64(sc.flows) * cpuWin / sc.interval.Seconds()
	r.RunsPerS = perRun / cpuWin
	p50, over50 := quantile(0.5, latency)
	p99, over99 := quantile(0.99, latency)
	r.LatenessP50, r.LatenessP99 = p50*1000, p99*1000
	r.LateNote = fmt.Sprintf("p50 in bucket %s, p99 in bucket %s; histograms of the %d nodes added", bucketOf(p50, latency), bucketOf(p99, latency), len(nodes))
	if over50 || over99 {
		r.LateNote += " (beyond the highest bucket)"
	}

	r.NodeCPUS = sumf(b.nodes) - sumf(a.nodes)
	r.PGCPUS = b.pg - a.pg
	r.NodeCores, r.PGCores = r.NodeCPUS/cpuWin, r.PGCPUS/cpuWin
	r.IdPCores, r.NginxCores = (b.idp-a.idp)/cpuWin, (b.ngx-a.ngx)/cpuWin
	r.MachineCores = (b.all - a.all) / cpuWin
	r.OtherCores = max(0, r.MachineCores-r.NodeCores-r.PGCores-r.IdPCores-r.NginxCores)
	if perRun > 0 {
		r.NodeCPUPer1000 = r.NodeCPUS / perRun * 1000
		r.PGCPUPer1000 = r.PGCPUS / perRun * 1000
		r.Statements = db1.calls - db0.calls
		r.StatementsPerRun = r.Statements / perRun
		r.Xacts = (db1.commits + db1.rollbacks) - (db0.commits + db0.rollbacks)
		r.Rollbacks = db1.rollbacks - db0.rollbacks
		r.XactsPerRun = r.Xacts / perRun
		r.RowsWrittenPerRun = (db1.rowsWritten - db0.rowsWritten) / perRun
		r.ExecMSPerRun = (db1.execMS - db0.execMS) / perRun
		r.TopStatements = topStatements(db0, db1, perRun, 12)
	}

	for i, n := range nodes {
		took, err := n.stop()
		n.stop = nil
		r.PerNode[i].StopS = took.Seconds()
		n.mem.finish()
		if err != nil {
			// Reported with the figures, which are measured already.
			r.PerNode[i].StopErr = err.Error()
		}
		if b, err := os.ReadFile(n.logPath); err == nil {
			r.PerNode[i].LogLines = bytes.Count(b, []byte("\n"))
			r.PerNode[i].Warnings = warningsByMessage(string(b))
		}
	}
	var size int64
	if err := stats.QueryRow(ctx, "SELECT pg_database_size($1)", db).Scan(&size); err == nil {
		r.DBBytes = size
	}
	return nil
}

// clusterSnapshot is the CPU of the nodes, PostgreSQL and the rest at one
// moment.
type clusterSnapshot struct {
	at                time.Time
	nodes             []float64
	pg, idp, ngx, all float64
}

func clusterSnap(e *env, nodes []*clusterNode, pgPID int) clusterSnapshot {
	s := clusterSnapshot{at: time.Now()}
	for _, n := range nodes {
		c, _ := cpuSeconds(n.pid)
		s.nodes = append(s.nodes, c)
	}
	s.pg = treeCPU(pgPID)
	s.idp, _ = cpuSeconds(e.idp.pid())
	s.ngx = groupCPU(e.ngxPIDs)
	s.all, _ = machineCPU()
	return s
}

// treeCPU is the CPU of pid and its children: its own, that of its children
// it has reaped (cutime and cstime: PostgreSQL backends that ended), and that
// of its live children (the backends of the open connections). A backend
// that ends between two samples moves from the third term to the second.
func treeCPU(pid int) float64 {
	own, _ := cpuSeconds(pid)
	return own + reapedCPU(pid) + groupCPU(children(pid))
}

// reapedCPU is cutime+cstime of pid (fields 16 and 17): the CPU of its
// children it has waited for.
func reapedCPU(pid int) float64 {
	t, _ := statSeconds(pid, 16, 17)
	return t
}

func sumf(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t
}

// addBuckets adds two cumulative histograms with the same bounds.
func addBuckets(a, b []bucket) []bucket {
	if a == nil {
		return append([]bucket(nil), b...)
	}
	out := append([]bucket(nil), a...)
	for i := range out {
		for _, y := range b {
			if y.le == out[i].le {
				out[i].count += y.count
			}
		}
	}
	return out
}

// flowsMoved counts the flows whose run counter is in one scrape and not
// the other: flows that came to or left the node.
func flowsMoved(a, b *scrape) float64 {
	flows := func(s *scrape) map[string]bool {
		m := map[string]bool{}
		for _, x := range s.samples {
			if x.name == "authwatch_flow_runs_total" {
				m[x.labels["flow"]] = true
			}
		}
		return m
	}
	fa, fb := flows(a), flows(b)
	n := 0.0
	for f := range fa {
		if !fb[f] {
			n++
		}
	}
	for f := range fb {
		if !fa[f] {
			n++
		}
	}
	return n
}

func scrapeNodes(ctx context.Context, nodes []*clusterNode) ([]*scrape, error) {
	out := make([]*scrape, len(nodes))
	for i, n := range nodes {
		s, err := getMetrics(ctx, n.metrics)
		if err != nil {
			return nil, fmt.Errorf("node %d /metrics: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

var (
	readyLive   = regexp.MustCompile(`"live_nodes":\s*(\d+)`)
	readyShards = regexp.MustCompile(`"shards":\s*(\d+)`)
)

// readyz is a node's /readyz body.
func readyz(ctx context.Context, base string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return 0, "", err
	}
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// readyShardsOf is how many shards the node holds, from its /readyz.
func readyShardsOf(ctx context.Context, base string) (int, error) {
	_, body, err := readyz(ctx, base)
	if err != nil {
		return 0, err
	}
	m := readyShards.FindStringSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("/readyz without shards: %s", body)
	}
	return strconv.Atoi(m[1])
}

// waitLiveNodes waits, at most limit, until every node answers /readyz 200
// seeing want live nodes and holding at least one shard.
func waitLiveNodes(ctx context.Context, nodes []*clusterNode, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last := ""
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		ok := true
		for _, n := range nodes {
			code, body, err := readyz(ctx, n.metrics)
			m := readyLive.FindStringSubmatch(body)
			s := readyShards.FindStringSubmatch(body)
			if err != nil || code != 200 || m == nil || m[1] != strconv.Itoa(want) || s == nil || s[1] == "0" {
				ok, last = false, fmt.Sprintf("%d %s %v", code, strings.TrimSpace(body), err)
				break
			}
		}
		if ok {
			return nil
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("the %d nodes did not all see each other and hold shards within %s (last /readyz: %s)", want, limit, last)
}

// dbStats are PostgreSQL's counters for the nodes' database.
type dbStats struct {
	calls, execMS                   float64
	commits, rollbacks, rowsWritten float64
	byQuery                         map[int64]stmtShare
}

func readDBStats(ctx context.Context, c *pgx.Conn, db string) (dbStats, error) {
	s := dbStats{byQuery: map[int64]stmtShare{}}
	// pg_stat_database is flushed by each backend at most once a second;
	// the window is long enough for that not to matter.
	err := c.QueryRow(ctx, `SELECT xact_commit, xact_rollback, tup_inserted + tup_updated + tup_deleted
		FROM pg_stat_database WHERE datname = $1`, db).Scan(&s.commits, &s.rollbacks, &s.rowsWritten)
	if err != nil {
		return s, fmt.Errorf("pg_stat_database: %w", err)
	}
	rows, err := c.Query(ctx, `SELECT queryid, sum(calls)::float8, sum(total_exec_time)::float8, min(query)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)
		GROUP BY queryid`, db)
	if err != nil {
		return s, fmt.Errorf("pg_stat_statements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var x stmtShare
		if err := rows.Scan(&id, &x.Calls, &x.ExecMS, &x.Query); err != nil {
			return s, err
		}
		s.calls += x.Calls
		s.execMS += x.ExecMS
		s.byQuery[id] = x
	}
	return s, rows.Err()
}

var spaces = regexp.MustCompile(`\s+`)

// topStatements are the n statements called most in the window.
func topStatements(a, b dbStats, runs float64, n int) []stmtShare {
	var out []stmtShare
	for id, y := range b.byQuery {
		x := a.byQuery[id]
		d := stmtShare{Calls: y.Calls - x.Calls, ExecMS: y.ExecMS - x.ExecMS, Query: spaces.ReplaceAllString(y.Query, " ")}
		if d.Calls <= 0 {
			continue
		}
		d.PerRun = d.Calls / runs
		if len(d.Query) > 110 {
			d.Query = d.Query[:110] + "…"
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func printClusterResult(w io.Writer, r *clusterResult, pgVersion string) {
	s, m := r.Single, r.Minimal
	fmt.Fprintf(w, "\n### %d nodes on one PostgreSQL %s: %s (target %.0f runs/s, window %.0f s)\n\n", r.Nodes, pgVersion, r.Scenario, r.TargetRate, r.WindowS)
	fmt.Fprintf(w, "| | %d nodes, PostgreSQL | single daemon, SQLite | minimal Go client |\n", r.Nodes)
	fmt.Fprintln(w, "|---|---|---|---|")
	row := func(name, a, b, c string) {
		if s.WallS == 0 {
			b = "not run"
		}
		if m.WallS == 0 {
			c = "not run"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, a, b, c)
	}
	per := func(cpu, runs float64) string {
		if runs <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f", cpu/runs*1000)
	}
	row("runs achieved / planned", fmt.Sprintf("%.0f started / %.0f", r.RunStarts, r.Planned), fmt.Sprintf("%.0f / %.0f", s.Runs, s.Planned), fmt.Sprintf("%.0f / %.0f", m.Runs, m.Planned))
	row("completed runs counted (authwatch_flow_runs_total)", fmt.Sprintf("%.0f", r.Runs), "", "")
	row("runs/s", fmt.Sprintf("%.1f", r.RunsPerS), fmt.Sprintf("%.1f", s.RunsPerS), fmt.Sprintf("%.1f", m.RunsPerS))
	row("failed runs", fmtMap(r.FailReasons), fmtMap(s.FailReasons), fmtMap(m.FailReasons))
	row("skipped runs", fmtMap(r.Skipped), fmtMap(s.Skipped), fmtMap(m.Skipped))
	row("lateness p50 / p99", fmt.Sprintf("%.1f / %.1f ms", r.LatenessP50, r.LatenessP99), fmt.Sprintf("%.1f / %.1f ms", s.LatenessP50, s.LatenessP99),
		fmt.Sprintf("%.1f / %.1f ms (exact)", m.LatenessP50, m.LatenessP99))
	total := r.NodeCPUPer1000 + r.PGCPUPer1000
	row("CPU s per 1,000 runs: authwatch", fmt.Sprintf("%.3f (nodes summed)", r.NodeCPUPer1000), fmt.Sprintf("%.3f", s.CPUPer1000), fmt.Sprintf("%.3f", m.CPUPer1000))
	row("CPU s per 1,000 runs: PostgreSQL", fmt.Sprintf("%.3f", r.PGCPUPer1000), "(in the daemon)", "")
	row("CPU s per 1,000 runs: total (ratio to single)", fmt.Sprintf("%.3f (%s)", total, fmtRatio(total, s.CPUPer1000)), fmt.Sprintf("%.3f", s.CPUPer1000), fmt.Sprintf("%.3f (%s)", m.CPUPer1000, fmtRatio(m.CPUPer1000, s.CPUPer1000)))
	row("CPU (cores): authwatch / PostgreSQL", fmt.Sprintf("%.3f / %.3f", r.NodeCores, r.PGCores), fmt.Sprintf("%.3f", s.Cores), fmt.Sprintf("%.3f", m.Cores))
	row("DB statements per run (pg_stat_statements calls)", fmt.Sprintf("%.2f", r.StatementsPerRun), "", "")
	row("DB transactions per run (pg_stat_database)", fmt.Sprintf("%.2f (%.0f rollbacks)", r.XactsPerRun, r.Rollbacks), "", "")
	row("DB rows written per run", fmt.Sprintf("%.2f", r.RowsWrittenPerRun), "", "")
	row("DB execution time per run", fmt.Sprintf("%.3f ms", r.ExecMSPerRun), "", "")
	row("IdP / nginx (cores)", fmt.Sprintf("%.2f / %.2f", r.IdPCores, r.NginxCores), fmt.Sprintf("%.2f / %.2f", s.IdPCores, s.NginxCores), fmt.Sprintf("%.2f / %.2f", m.IdPCores, m.NginxCores))
	row("machine busy / other processes (cores)", fmt.Sprintf("%.2f / %.2f", r.MachineCores, r.OtherCores), fmt.Sprintf("%.2f / %.2f", s.MachineCores, s.OtherCores), fmt.Sprintf("%.2f / %.2f", m.MachineCores, m.OtherCores))
	row("steady RSS", nodeList(r.PerNode, func(n nodeFigures) string { return fmt.Sprintf("%.0f", n.SteadyRSS) })+" MiB", fmt.Sprintf("%.0f MiB", s.SteadyRSSMiB), fmt.Sprintf("%.0f MiB", m.SteadyRSSMiB))
	if r.DBBytes > 0 || s.DBBytes > 0 {
		row("database after the run", fmt.Sprintf("%.1f MiB", float64(r.DBBytes)/mib/mib), fmt.Sprintf("%.1f MiB", float64(s.DBBytes)/mib/mib), "")
	}
	row("wall time", fmt.Sprintf("%.0f s", r.WallS), fmt.Sprintf("%.0f s", s.WallS), fmt.Sprintf("%.0f s", m.WallS))
	fmt.Fprintf(w, "\nPer run: %s. Lateness: %s.\n\n", r.RunsSource, r.LateNote)
	fmt.Fprintln(w, "| node | shards at the end | runs completed / started in window | cores | CPU s per 1,000 runs started | steady / peak RSS | SIGTERM to exit | log lines |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for i, n := range r.PerNode {
		fmt.Fprintf(w, "| %d (pid %d) | %d | %.0f / %.0f | %.3f | %s | %.0f / %.0f MiB | %.2f s | %d |\n", i, n.PID, n.Shards, n.Runs, n.Starts, n.Cores,
			per(n.CPUS, n.Starts), n.SteadyRSS, n.PeakRSSMiB, n.StopS, n.LogLines)
	}
	for i, n := range r.PerNode {
		if n.StopErr != "" {
			fmt.Fprintf(w, "\nnode %d stopped with an error: %s\n", i, n.StopErr)
		}
		if len(n.Warnings) > 0 {
			fmt.Fprintf(w, "\nnode %d warnings (whole life): %s\n", i, topMessages(n.Warnings, 4))
		}
	}
	fmt.Fprintln(w, "\n| statement (pg_stat_statements, the window's most called) | calls | per run | exec ms |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, st := range r.TopStatements {
		fmt.Fprintf(w, "| `%s` | %.0f | %.3f | %.0f |\n", strings.ReplaceAll(st.Query, "|", `\|`), st.Calls, st.PerRun, st.ExecMS)
	}
}

// warningsByMessage counts slog's WARN and ERROR lines by their msg.
func warningsByMessage(log string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out[logMsg(line)]++
		}
	}
	return out
}

// topMessages lists the n most frequent messages with their counts.
func topMessages(m map[string]int, n int) string {
	type kv struct {
		msg string
		n   int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].msg < all[j].msg })
	var parts []string
	for i, x := range all {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more", len(all)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%q ×%d", x.msg, x.n))
	}
	return strings.Join(parts, "; ")
}

func nodeList(ns []nodeFigures, f func(nodeFigures) string) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = f(n)
	}
	return strings.Join(parts, " / ")
}
