package daemon

// BenchmarkPassingRun measures what one passing run costs the daemon: the
// flow's run (a client_credentials token and a GET with it, against an
// httptest server) and its result handling (metrics, history record, state
// store, incident policy, log), as the scheduler's OnResult does it. Its
// allocs/op is the stable figure of docs/benchmarks.md "Per-run cost"
// (cpu-ns/op counts every goroutine of the process, the test server's too):
//
//	go test -run='^$' -bench=BenchmarkPassingRun -benchtime=2000x -count=3 ./internal/daemon/

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/scheduler"
)

// perRunFlows is how many flows the daemon has (their series and states
// exist, as after their first runs): per-run costs that grow with the
// number of flows show.
const perRunFlows = 2000

func BenchmarkPassingRun(b *testing.B) {
	m, f := perRunDaemon(b)
	ctx := context.Background()
	b.Run("run", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if res := m.runner.Run(ctx, f); !res.OK {
				b.Fatalf("run failed: %+v", res.Failure())
			}
		}
	})
	b.Run("run+result", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			res := m.runner.Run(ctx, f)
			if !res.OK {
				b.Fatalf("run failed: %+v", res.Failure())
			}
			m.onResult(scheduler.Event{Flow: f, Result: res})
		}
	})
}

// reportCPU reports the process's CPU time per op (user and system, every
// goroutine: the test server's and the store writer's too), which, unlike
// ns/op, does not count the wait for the store's group commit.
func reportCPU(b *testing.B) (stop func()) {
	start := processCPU()
	return func() { b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perRunDaemon is a daemon set up as Run does (flows loaded, metrics and
// alerting told about them), but nothing scheduled: the benchmark runs
// the benchmark flow itself. The other flows are plain GETs that never run
// here; each gets the series and state of a first passing run.
func perRunDaemon(b *testing.B) (*Main, *flows.Flow) {
	b.Helper()
	srv := perRunServer(0)
	b.Cleanup(srv.Close)
	b.Setenv("AUTHWATCH_BENCH_SECRET", "bench-client-secret-0123456789")
	var y strings.Builder
	fmt.Fprintf(&y, `flows:
  - name: bench-cc
    every: 1h
    steps:
      - id: token
        kind: client_credentials
        token_url: %s/token
        client_id: cc-client
        client_secret: ${env:AUTHWATCH_BENCH_SECRET}
        resource: [https://api.example.test/]
        scopes: [api:read]
      - id: api
        kind: http
        url: %s/api/cc/00000
        auth: {bearer: "${steps.token.access_token}"}
        expect: {status: 200}
`, srv.URL, srv.URL)
	for i := 1; i < perRunFlows; i++ {
		fmt.Fprintf(&y, "  - {name: bench-plain-%05d, every: 1h, steps: [{id: api, kind: http, url: %q, expect: {status: 200}}]}\n",
			i, fmt.Sprintf("%s/api/plain/%05d", srv.URL, i))
	}
	m, set := unscheduledMain(b, filepath.Join(b.TempDir(), "state"), y.String())
	for _, f := range set.Flows {
		m.metrics.FailStreak(f.Name, 0, "")
		m.metrics.LastSuccess(f.Name, time.Now())
	}
	f, _ := set.Flow("bench-cc")
	return m, f
}

// unscheduledMain is a daemon on stateDir with the flows of flowsYAML,
// set up as Run does but with nothing scheduled and no listener: the
// caller runs the flows and hands their results to onResult. Cleanup
// closes its store.
func unscheduledMain(tb testing.TB, stateDir, flowsYAML string) (*Main, *flows.Set) {
	tb.Helper()
	flowsDir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(flowsDir, "flows.yaml"), []byte(flowsYAML), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir, cfg.FlowsDir, cfg.Listen = stateDir, flowsDir, "127.0.0.1:0"
	m, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})), &e2eNotifier{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.closeState() })
	set, err := m.loadFlows()
	if err != nil {
		tb.Fatal(err)
	}
	m.setFlows(set.Flows)
	if err := m.alert.load(context.Background()); err != nil {
		tb.Fatal(err)
	}
	m.alert.setFlows(set.Flows)
	return m, set
}

// perRunServer answers like the benchmark's IdP and nginx: a new
// JWT-shaped access token on every token request (its jti and signature
// differ, as a real IdP's do: the run registers, and may have to redact, a
// value it never saw) and a small JSON body for the API, whose Date header
// is clockOffset off.
func perRunServer(clockOffset time.Duration) *httptest.Server {
	enc := base64.RawURLEncoding.EncodeToString
	exp := time.Now().Add(24 * time.Hour).Unix()
	var issued atomic.Int64
	token := func() string {
		n := issued.Add(1)
		sig := make([]byte, 256)
		binary.BigEndian.PutUint64(sig, uint64(n))
		jwt := enc([]byte(`{"alg":"RS256","typ":"at+jwt","kid":"bench"}`)) + "." +
			enc(fmt.Appendf(nil, `{"iss":"http://127.0.0.1/","sub":"cc-client","aud":"https://api.example.test/","exp":%d,"iat":%d,"jti":"jti-%d","scope":"api:read","client_id":"cc-client"}`, exp, exp-86400, n)) +
			"." + enc(sig)
		return `{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":86400,"scope":"api:read"}`
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, token())
	})
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if clockOffset != 0 {
			w.Header().Set("Date", time.Now().Add(clockOffset).UTC().Format(http.TimeFormat))
		}
		io.WriteString(w, `{"ok":true,"items":[1,2,3]}`)
	})
	return httptest.NewServer(mux)
}
