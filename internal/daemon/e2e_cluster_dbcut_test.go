package daemon

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/testenv"
)

// TestE2EClusterDatabaseRestartAndNodeCut: three real `authwatch run`
// nodes, each connecting as its own PostgreSQL role, run 40 flows every
// second against a target that counts the calls of each flow and who made
// them (40, not 12: a node's share of the 64 shards must hold some flow,
// and with 12 a node that claimed 20 shards held none about once in a
// hundred runs, (44/64)^12). PostgreSQL is restarted (pg_ctl restart: every session ends): the
// nodes reconnect and every flow runs again, each node ready again. Then
// one node is cut from the database (its role loses LOGIN and its
// sessions are terminated, repeatedly, until it has none): it stops
// running flows and says so (the log line "cluster: lease lost", /readyz
// 503), the two others run every flow, its own included; given its login
// back, it is ready and runs flows again. Throughout, no flow is called by
// two nodes within half an interval (no double run).
func TestE2EClusterDatabaseRestartAndNodeCut(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	const db = "dbcut"
	pg.CreateDatabase(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// exec runs a statement on a connection of its own (one made before a
	// restart would be gone after it).
	exec := func(q string, args ...any) int64 {
		t.Helper()
		conn, err := pgx.Connect(ctx, pg.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tag, err := conn.Exec(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return tag.RowsAffected()
	}
	names := []string{"n0", "n1", "n2"}
	for _, n := range names {
		exec(fmt.Sprintf(`CREATE ROLE %s LOGIN SUPERUSER`, n))
	}
	hits := &clusterHits{by: map[string][]clusterHit{}}
	target := httptest.NewServer(hits)
	t.Cleanup(target.Close)
	bin := pgBuild(t, t.TempDir())
	files := map[string]string{}
	var flows []string
	for i := range 40 {
		name := fmt.Sprintf("c%02d", i)
		flows = append(flows, name)
		files[name+".yaml"] = clusterFlow(name, target.URL)
	}
	nodes := map[string]*pgProc{}
	for _, n := range names {
		dsn := fmt.Sprintf("host=%s user=%s dbname=%s sslmode=disable", pg.Dir, n, db)
		cfg, _ := pgSetup(t, t.TempDir(), fmt.Sprintf("store:\n  postgres: {dsn: %q}\ncluster: {enabled: true}\n", dsn), files)
		nodes[n] = pgStartProc(t, bin, cfg, map[string]string{"AW_NODE": n})
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				for n, p := range nodes {
					t.Logf("node %s log:\n%s", n, p.out.String())
				}
				t.Fatalf("not within %s: %s", limit, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// everyFlowSince: every flow called after since, by a node of by.
	everyFlowSince := func(since time.Time, by ...string) func() bool {
		return func() bool {
			h := hits.snapshot()
			for _, f := range flows {
				if !slices.ContainsFunc(h[f], func(x clusterHit) bool { return x.at.After(since) && slices.Contains(by, x.node) }) {
					return false
				}
			}
			return true
		}
	}
	ready := func(n string) bool { code, _ := nodes[n].get("/readyz"); return code == 200 }
	waitFor("every flow run, on all three nodes", 60*time.Second, func() bool {
		h := hits.snapshot()
		by := map[string]bool{}
		for _, f := range flows {
			if len(h[f]) == 0 {
				return false
			}
			by[h[f][len(h[f])-1].node] = true
		}
		return len(by) == 3
	})

	// PostgreSQL restarted.
	pg.Restart(t)
	restarted := time.Now()
	waitFor("every flow run after the restart", 90*time.Second, everyFlowSince(restarted, names...))
	waitFor("every node ready after the restart", 60*time.Second, func() bool {
		return ready("n0") && ready("n1") && ready("n2")
	})
	t.Logf("after the restart: every flow ran again and every node is ready after %s", time.Since(restarted).Round(time.Millisecond))

	// n2 cut from the database.
	const cut = "n2"
	exec(fmt.Sprintf(`ALTER ROLE %s NOLOGIN`, cut))
	terminated := int64(0)
	waitFor(cut+" has no session left", 30*time.Second, func() bool {
		n := exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, cut)
		terminated += n
		return n == 0
	})
	waitFor(cut+" says its lease is lost", 60*time.Second, func() bool {
		return strings.Contains(nodes[cut].out.String(), "cluster: lease lost")
	})
	lapsed := time.Now()
	code, body := nodes[cut].get("/readyz")
	if code != 503 {
		t.Errorf("/readyz of the cut node: %d %s, want 503", code, body)
	}
	t.Logf("cut node: %d sessions terminated; /readyz %d %s", terminated, code, body)
	waitFor("every flow run by the two others after the cut", 60*time.Second, everyFlowSince(lapsed, "n0", "n1"))
	if !ready("n0") || !ready("n1") {
		t.Errorf("the nodes still connected are not ready")
	}
	late := 0
	for _, hs := range hits.snapshot() {
		for _, x := range hs {
			if x.node == cut && x.at.After(lapsed) {
				late++
			}
		}
	}
	if late > len(flows) { // at most the runs already under way at the lapse
		t.Errorf("the cut node made %d calls after it said its lease was lost", late)
	}

	// Its login back: it is ready and runs flows again.
	exec(fmt.Sprintf(`ALTER ROLE %s LOGIN`, cut))
	back := time.Now()
	waitFor(cut+" ready again", 90*time.Second, func() bool { return ready(cut) })
	waitFor(cut+" runs flows again", 60*time.Second, func() bool {
		for _, hs := range hits.snapshot() {
			if slices.ContainsFunc(hs, func(x clusterHit) bool { return x.node == cut && x.at.After(back) }) {
				return true
			}
		}
		return false
	})

	doubles, calls := 0, 0
	for f, hs := range hits.snapshot() {
		calls += len(hs)
		for i := 1; i < len(hs); i++ {
			if hs[i].at.Sub(hs[i-1].at) < 500*time.Millisecond && hs[i].node != hs[i-1].node {
				doubles++
				t.Errorf("flow %s: called by %s and %s %s apart: a double run", f, hs[i-1].node, hs[i].node, hs[i].at.Sub(hs[i-1].at))
			}
		}
	}
	t.Logf("database restarted and a node cut: %d calls, double runs %d; the cut node's late calls %d", calls, doubles, late)
}
