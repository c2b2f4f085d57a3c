package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/statuspage"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestE2EClusterViewOfOtherNodesFlows: node A runs every flow alone while
// the target fails them; node B joins and takes half the shards; the
// target recovers. Each node's status page API then shows every flow
// passing, the ones the other node runs included (read from the store),
// and neither node's /metrics still says authwatch_flow_up 0 for a flow
// (A ran B's flows while they failed: their series are dropped on A).
func TestE2EClusterViewOfOtherNodesFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "clusterview")
	var failing atomic.Bool
	failing.Store(true)
	var mu sync.Mutex
	lastNode := map[string]string{} // flow → node of its last call
	okCalls := map[string]int{}     // flow → calls answered 200
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flow := strings.TrimPrefix(r.URL.Path, "/")
		mu.Lock()
		lastNode[flow] = r.Header.Get("X-Node")
		if !failing.Load() {
			okCalls[flow]++
		}
		mu.Unlock()
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(target.Close)
	bin := pgBuild(t, t.TempDir())
	const nFlows = 8
	files := map[string]string{}
	for i := range nFlows {
		name := fmt.Sprintf("f%02d", i)
		files[name+".yaml"] = clusterFlow(name, target.URL)
	}
	cfgBody := fmt.Sprintf("store:\n  postgres: {dsn: %q}\ncluster: {enabled: true}\n", dsn)
	nodes := map[string]*pgProc{}
	start := func(name string) {
		cfg, _ := pgSetup(t, t.TempDir(), cfgBody, files)
		nodes[name] = pgStartProc(t, bin, cfg, map[string]string{"AW_NODE": name})
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
			time.Sleep(100 * time.Millisecond) // polling a real process
		}
	}
	failingOn := func(node string) int {
		code, body := nodes[node].get("/api/v1/flows")
		var page statuspage.FlowsJSON
		if code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil {
			return -1
		}
		return page.Counts[statuspage.StateFailing]
	}
	downSeries := regexp.MustCompile(`(?m)^authwatch_flow_up\{flow="(f\d+)",location="default"\} 0$`)
	downOn := func(node string) []string {
		_, body := nodes[node].get("/metrics")
		var flows []string
		for _, m := range downSeries.FindAllStringSubmatch(body, -1) {
			flows = append(flows, m[1])
		}
		return flows
	}

	start("a")
	waitFor("node a sees every flow failing", 60*time.Second, func() bool { return failingOn("a") == nFlows })
	start("b")
	waitFor("node b runs some flows", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range lastNode {
			if n == "b" {
				return true
			}
		}
		return false
	})
	failing.Store(false)
	waitFor("every flow passed a run", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(okCalls) == nFlows
	})
	mu.Lock()
	byB := 0
	for _, n := range lastNode {
		if n == "b" {
			byB++
		}
	}
	mu.Unlock()
	t.Logf("node b runs %d of %d flows", byB, nFlows)
	waitFor("both nodes show every flow passing, and no flow down in their /metrics", 60*time.Second, func() bool {
		return failingOn("a") == 0 && failingOn("b") == 0 && len(downOn("a")) == 0 && len(downOn("b")) == 0
	})
}
