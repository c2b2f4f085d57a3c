package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// refreshGate is a proxy to the IdP's token endpoint at /NODE/token (each
// node has its own path, so the gate knows who asks). Closed, it holds
// the requests that arrive; a request of a node marked dead is never
// forwarded. It counts what the IdP answered.
type refreshGate struct {
	upstream *httputil.ReverseProxy

	mu         sync.Mutex
	closed     bool   // hold every request
	holdOnly   string // hold this node's requests
	dead       map[string]bool
	waiting    map[string]int // requests held at the closed gate, by node
	forwarding int
	passed     map[string]int // 200 answers, by node
	rejected   int            // invalid_grant answers
	dropped    int            // requests of dead nodes, not forwarded
	other      []string
}

func newRefreshGate(t *testing.T, upstream string) *refreshGate {
	proxy := httputil.NewSingleHostReverseProxy(mustURL(t, upstream))
	// A new connection each time: node closes idle ones after 5 s, and a
	// request held longer than that would meet a reset on a reused one.
	proxy.Transport = &http.Transport{DisableKeepAlives: true}
	return &refreshGate{upstream: proxy, dead: map[string]bool{}, waiting: map[string]int{}, passed: map[string]int{}}
}

func (g *refreshGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	node, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	g.mu.Lock()
	g.waiting[node]++
	for (g.closed || g.holdOnly == node) && !g.dead[node] {
		g.mu.Unlock()
		time.Sleep(10 * time.Millisecond) // bounded by the run's timeout: the client gives up
		g.mu.Lock()
		if r.Context().Err() != nil {
			break
		}
	}
	g.waiting[node]--
	if g.dead[node] || r.Context().Err() != nil {
		g.dropped++
		g.mu.Unlock()
		http.Error(w, "not forwarded", http.StatusServiceUnavailable)
		return
	}
	g.forwarding++
	g.mu.Unlock()

	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + rest
	rec := httptest.NewRecorder()
	g.upstream.ServeHTTP(rec, r2)

	g.mu.Lock()
	g.forwarding--
	switch body := rec.Body.String(); {
	case rec.Code == http.StatusOK:
		g.passed[node]++
	case strings.Contains(body, "invalid_grant"):
		g.rejected++
	default:
		g.other = append(g.other, fmt.Sprintf("%s: %d %.200s", node, rec.Code, body))
	}
	g.mu.Unlock()
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (g *refreshGate) with(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f()
}

var clusterNodeID = regexp.MustCompile(`msg="cluster node" node=(\S+)`)

// TestE2EClusterRefreshFailovers: a flow refreshing a rotating refresh
// token (oidc-provider, rotation with reuse detection; persist: true) on
// three real `authwatch run` nodes, through 20 failovers of the node
// running it, its refresh request held by the test before the IdP: half
// SIGKILLed holding the token's row lock, half paused (SIGSTOP) with the
// refresh in flight, so that another node takes the flow and must wait
// for the lock until the victim, resumed, has stored the rotated token
// (then killed too). Each victim's leases are expired in the database
// (what 15 s of waiting would do: failover timing is
// TestE2EClusterFailover's) and a new node started. After every failover
// the flow resumes on another node with a refresh the IdP accepts; the
// IdP never answers invalid_grant and no node logs
// refresh_token_rejected. Without the lock the paused half fails (the
// new holder presents the victim's token).
func TestE2EClusterRefreshFailovers(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes, PostgreSQL and oidc-provider")
	}
	testenv.Require(t, "node")
	t.Parallel()
	const kills = 20
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "refreshfailover")
	op := testenv.NodeOIDCProvider(t, map[string]string{"REFRESH_ROTATION": "on"})
	gate := newRefreshGate(t, op.URL)
	proxy := httptest.NewServer(gate)
	t.Cleanup(proxy.Close)
	bin := pgBuild(t, t.TempDir())

	keyHex := strings.Repeat("ef", 32)
	keyFile := filepath.Join(t.TempDir(), "pg_key")
	if err := os.WriteFile(keyFile, []byte(keyHex), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	key, _ := postgres.ParseSecretKey(keyHex)
	seedStore, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := seedStore.SaveSecret(ctx, "refresh_token/rot/refresh", clusterLogin(t, op)); err != nil {
		t.Fatal(err)
	}
	_ = seedStore.Close()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })

	files := map[string]string{"rot.yaml": clusterRefreshFlow("rot", "${env:AW_TOKEN_URL}")}
	cfgBody := fmt.Sprintf("store:\n  postgres: {dsn: %q, secret_key: \"${file:%s}\"}\ncluster: {enabled: true}\n", dsn, keyFile)
	nodes := map[string]*pgProc{}
	var all []*pgProc
	ids := map[string]string{} // test name → cluster node id
	seq := 0
	start := func() {
		name := fmt.Sprintf("n%d", seq)
		seq++
		cfg, _ := pgSetup(t, t.TempDir(), cfgBody, files)
		p := pgStartProc(t, bin, cfg, map[string]string{"AW_TOKEN_URL": proxy.URL + "/" + name + "/token"})
		m := clusterNodeID.FindStringSubmatch(p.out.String())
		if m == nil {
			t.Fatalf("node %s logged no cluster node id:\n%s", name, p.out.String())
		}
		nodes[name], ids[name] = p, m[1]
		all = append(all, p)
	}
	dump := func() {
		gate.with(func() {
			t.Logf("gate: passed %v, rejected %d, dropped %d, other %v", gate.passed, gate.rejected, gate.dropped, gate.other)
		})
		for n, p := range nodes {
			t.Logf("node %s log:\n%s", n, p.out.String())
		}
	}
	waitGate := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			ok := false
			gate.with(func() { ok = cond() })
			if ok {
				return
			}
			if time.Now().After(deadline) {
				dump()
				t.Fatalf("not within %s: %s", limit, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	passesBy := func(except string) int {
		n := 0
		for node, c := range gate.passed {
			if node != except {
				n += c
			}
		}
		return n
	}
	for range 3 {
		start()
	}
	waitGate("3 refreshes", 60*time.Second, func() bool { return passesBy("") >= 3 })

	var resumed []time.Duration
	for k := range kills {
		var victim string
		gate.with(func() { gate.closed = true })
		waitGate(fmt.Sprintf("kill %d: a refresh held at the gate", k), 60*time.Second, func() bool {
			if gate.forwarding > 0 {
				return false
			}
			for n, w := range gate.waiting {
				if w > 0 && !gate.dead[n] {
					victim = n
					return true
				}
			}
			return false
		})
		before := 0
		gate.with(func() { before = passesBy(victim) })
		killed := time.Now()
		expireLeases := func() {
			t.Helper()
			if _, err := admin.Exec(ctx, `UPDATE shard_lease SET claimed_until = now() - interval '1 second' WHERE node = $1 AND claimed_until > now()`, ids[victim]); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.Exec(ctx, `UPDATE cluster_nodes SET seen = now() - interval '1 hour', seen_until = now() - interval '1 hour' WHERE node = $1`, ids[victim]); err != nil {
				t.Fatal(err)
			}
		}
		kill := func() {
			_ = nodes[victim].cmd.Process.Kill() // SIGKILL, by the pid of the process this test started
			<-nodes[victim].exited
			gate.with(func() { gate.dead[victim] = true })
		}
		if k%2 == 0 {
			// Killed holding the token's row lock, its refresh not sent.
			kill()
			expireLeases()
			gate.with(func() { gate.closed = false })
		} else {
			// Paused mid-refresh (a stall past its lease): another node
			// takes the flow while the victim's refresh is in flight.
			// That node waits for the row lock until the victim, resumed,
			// has stored the token the IdP rotated in, then uses it.
			// Without the lock it would present the victim's token.
			if err := nodes[victim].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			expireLeases()
			gate.with(func() { gate.closed, gate.holdOnly = false, victim })
			waitLockOrPass := time.Now().Add(60 * time.Second)
			for {
				var waiting int
				if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				passed := false
				gate.with(func() { passed = passesBy(victim) > before })
				if waiting > 0 || passed {
					break
				}
				if time.Now().After(waitLockOrPass) {
					dump()
					t.Fatalf("kill %d: no node took the flow of the paused %s", k, victim)
				}
				time.Sleep(20 * time.Millisecond)
			}
			victimPassed := 0
			gate.with(func() { victimPassed, gate.holdOnly = gate.passed[victim], "" })
			waitGate(fmt.Sprintf("kill %d: the paused %s's refresh answered", k, victim), 60*time.Second, func() bool {
				return gate.passed[victim] > victimPassed || gate.rejected > 0
			})
			if err := nodes[victim].cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
		waitGate(fmt.Sprintf("kill %d: a refresh by another node than %s", k, victim), 90*time.Second, func() bool {
			return passesBy(victim) > before || gate.rejected > 0
		})
		rejected := 0
		gate.with(func() { rejected = gate.rejected })
		if rejected > 0 {
			dump()
			t.Fatalf("failover %d (%s): the IdP refused a refresh token (invalid_grant): two nodes presented the same one", k, victim)
		}
		if k%2 == 1 {
			kill()
		}
		delete(nodes, victim)
		start()
		resumed = append(resumed, time.Since(killed))
	}
	waitGate("3 more refreshes", 60*time.Second, func() bool { return passesBy("") >= 3+kills+3 })

	gate.with(func() {
		t.Logf("%d failovers; refreshes accepted %d, invalid_grant %d, requests of killed nodes not forwarded %d; resumed after %v",
			kills, passesBy(""), gate.rejected, gate.dropped, resumed)
		if gate.rejected > 0 {
			t.Errorf("the IdP refused %d refresh tokens (invalid_grant)", gate.rejected)
		}
		if len(gate.other) > 0 {
			t.Errorf("other answers of the IdP: %v", gate.other)
		}
	})
	for i, p := range all {
		if n := pgCount(p.out.String(), "refresh_token_rejected"); n > 0 {
			t.Errorf("node %d logged refresh_token_rejected %d times:\n%s", i, n, p.out.String())
		}
	}
}
