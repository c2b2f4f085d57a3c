package baseline_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The flow a baseline watches: a client credentials token for the API
// resource of testdata/oidc-provider, checked against its JWKS.
const providerFlow = `name: drift
every: 1m
baseline: {learn: %d, latency: false}
steps:
  - id: token
    kind: client_credentials
    issuer: %q
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    client_auth: client_secret_basic
    scopes: ["api:read", "api:write"]
    resource: ["https://api.example.test/"]
    expect:
      access_token:
        verify: true
        audience: ["https://api.example.test/"]
        scopes: ["api:read"]
`

// watched runs a flow and compares each passing run with its baseline,
// as the daemon does (internal/daemon/baseline.go).
type watched struct {
	t     *testing.T
	r     *flows.Runner
	f     *flows.Flow
	b     *baseline.Baseline
	rules baseline.Rules
}

func newWatched(t *testing.T, issuer string, learn int) *watched {
	t.Helper()
	set, err := flows.LoadBytes(flows.LoadOptions{}, "drift.yaml", []byte(fmt.Sprintf(providerFlow, learn, issuer)))
	if err != nil {
		t.Fatal(err)
	}
	f := set.Flows[0]
	return &watched{t: t, r: newRunner(), f: f, b: baseline.New(f.Name, f.Digest, f.Baseline.LearnRuns()), rules: baseline.RulesOf(f)}
}

func newRunner() *flows.Runner {
	r := flows.NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: func(name string) (string, bool) {
		return map[string]string{"CC_SECRET": "cc-secret"}[name], name == "CC_SECRET"
	}}
	return r
}

// run runs the flow once; it must pass. It returns the run's
// baseline_changed findings.
func (w *watched) run() []flows.Finding {
	w.t.Helper()
	res := w.r.Run(context.Background(), w.f)
	if !res.OK {
		w.t.Fatalf("the flow failed: %v", res.Failure())
	}
	obs, ok := baseline.FromResult(res)
	if !ok {
		w.t.Fatal("a passing run without a shape")
	}
	baseline.Warn(res, w.b.Observe(obs, w.rules), obs.At)
	var out []flows.Finding
	for _, f := range res.Findings() {
		if f.Reason == flows.ReasonBaselineChanged {
			out = append(out, f)
		}
	}
	return out
}

func (w *watched) learn() {
	w.t.Helper()
	for range w.b.Learn {
		if fs := w.run(); len(fs) != 0 {
			w.t.Fatalf("a warning while learning: %v", fs)
		}
	}
	if w.b.Learning() {
		w.t.Fatal("still learning")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

func phrasesOf(b *baseline.Baseline) []string {
	var out []string
	for _, d := range b.Drifts {
		out = append(out, d.Phrase)
	}
	return out
}

// TestProviderReconfiguredGivesOneWarning: oidc-provider learned as it
// starts by default, then restarted on the same port with one setting
// changed. Each change gives one baseline_changed warning on every later
// run, naming before and after since the first run that showed it;
// accepting it silences it.
func TestProviderReconfiguredGivesOneWarning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    map[string]string
		want   []string // drift phrases; "kid:" matches a kid change
		finder string   // in the summary
	}{
		{"access token lifetime", map[string]string{"ACCESS_TOKEN_TTL": "300"}, []string{"access token lifetime 3600 s → 300 s"}, "token: access token lifetime 3600 s → 300 s since "},
		{"a scope no longer granted", map[string]string{"API_SCOPES": "api:read"}, []string{"scope api:write no longer granted"}, "token: scope api:write no longer granted since "},
		{"a second key in the JWKS", map[string]string{"KEY_SET": "a,b"}, []string{"JWKS now serves key test-b-"}, "JWKS now serves key test-b-"},
		{"a new signing key with PS256", map[string]string{"KEY_SET": "b,a", "SIGNING_ALG": "PS256"},
			[]string{"access token alg RS256 → PS256", "access token kid test-a-", "JWKS now serves key test-b-"}, "access token alg RS256 → PS256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"PORT": freePort(t), "KEY_DIR": t.TempDir()}
			idp := testenv.NodeOIDCProvider(t, env)
			w := newWatched(t, idp.Issuer, 5)
			w.learn()
			idp.Stop()
			for k, v := range tc.env {
				env[k] = v
			}
			testenv.NodeOIDCProvider(t, env)
			// A new runner, as after a daemon restart: a running one would
			// see a new key only when its JWKS cache (5 minutes) expires.
			w.r = newRunner()

			var since []string
			for i := range 3 {
				fs := w.run()
				if len(fs) != 1 {
					t.Fatalf("run %d after the change: %d baseline_changed warnings %v, want 1", i, len(fs), fs)
				}
				if i == 0 {
					t.Logf("warning: %s", fs[0].Summary)
				}
				if !strings.Contains(fs[0].Summary, tc.finder) {
					t.Errorf("summary %q lacks %q", fs[0].Summary, tc.finder)
				}
				got := phrasesOf(w.b)
				if len(got) != len(tc.want) {
					t.Fatalf("drifts %q, want %d like %q", got, len(tc.want), tc.want)
				}
				for j, want := range tc.want {
					if !strings.HasPrefix(got[j], want) && !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
						t.Errorf("drifts %q lack %q", got, want)
					}
				}
				since = append(since, w.b.Drifts[0].Since.String())
				if !hasFact(fs[0], ".before") || !hasFact(fs[0], ".after") {
					t.Errorf("the warning's evidence lacks before and after: %v", fs[0].Facts)
				}
			}
			if since[0] != since[2] {
				t.Errorf("since moved: %v", since)
			}
			w.b.Accept("alice", w.b.LastRun)
			for i := range 3 {
				if fs := w.run(); len(fs) != 0 {
					t.Fatalf("run %d after the accept: %v", i, fs)
				}
			}
		})
	}
}

func hasFact(f flows.Finding, suffix string) bool {
	return slices.ContainsFunc(f.Facts, func(x flows.Fact) bool { return strings.HasSuffix(x.Name, suffix) && x.Value != "" })
}

// TestProviderNoFalseWarnings: 300 passing runs after learning from 20,
// every token with its own jti and times, give no warning. Latency is left
// out: this shared machine's load is no property of the IdP
// (TestSlowedEndpoint proves latency drift).
func TestProviderNoFalseWarnings(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
	w := newWatched(t, idp.Issuer, 20)
	w.learn()
	for i := range 300 {
		if fs := w.run(); len(fs) != 0 {
			t.Fatalf("run %d: false warning %v", i, fs)
		}
	}
	if len(w.b.Scalars) == 0 || !slices.ContainsFunc(w.b.View().Varying, func(k string) bool { return strings.HasSuffix(k, ".claim_type.jti") }) &&
		!slices.Contains(w.b.View().Varying, "token.access_token.claim.jti") {
		// jti's value is never learned (a per-run claim); its type is compared.
		t.Logf("varying: %v", w.b.View().Varying)
	}
}

// TestSlowedTokenEndpoint: oidc-provider's token endpoint behind a proxy
// that starts holding each request 400 ms. One slow run is no drift; a
// window of slow runs is one baseline_changed warning naming the p95
// before and after; accepting it silences it.
func TestSlowedTokenEndpoint(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
	target, err := url.Parse(idp.URL)
	if err != nil {
		t.Fatal(err)
	}
	var slow atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			// The slowness under test, not a wait for something to happen.
			select {
			case <-time.After(400 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	set, err := flows.LoadBytes(flows.LoadOptions{}, "slow.yaml", []byte(`name: slow
every: 1m
baseline: {learn: 10, latency: {window: 5}}
steps:
  - id: token
    kind: client_credentials
    token_url: "`+srv.URL+`/token"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    client_auth: client_secret_basic
    scopes: ["api:read"]
    resource: ["https://api.example.test/"]
`))
	if err != nil {
		t.Fatal(err)
	}
	f := set.Flows[0]
	w := &watched{t: t, r: newRunner(), f: f, b: baseline.New(f.Name, f.Digest, f.Baseline.LearnRuns()), rules: baseline.RulesOf(f)}
	for range 3 { // node's first answers are slow: warm it before learning
		if res := w.r.Run(context.Background(), f); !res.OK {
			t.Fatalf("warm-up run failed: %v", res.Failure())
		}
	}
	w.learn()
	steps := []struct {
		slow bool
		warn bool
	}{{true, false}, {false, false}, {false, false}, {false, false}, {false, false}, // one slow run in a window
		{true, false}, {true, true}, {true, true}, {true, true}, {true, true}} // slow from here on: a window's p95
	for i, s := range steps {
		slow.Store(s.slow)
		fs := w.run()
		if got := len(fs) == 1; got != s.warn || len(fs) > 1 {
			t.Fatalf("run %d (slow %v): warnings %v, want warned %v", i, s.slow, fs, s.warn)
		}
		if s.warn && !strings.Contains(fs[0].Summary, "token: p95 latency ") {
			t.Errorf("summary %q", fs[0].Summary)
		}
		if s.warn && i == 6 {
			t.Logf("warning: %s", fs[0].Summary)
		}
	}
	w.b.Accept("bob", w.b.LastRun)
	for i := range 5 {
		if fs := w.run(); len(fs) != 0 {
			t.Fatalf("slow run %d after the accept: %v", i, fs)
		}
	}
}
