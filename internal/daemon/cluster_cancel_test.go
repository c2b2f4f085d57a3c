package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/cluster"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// hangingTarget holds every request until released is closed, the
// request's context ends (the client gave up: the connection closed) or
// two minutes pass. It announces each arrival, and each request whose
// context ended, on its channels.
type hangingTarget struct {
	arrived, cancelled chan struct{}
	released           chan struct{}
	mu                 sync.Mutex
	requests           int
}

func (h *hangingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests++
	h.mu.Unlock()
	h.arrived <- struct{}{}
	select {
	case <-h.released:
	case <-r.Context().Done():
		h.cancelled <- struct{}{}
	case <-time.After(2 * time.Minute):
	}
}

// startHangingClusterNode starts a cluster node on dsn with one flow,
// hang, every 2 s with a timeout of 2 min, whose target hangs; it returns
// once the flow's first request has arrived.
func startHangingClusterNode(t *testing.T, ctx context.Context, dsn string) (*e2eDaemon, *hangingTarget) {
	t.Helper()
	target := &hangingTarget{arrived: make(chan struct{}, 10), cancelled: make(chan struct{}, 10), released: make(chan struct{})}
	srv := httptest.NewServer(target)
	t.Cleanup(srv.Close)
	flow := fmt.Sprintf(`name: hang
every: 2s
timeout: 2m
steps:
  - id: call
    kind: http
    url: %q
    expect: {status: 200}
`, srv.URL+"/hang")
	d := e2eStart(t, map[string]string{"hang.yaml": flow}, e2eOptions{configure: func(c *config.Config) {
		c.Store.Postgres = &config.PostgresConfig{DSN: conf.NewTemplate(dsn)}
		c.Cluster.Enabled = true
	}})
	t.Cleanup(func() { close(target.released) }) // before the daemon stops (cleanups run last first)

	select {
	case <-target.arrived:
	case <-ctx.Done():
		t.Fatal("the run did not reach the target")
	}
	return d, target
}

// claimShardFrom makes another member, b, claim flow's shard from the
// node d once its lease has expired (the expiry forced in the database:
// what 15 s without a renewal does), and keeps b renewing it until the
// test ends. It returns a store on dsn and the shard.
func claimShardFrom(t *testing.T, ctx context.Context, dsn string, d *e2eDaemon, flow string) (*postgres.Store, int) {
	t.Helper()
	other, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	shard, node := cluster.ShardOf(flow), d.m.cluster.Node()
	b := cluster.New(other, cluster.Options{Node: "b"})
	for attempt := 0; ; attempt++ {
		if _, err := admin.Exec(ctx, `UPDATE shard_lease SET claimed_until = now() - interval '1 second'
			WHERE location = $1 AND shard = $2 AND node = $3`, cluster.DefaultLocation, shard, node); err != nil {
			t.Fatal(err)
		}
		g, err := b.Cycle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := g.Held[shard]; ok {
			break
		}
		if attempt == 20 { // the node renewed it in between every time
			t.Fatalf("b did not claim shard %d: %+v", shard, g)
		}
	}
	var wg sync.WaitGroup
	bctx, stopB := context.WithCancel(ctx)
	t.Cleanup(func() { stopB(); wg.Wait() })
	wg.Go(func() { b.Run(bctx) }) // b keeps the shard
	return other, shard
}

func (h *hangingTarget) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// TestClusterRunCancelledWhenShardLost: a cluster node's run hangs on its
// target when another node claims the flow's shard (its lease expired
// meanwhile, as for a node paused or cut from the database). At its next
// lease cycle the node sees the shard gone and cancels the run: the
// target sees the request's context end (the connection closed) long
// before the run's timeout, the run leaves no record (it was not the
// flow's result), the log says "run of hang cancelled: shard N lost" and
// authwatch_runs_skipped_total{why="lease_lost"} counts it. Before runs
// were cancelled, the request hung until the run's timeout (2 min) while
// the other node could call the target too.
func TestClusterRunCancelledWhenShardLost(t *testing.T) {
	if testing.Short() {
		t.Skip("real PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "cancel")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	d, target := startHangingClusterNode(t, ctx, dsn)

	other, shard := claimShardFrom(t, ctx, dsn, d, "hang")

	select {
	case <-target.cancelled:
	case <-time.After(60 * time.Second):
		t.Fatalf("the target's request was not cancelled after the node lost shard %d", shard)
	}
	want := fmt.Sprintf("run of hang cancelled: shard %d lost", shard)
	e2eWaitFor(t, 30*time.Second, "the log line "+want, func() bool { return strings.Contains(d.log.String(), want) })
	e2eWaitFor(t, 30*time.Second, "the skip counted", func() bool {
		v, _ := e2eMetric(d.metrics(), "authwatch_runs_skipped_total", `flow="hang",location="default",why="lease_lost"`)
		return v == 1
	})
	if runs := d.runs("hang"); len(runs) != 0 {
		t.Errorf("the cancelled run left %d records: %+v", len(runs), runs)
	}
	if runs, err := other.Runs(ctx, "hang", 0); err != nil || len(runs) != 0 {
		t.Errorf("runs of hang in PostgreSQL: %d, %v; want none", len(runs), err)
	}
	if st, ok := d.flowState("hang"); ok {
		t.Errorf("the cancelled run made a flow state: %+v", st)
	}
	if n := target.count(); n != 1 {
		t.Errorf("the target got %d requests, want the one cancelled", n)
	}
}

// TestClusterRunCancelledWhenCutFromDatabase: a cluster node whose
// sessions are terminated (its role loses LOGIN, pg_terminate_backend)
// cannot renew its leases; at the lapse (Lease - Margin, 10 s, after its
// last renewal began) it cancels the run hanging on its target, while its
// lease on the flow's shard is still valid on the server: no other node
// could have claimed the shard and called the target yet. The run leaves
// no record and is logged as cancelled.
func TestClusterRunCancelledWhenCutFromDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("real PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	const db = "cut"
	pg.CreateDatabase(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `CREATE ROLE node LOGIN SUPERUSER`); err != nil {
		t.Fatal(err)
	}
	d, target := startHangingClusterNode(t, ctx, fmt.Sprintf("host=%s user=node dbname=%s sslmode=disable", pg.Dir, db))

	if _, err := admin.Exec(ctx, `ALTER ROLE node NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		tag, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'node'`)
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() == 0 {
			break
		}
		if attempt == 100 {
			t.Fatal("the node's sessions keep coming back")
		}
	}

	select {
	case <-target.cancelled:
	case <-time.After(60 * time.Second):
		t.Fatal("the target's request was not cancelled after the node was cut from the database")
	}
	var valid bool
	if err := admin.QueryRow(ctx, `SELECT claimed_until > now() FROM shard_lease WHERE location = $1 AND shard = $2 AND node = $3`,
		cluster.DefaultLocation, cluster.ShardOf("hang"), d.m.cluster.Node()).Scan(&valid); err != nil {
		t.Fatal(err)
	}
	if !valid {
		t.Error("the run was cancelled after its node's lease had ended on the server")
	}
	want := fmt.Sprintf("run of hang cancelled: shard %d lost", cluster.ShardOf("hang"))
	e2eWaitFor(t, 30*time.Second, "the log line "+want, func() bool { return strings.Contains(d.log.String(), want) })
	other, err := postgres.Open(ctx, pg.DSN(db), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if runs, err := other.Runs(ctx, "hang", 0); err != nil || len(runs) != 0 {
		t.Errorf("runs of hang in PostgreSQL: %d, %v; want none", len(runs), err)
	}
	if n := target.count(); n != 1 {
		t.Errorf("the target got %d requests, want the one cancelled", n)
	}
}
