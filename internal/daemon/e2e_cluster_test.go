package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/testenv"
)

// clusterHits records, per flow, when the target was called and by which
// node (the X-Node header each node sends from its own environment).
type clusterHits struct {
	mu sync.Mutex
	by map[string][]clusterHit
}

type clusterHit struct {
	at   time.Time
	node string
}

func (h *clusterHits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	flow := strings.TrimPrefix(r.URL.Path, "/")
	h.by[flow] = append(h.by[flow], clusterHit{time.Now(), r.Header.Get("X-Node")})
}

func (h *clusterHits) snapshot() map[string][]clusterHit {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]clusterHit, len(h.by))
	for f, hs := range h.by {
		out[f] = slices.Clone(hs)
	}
	return out
}

func clusterFlow(name, target string) string {
	return fmt.Sprintf(`name: %s
every: 1s
timeout: 5s
steps:
  - id: call
    kind: http
    url: %q
    headers: {X-Node: "${env:AW_NODE}"}
    expect: {status: 200}
`, name, target+"/"+name)
}

// failoverKillsEnv sets how many SIGKILLs TestE2EClusterFailover makes: 3 by
// default (CI), 10 for the failover figure of docs/cluster.md.
const failoverKillsEnv = "AUTHWATCH_FAILOVER_KILLS"

// failoverKills reads failoverKillsEnv; a bad value fails the test rather
// than silently running the default.
func failoverKills(t testing.TB) int {
	t.Helper()
	n, err := parseFailoverKills(os.Getenv(failoverKillsEnv))
	if err != nil {
		t.Fatalf("%s: %v", failoverKillsEnv, err)
	}
	return n
}

// parseFailoverKills: "" is 3; otherwise a whole number from 1 to 50 (each
// kill waits up to 45 s).
func parseFailoverKills(v string) (int, error) {
	if v == "" {
		return 3, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 50 {
		return 0, fmt.Errorf("%q: want a whole number of kills from 1 to 50", v)
	}
	return n, nil
}

func TestParseFailoverKills(t *testing.T) {
	for v, want := range map[string]int{"": 3, "10": 10, "1": 1, "50": 50} {
		if n, err := parseFailoverKills(v); err != nil || n != want {
			t.Errorf("parseFailoverKills(%q) = %d, %v; want %d", v, n, err, want)
		}
	}
	for _, v := range []string{"0", "-1", "51", "ten", "3.5", " 3"} {
		if n, err := parseFailoverKills(v); err == nil {
			t.Errorf("parseFailoverKills(%q) = %d; want an error", v, n)
		}
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// TestE2EClusterFailover: three real `authwatch run` processes on one
// PostgreSQL (cluster.enabled), 16 flows every second against one target
// that counts the calls of each flow and who made them. Each flow runs on
// one node: no two calls of a flow from different nodes within half an
// interval (a double run), through SIGKILLs of the node running the most
// flows (3, or AUTHWATCH_FAILOVER_KILLS; each victim replaced by a new node,
// so shards move at the kill and again when the newcomer takes its share);
// after each kill the victim's flows resume from other nodes within the
// lease time plus one interval (figures: failover p50/max, logged;
// docs/benchmarks.md "Cluster failover").
func TestE2EClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and PostgreSQL")
	}
	kills := failoverKills(t)
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "cluster")
	hits := &clusterHits{by: map[string][]clusterHit{}}
	target := httptest.NewServer(hits)
	t.Cleanup(target.Close)
	bin := pgBuild(t, t.TempDir())
	const nFlows = 16
	files := map[string]string{}
	var names []string
	for i := range nFlows {
		name := fmt.Sprintf("f%02d", i)
		names = append(names, name)
		files[name+".yaml"] = clusterFlow(name, target.URL)
	}
	cfgBody := fmt.Sprintf("store:\n  postgres: {dsn: %q}\ncluster: {enabled: true}\n", dsn)
	nodes := map[string]*pgProc{}
	start := func(name string) {
		cfg, _ := pgSetup(t, t.TempDir(), cfgBody, files)
		nodes[name] = pgStartProc(t, bin, cfg, map[string]string{"AW_NODE": name})
	}
	for _, n := range []string{"n0", "n1", "n2"} {
		start(n)
	}
	waitHits := func(what string, limit time.Duration, cond func(map[string][]clusterHit) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond(hits.snapshot()) {
			if time.Now().After(deadline) {
				for n, p := range nodes {
					t.Logf("node %s log:\n%s", n, p.out.String())
				}
				t.Fatalf("not within %s: %s", limit, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitHits("every flow called 3 times", 60*time.Second, func(h map[string][]clusterHit) bool {
		for _, f := range names {
			if len(h[f]) < 3 {
				return false
			}
		}
		return true
	})
	waitHits("the flows spread over the 3 nodes", 60*time.Second, func(h map[string][]clusterHit) bool {
		by := map[string]bool{}
		for _, f := range names {
			by[h[f][len(h[f])-1].node] = true
		}
		return len(by) == 3
	})
	if code, body := nodes["n0"].get("/readyz"); code != 200 || !strings.Contains(body, `"shards"`) {
		t.Errorf("/readyz of a node: %d %s; want ready, with its leases", code, body)
	}

	var gaps, perKill []time.Duration
	for k := range kills {
		// The victim: the node that made the most of the last calls.
		last := map[string]string{} // flow → node of its last call
		count := map[string]int{}
		for f, hs := range hits.snapshot() {
			last[f] = hs[len(hs)-1].node
			count[last[f]]++
		}
		victim := ""
		for n := range nodes {
			if victim == "" || count[n] > count[victim] {
				victim = n
			}
		}
		var moved []string
		for f, n := range last {
			if n == victim {
				moved = append(moved, f)
			}
		}
		killed := time.Now()
		_ = nodes[victim].cmd.Process.Kill() // SIGKILL, by the pid of the process this test started
		<-nodes[victim].exited
		delete(nodes, victim)
		var worst time.Duration
		waitHits(fmt.Sprintf("kill %d: %d flows of %s resume elsewhere", k, len(moved), victim), 45*time.Second, func(h map[string][]clusterHit) bool {
			for _, f := range moved {
				if !slices.ContainsFunc(h[f], func(x clusterHit) bool { return x.at.After(killed) }) {
					return false
				}
			}
			return true
		})
		for _, f := range moved {
			hs := hits.snapshot()[f]
			i := slices.IndexFunc(hs, func(x clusterHit) bool { return x.at.After(killed) })
			if hs[i].node == victim {
				t.Errorf("flow %s called by the killed node %s after the kill", f, victim)
			}
			gap := hs[i].at.Sub(killed)
			gaps = append(gaps, gap)
			worst = max(worst, gap)
		}
		perKill = append(perKill, worst)
		t.Logf("kill %d: %s ran %d flows; they resumed after %s at worst", k, victim, len(moved), worst.Round(time.Millisecond))
		start(fmt.Sprintf("n%d", 3+k))
	}

	doubles, sameNode := 0, 0
	calls := 0
	for f, hs := range hits.snapshot() {
		calls += len(hs)
		for i := 1; i < len(hs); i++ {
			if hs[i].at.Sub(hs[i-1].at) >= 500*time.Millisecond {
				continue
			}
			if hs[i].node != hs[i-1].node {
				doubles++
				t.Errorf("flow %s: called by %s and %s %s apart: a double run", f, hs[i-1].node, hs[i].node, hs[i].at.Sub(hs[i-1].at))
			} else {
				sameNode++ // a late run followed by an on-time one
			}
		}
	}
	t.Logf("per kill, in order (worst flow): %v", roundAll(perKill))
	slices.Sort(gaps)
	slices.Sort(perKill)
	t.Logf("cluster failover: %d calls, double runs %d (same-node calls closer than 500ms: %d); "+
		"failover over %d flows moved by %d kills: p50 %s, max %s; per kill (worst flow): %v",
		calls, doubles, sameNode, len(gaps), kills, gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), perKill)
	if limit := 15*time.Second + time.Second + 5*time.Second; gaps[len(gaps)-1] > limit {
		// lease time + one interval, plus one renewal period: the victim's
		// last renewal was up to 5 s before the kill.
		t.Errorf("failover max %s, over lease + interval + renewal (%s)", gaps[len(gaps)-1], limit)
	}
}
