package main

import (
	"context"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/testenv"
)

// TestAddBuckets: the nodes' lateness histograms are added bucket by bucket,
// so the quantile is that of all the runs.
func TestAddBuckets(t *testing.T) {
	a := []bucket{{0.001, 90}, {0.01, 99}, {math.Inf(1), 100}}
	b := []bucket{{0.001, 0}, {0.01, 0}, {math.Inf(1), 100}} // every run of b later than 10 ms
	sum := addBuckets(addBuckets(nil, a), b)
	want := []bucket{{0.001, 90}, {0.01, 99}, {math.Inf(1), 200}}
	for i := range want {
		if sum[i] != want[i] {
			t.Fatalf("sum %v; want %v", sum, want)
		}
	}
	if a[2].count != 100 {
		t.Fatalf("addBuckets changed its input: %v", a)
	}
	if p50, over := quantile(0.5, sum); !over || p50 != 0.01 {
		t.Fatalf("p50 of the sum %v (over %v); want beyond the highest bucket, 10 ms", p50, over)
	}
}

// TestFlowsMoved counts the flows whose counters came to or left a node
// between two scrapes: the per-run figures then divide by the run starts.
func TestFlowsMoved(t *testing.T) {
	s := func(flows ...string) *scrape {
		x := &scrape{}
		for _, f := range flows {
			x.samples = append(x.samples, sample{name: "authwatch_flow_runs_total", labels: map[string]string{"flow": f, "result": "pass"}, value: 3},
				sample{name: "authwatch_flow_up", labels: map[string]string{"flow": f + "-other"}, value: 1})
		}
		return x
	}
	if n := flowsMoved(s("a", "b"), s("a", "b")); n != 0 {
		t.Errorf("same flows: %v moved", n)
	}
	if n := flowsMoved(s("a", "b"), s("b", "c")); n != 2 {
		t.Errorf("a left, c came: %v moved; want 2", n)
	}
}

// TestTreeCPU: the CPU of a process's children it has waited for counts
// (a PostgreSQL backend that ended in the window).
func TestTreeCPU(t *testing.T) {
	before := reapedCPU(os.Getpid())
	// About 0.3 s of CPU in a child, waited for; bounded by its count.
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if after := reapedCPU(os.Getpid()); after <= before {
		t.Fatalf("reaped CPU %v after a child that computed, %v before", after, before)
	}
	if c := treeCPU(os.Getpid()); c < reapedCPU(os.Getpid()) {
		t.Fatalf("treeCPU %v < reaped %v", c, reapedCPU(os.Getpid()))
	}
}

// TestReadDBStats counts the statements, transactions and rows written of
// one database on a real PostgreSQL with pg_stat_statements, as the cluster
// mode does, and not those of the database the harness reads from.
func TestReadDBStats(t *testing.T) {
	if testing.Short() {
		t.Skip("a real PostgreSQL")
	}
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{Settings: []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"}})
	if err != nil {
		if os.Getenv("CI") == "" && strings.Contains(err.Error(), "initdb not found") {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	defer func() {
		if err := pg.Close(); err != nil {
			t.Error(err)
		}
	}()
	for _, sql := range []string{"CREATE EXTENSION pg_stat_statements", "CREATE DATABASE counted"} {
		if err := pg.Psql("postgres", sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := pg.Psql("counted", "CREATE TABLE t (id int primary key, v int)"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stats, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close(ctx)
	a, err := readDBStats(ctx, stats, "counted")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, pg.DSN("counted"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1, $1)", i); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "UPDATE t SET v = v + 1 WHERE id = $1", i); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A backend reports its transactions to pg_stat_database when it is
	// idle or ends: end it.
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var b dbStats
	for range 100 { // pg_stat_database is updated after the session's end: bounded wait
		if b, err = readDBStats(ctx, stats, "counted"); err != nil {
			t.Fatal(err)
		}
		if b.commits-a.commits >= 10 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := b.calls - a.calls; d != 40 { // BEGIN, INSERT, UPDATE, COMMIT × 10
		t.Errorf("statements %v; want 40", d)
	}
	if d := b.commits - a.commits; d < 10 || d > 11 {
		t.Errorf("transactions %v; want 10 (11 with the connection's setup)", d)
	}
	if d := b.rowsWritten - a.rowsWritten; d != 20 {
		t.Errorf("rows written %v; want 20", d)
	}
	top := topStatements(a, b, 10, 2)
	if len(top) != 2 || top[0].Calls != 10 || top[0].PerRun != 1 {
		t.Errorf("top statements %+v; want 2 of 10 calls, 1 per run", top)
	}
}

// TestWarningsByMessage counts a node's WARN and ERROR lines by message (the
// report names why runs were lost: leases, store errors).
func TestWarningsByMessage(t *testing.T) {
	log := `time=2026-12-07T06:39:24Z level=WARN msg="run discarded: the flow's shard moved to another node while it ran" flow=a` + "\n" +
		`time=2026-12-07T06:39:25Z level=INFO msg="flow passing" flow=b` + "\n" +
		`time=2026-12-07T06:39:40Z level=ERROR msg="cluster: lease lost: no renewal for 10s; not running flows until the database answers" node=n` + "\n" +
		`time=2026-12-07T06:39:41Z level=WARN msg="run discarded: the flow's shard moved to another node while it ran" flow=c` + "\n"
	got := warningsByMessage(log)
	if len(got) != 2 || got["run discarded: the flow's shard moved to another node while it ran"] != 2 ||
		got["cluster: lease lost: no renewal for 10s; not running flows until the database answers"] != 1 {
		t.Fatalf("got %v", got)
	}
	if s := topMessages(got, 1); s != `"run discarded: the flow's shard moved to another node while it ran" ×2; 1 more` {
		t.Fatalf("topMessages: %s", s)
	}
}
