package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/testenv"
	"github.com/authwatch/authwatch/notify"
)

// TestE2EClusterNotifierDownDuringFailover: three real `authwatch run`
// nodes on one PostgreSQL page one webhook receiver for 36 flows (enough
// that each node's share of the 64 shards holds some: with 12, a node
// with 20 shards held none about once in a hundred runs). The receiver
// goes down (its port refuses connections), every flow starts failing
// (an Opened page per flow waits in the outbox), the node running the
// most flows is SIGKILLed, its flows move to the others, every flow
// recovers (a Resolved page per flow waits behind the Opened one), then the
// receiver comes back: each flow's pages arrive exactly once and in
// order, opened then resolved (figures: duplicates 0, lost 0).
func TestE2EClusterNotifierDownDuringFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "notifyfailover")
	hook := pgNewHook(t)
	target := &nodeTarget{last: map[string]clusterHit{}}
	api := httptest.NewServer(target)
	t.Cleanup(api.Close)
	files := map[string]string{}
	var names []string
	for i := range 36 {
		name := fmt.Sprintf("p%02d", i)
		names = append(names, name)
		files[name+".yaml"] = clusterFlow(name, api.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	// outbox is how many pages were queued, and how many wait.
	outbox := func() (queued, pending int) {
		t.Helper()
		if err := admin.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 0) FROM outbox`).Scan(&queued, &pending); err != nil {
			t.Fatal(err)
		}
		return queued, pending
	}
	bin := pgBuild(t, t.TempDir())
	cfgBody := fmt.Sprintf(`store:
  postgres: {dsn: %q}
cluster: {enabled: true}
notifiers:
  hook: {kind: webhook, url: %s/hook, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy: {open_after: 1, resolve_after: 1}
`, dsn, hook.URL)
	nodes := map[string]*pgProc{}
	for _, n := range []string{"n0", "n1", "n2"} {
		cfg, _ := pgSetup(t, t.TempDir(), cfgBody, files)
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
	waitFor("every flow run, on all three nodes", 60*time.Second, func() bool {
		by := map[string]bool{}
		for _, n := range names {
			h, ok := target.lastCall(n)
			if !ok {
				return false
			}
			by[h.node] = true
		}
		return len(by) == 3
	})

	hook.Down()
	target.setFailing(true)
	waitFor("an Opened page per flow in the outbox", 60*time.Second, func() bool {
		q, _ := outbox()
		return q >= len(names)
	})
	count := map[string]int{}
	for _, n := range names {
		h, _ := target.lastCall(n)
		count[h.node]++
	}
	victim := "n0"
	for n := range nodes {
		if count[n] > count[victim] {
			victim = n
		}
	}
	killed := time.Now()
	_ = nodes[victim].cmd.Process.Kill() // SIGKILL, by the pid of the process this test started
	<-nodes[victim].exited
	delete(nodes, victim)
	waitFor("every flow run by a live node after the kill", 90*time.Second, func() bool {
		for _, n := range names {
			if h, _ := target.lastCall(n); !h.at.After(killed) || h.node == victim {
				return false
			}
		}
		return true
	})
	target.setFailing(false)
	waitFor("two pages per flow in the outbox (Opened, Resolved)", 60*time.Second, func() bool {
		q, _ := outbox()
		return q >= 2*len(names)
	})
	if got := len(hook.Accepted()); got != 0 {
		t.Fatalf("%d pages delivered while the receiver was down", got)
	}
	hook.Answer(http.StatusOK, "")
	waitFor("every page delivered", 3*time.Minute, func() bool {
		_, pending := outbox()
		return len(hook.Deliveries(t, "")) >= 2*len(names) && pending == 0
	})
	deliveries := hook.Deliveries(t, "")
	unique, dups := pgDedupe(deliveries)
	lost := 0
	for _, n := range names {
		var types []notify.EventType
		for _, d := range deliveries {
			if d.Event.Flow == n {
				types = append(types, d.Event.Type)
			}
		}
		if !slices.Equal(types, []notify.EventType{notify.Opened, notify.Resolved}) {
			t.Errorf("flow %s: pages %v, want [opened resolved], each once", n, types)
		}
		for _, want := range []notify.EventType{notify.Opened, notify.Resolved} {
			if !slices.Contains(types, want) {
				lost++
			}
		}
	}
	t.Logf("notifier down during a failover: %d pages delivered (%d unique), duplicates %d, lost %d; %s ran %d flows when killed",
		len(deliveries), len(unique), dups, lost, victim, count[victim])
	if dups > 0 || lost > 0 {
		t.Errorf("duplicates %d, lost %d; want 0 and 0", dups, lost)
	}
	if q, _ := outbox(); q != 2*len(names) {
		t.Errorf("%d pages queued, want %d: an incident evaluated twice", q, 2*len(names))
	}
}

// nodeTarget answers 200, or 500 while failing, and remembers the last
// call of each flow (the path) and which node made it (X-Node).
type nodeTarget struct {
	mu   sync.Mutex
	all  bool // every flow fails
	last map[string]clusterHit
}

func (n *nodeTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flow := strings.TrimPrefix(r.URL.Path, "/")
	n.mu.Lock()
	n.last[flow] = clusterHit{time.Now(), r.Header.Get("X-Node")}
	fail := n.all
	n.mu.Unlock()
	if fail {
		http.Error(w, "boom", http.StatusInternalServerError)
	}
}

func (n *nodeTarget) setFailing(v bool) {
	n.mu.Lock()
	n.all = v
	n.mu.Unlock()
}

func (n *nodeTarget) lastCall(flow string) (clusterHit, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.last[flow]
	return h, ok
}
