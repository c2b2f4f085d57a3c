package flows_test

// The shared token cache (cache: shared) against the npm oidc-provider,
// with a counting reverse proxy in front of its token endpoint: the counts
// are real token requests.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// tcTokenCounter is a reverse proxy to the IdP that counts token requests.
type tcTokenCounter struct {
	URL     string // the proxy's token endpoint
	fetches atomic.Int64
}

func tcCountingProxy(t *testing.T, idp *testenv.NodeIdP) *tcTokenCounter {
	t.Helper()
	target, err := url.Parse(idp.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &tcTokenCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			c.fetches.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL + "/token"
	return c
}

// tcClock is an injected Runner.Now that the test moves forward.
type tcClock struct{ offset atomic.Int64 }

func (c *tcClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *tcClock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func tcRunner(lookup func(string) (string, bool)) (*flows.Runner, *tcClock) {
	r := itTappedRunner(lookup)
	clock := &tcClock{}
	r.Now = clock.now
	return r, clock
}

// tcFlow is a client_credentials flow through the counting proxy; extra is
// YAML under the token step, after is further steps.
func tcFlow(name, issuer, tokenURL, extra, after string) string {
	return fmt.Sprintf(`
name: %s
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "%s"
    token_url: "%s"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    resource: ["%s"]
    expect: {access_token: {verify: true, audience: ["%s"]}}
%s%s`, name, issuer, tokenURL, itApiResource, itApiResource, extra, after)
}

func tcLoad(t *testing.T, r *flows.Runner, n int, issuer, tokenURL, extra, after string) []*flows.Flow {
	t.Helper()
	var fs []*flows.Flow
	for i := range n {
		fs = append(fs, itLoadFlow(t, r, tcFlow(fmt.Sprintf("cached-%d", i), issuer, tokenURL, extra, after)))
	}
	return fs
}

// tcRunAll runs every flow once, all at the same time.
func tcRunAll(t *testing.T, r *flows.Runner, fs []*flows.Flow) []*flows.Result {
	t.Helper()
	results := make([]*flows.Result, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() { results[i] = r.Run(t.Context(), f) })
	}
	wg.Wait()
	for _, res := range results {
		itMustPass(t, res)
	}
	return results
}

func tcNotes(res *flows.Result, step string) string {
	for _, s := range res.Steps {
		if s.ID == step {
			return strings.Join(s.Notes, "\n")
		}
	}
	return ""
}

func tcWantFetches(t *testing.T, c *tcTokenCounter, want int64, when string) {
	t.Helper()
	if got := c.fetches.Load(); got != want {
		t.Fatalf("%s: %d token requests, want %d", when, got, want)
	}
}

func tcSecrets(r *flows.Runner) []string {
	return append(append([]string{}, itProviderSecrets...), itReceived(r)...)
}

func TestSharedTokenCache(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
	env := map[string]string{"CC_SECRET": "cc-secret"}

	t.Run("20 flows x 3 runs fetch once, and again after refresh-ahead", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		r, clock := tcRunner(itLookupFrom(env, nil))
		fs := tcLoad(t, r, 20, idp.Issuer, counter.URL, "    cache: shared\n", "")
		var all []*flows.Result
		for round := range 3 {
			all = append(all, tcRunAll(t, r, fs)...)
			tcWantFetches(t, counter, 1, fmt.Sprintf("round %d", round+1))
		}
		fetched, cached := 0, 0
		for _, res := range all {
			switch notes := tcNotes(res, "token"); {
			case strings.Contains(notes, "token_source: cache, token_age: "):
				cached++
			case strings.Contains(notes, "token_source: token endpoint"):
				fetched++
			default:
				t.Errorf("flow %s: notes %q name no token source", res.Flow, notes)
			}
		}
		if fetched != 1 || cached != 59 {
			t.Errorf("notes: %d fetched, %d from the cache; want 1 and 59", fetched, cached)
		}
		clock.advance(47 * time.Minute) // 78 % of the IdP's 1 h: still shared
		late := tcRunAll(t, r, fs[:1])
		tcWantFetches(t, counter, 1, "at 78% of the lifetime")
		// The IdP's Date header is 47 min behind the moved clock (a finding
		// of the test's clock); the token's iat must not be.
		for _, fd := range itStep(t, late[0], "token").Findings {
			if strings.Contains(fd.Summary, "(iat)") {
				t.Errorf("a token from the cache, 47 min old: finding %s: %s; its age is no clock skew", fd.Reason, fd.Summary)
			}
		}
		clock.advance(2 * time.Minute) // past 80 %
		res := tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 2, "past 80% of the lifetime")
		if notes := tcNotes(res[0], "token"); !strings.Contains(notes, "token_source") {
			t.Errorf("notes %q", notes)
		}
		itAssertNoSecrets(t, tcSecrets(r), append(all, res...)...)
	})

	t.Run("a cached token is measured for its lifetime, not its age, and is no latency sample", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		r, clock := tcRunner(itLookupFrom(env, nil))
		fs := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n", "")
		first := tcRunAll(t, r, fs)[0]
		clock.advance(30 * time.Minute) // half the IdP's 1 h
		hit := tcRunAll(t, r, fs)[0]
		tcWantFetches(t, counter, 1, "the second run")
		for _, tc := range []struct {
			name      string
			res       *flows.Result
			fromCache bool
		}{{"fetched", first, false}, {"cached", hit, true}} {
			s := itStep(t, tc.res, "token")
			lifetime := -1.0
			for _, m := range s.Measurements {
				if m.Name == flows.MeasureTokenLifetime {
					lifetime = m.Value
				}
			}
			// The IdP issues for 3600 s; a half-aged token must not read 1800.
			if lifetime < 3000 || lifetime > 3600 {
				t.Errorf("%s: %s %v, want the 3600 s it was issued for", tc.name, flows.MeasureTokenLifetime, lifetime)
			}
			if s.TokenFromCache != tc.fromCache || s.IsLatency() == tc.fromCache {
				t.Errorf("%s: TokenFromCache %v, IsLatency %v", tc.name, s.TokenFromCache, s.IsLatency())
			}
		}
	})

	t.Run("without cache every run fetches", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		r, _ := tcRunner(itLookupFrom(env, nil))
		fs := tcLoad(t, r, 20, idp.Issuer, counter.URL, "", "")
		for range 3 {
			tcRunAll(t, r, fs)
		}
		tcWantFetches(t, counter, 60, "20 flows x 3 runs")
	})

	t.Run("cache_refresh_at is per step", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		r, clock := tcRunner(itLookupFrom(env, nil))
		fs := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n    cache_refresh_at: 50%\n", "")
		tcRunAll(t, r, fs)
		clock.advance(29 * time.Minute)
		tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 1, "at 48% of the lifetime")
		clock.advance(2 * time.Minute)
		tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 2, "past 50% of the lifetime")
	})

	t.Run("different scopes are different entries", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		r, _ := tcRunner(itLookupFrom(env, nil))
		read := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n    scopes: [api:read]\n", "")
		write := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n    scopes: [api:write]\n", "")
		both := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n    scopes: [api:write, api:read]\n", "")
		bothReordered := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n    scopes: [api:read, api:write]\n", "")
		for range 2 {
			tcRunAll(t, r, read)
			tcRunAll(t, r, write)
			tcRunAll(t, r, both)
		}
		tcWantFetches(t, counter, 3, "three scope sets, twice each")
		tcRunAll(t, r, bothReordered)
		tcWantFetches(t, counter, 3, "the same scopes in another order")
	})

	t.Run("a rotated secret is another entry, a failed fetch is not cached", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		var secret atomic.Value
		secret.Store("cc-secret")
		r, _ := tcRunner(func(name string) (string, bool) {
			if name == "CC_SECRET" {
				return secret.Load().(string), true
			}
			return "", false
		})
		fs := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n", "")
		tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 1, "first run")
		secret.Store("canary-wrong-cc-secret-4411")
		var failed []*flows.Result
		for i := range 2 {
			res := r.Run(t.Context(), fs[0])
			itMustFail(t, res, "token", flows.ReasonInvalidClient)
			tcWantFetches(t, counter, int64(2+i), fmt.Sprintf("rotated secret, run %d", i+1))
			failed = append(failed, res)
		}
		secret.Store("cc-secret")
		tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 3, "the first secret again")
		itAssertNoSecrets(t, tcSecrets(r), failed...)
	})

	t.Run("a token the API refuses is dropped", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		var refuse atomic.Bool
		refuse.Store(true)
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token revoked"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, `{"ok":true}`)
		}))
		t.Cleanup(api.Close)
		r, _ := tcRunner(itLookupFrom(env, nil))
		after := fmt.Sprintf("  - id: api\n    kind: http\n    url: %s/things\n    auth: {bearer: \"${steps.token.access_token}\"}\n", api.URL)
		fs := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n", after)
		tcRunAll(t, r, tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n", "")) // puts the token in the cache
		tcWantFetches(t, counter, 1, "token only")
		res := r.Run(t.Context(), fs[0])
		f := itMustFail(t, res, "api", flows.ReasonInvalidToken)
		itFactIs(t, f, "token_source", "cache")
		if notes := tcNotes(res, "api"); !strings.Contains(notes, "dropped") {
			t.Errorf("api step notes %q: want the drop said", notes)
		}
		tcWantFetches(t, counter, 1, "the refused run used the cached token")
		refuse.Store(false)
		tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 2, "the run after the refusal")
		tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 2, "the fresh token is shared again")
		itAssertNoSecrets(t, tcSecrets(r), res)
	})

	t.Run("a cached token that fails a run's checks is dropped", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		r, _ := tcRunner(itLookupFrom(env, nil))
		plain := tcLoad(t, r, 1, idp.Issuer, counter.URL, "    cache: shared\n", "")
		strict := itLoadFlow(t, r, strings.Replace(tcFlow("strict", idp.Issuer, counter.URL, "    cache: shared\n", ""),
			`audience: ["`+itApiResource+`"]`, `audience: [https://other.example.test/]`, 1))
		tcRunAll(t, r, plain)
		res := r.Run(t.Context(), strict)
		f := itMustFail(t, res, "token", flows.ReasonAudienceMismatch)
		itFactIs(t, f, "token_source", "cache")
		if _, ok := itFact(f, "token_age"); !ok {
			t.Errorf("no token_age fact:\n%s", itDescribe(res))
		}
		tcWantFetches(t, counter, 1, "the strict flow used the cached token")
		tcRunAll(t, r, plain)
		tcWantFetches(t, counter, 2, "after the drop")
		itAssertNoSecrets(t, tcSecrets(r), res)
	})

	t.Run("parallel runs wait for one fetch", func(t *testing.T) {
		t.Parallel()
		counter := tcCountingProxy(t, idp)
		r, _ := tcRunner(itLookupFrom(env, nil))
		fs := tcLoad(t, r, 32, idp.Issuer, counter.URL, "    cache: shared\n", "")
		results := tcRunAll(t, r, fs)
		tcWantFetches(t, counter, 1, "32 parallel runs")
		itAssertNoSecrets(t, tcSecrets(r), results...)
	})
}

// TestSharedTokenCacheOptionsCheckedAtLoad: a bad cache option is an error
// at the field's position; cache is not a field of the other token steps.
func TestSharedTokenCacheOptionsCheckedAtLoad(t *testing.T) {
	t.Parallel()
	const head = "name: e\nevery: 1m\nsteps:\n  - id: t\n    kind: client_credentials\n    token_url: https://idp.example.com/token\n    client_id: c\n    client_auth: none\n"
	for _, tc := range []struct{ name, lines, want string }{
		{"unknown mode", "    cache: private\n", `e.yaml:9:12: steps[0].cache: must be shared or none, got "private"`},
		{"refresh_at without cache", "    cache_refresh_at: 50%\n", `e.yaml:9:23: steps[0].cache_refresh_at: only goes with cache: shared`},
		{"refresh_at not a share", "    cache: shared\n    cache_refresh_at: 0.8\n", `e.yaml:10:23: steps[0].cache_refresh_at: must be a share of the token's lifetime from 1% to 99%, e.g. 80%, got "0.8"`},
		{"negative check", "    cache: shared\n    expect: {error: invalid_client}\n", `e.yaml:9:12: steps[0].cache: cannot go with expect.error`},
		{"refresh_at 100%", "    cache: shared\n    cache_refresh_at: 100%\n", `steps[0].cache_refresh_at: must be a share of the token's lifetime from 1% to 99%`},
		{"max_latency", "    cache: shared\n    expect:\n      max_latency: 2s\n", `e.yaml:11:20: steps[0].expect.max_latency: cannot go with cache: shared`},
		{"its refresh token used", "    cache: shared\n" +
			"  - id: r\n    kind: refresh\n    token_url: https://idp.example.com/token\n    client_id: c\n    client_auth: none\n    refresh_token: ${steps.t.refresh_token}\n",
			`e.yaml:15:20: steps[1].refresh_token: ${steps.t.refresh_token}: step "t" has cache: shared, so its refresh token is not its own`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flows.LoadBytes(flows.LoadOptions{}, "e.yaml", []byte(head+tc.lines))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
	refresh := "name: e\nevery: 1m\nsteps:\n  - id: t\n    kind: refresh\n    token_url: https://idp.example.com/token\n    client_id: c\n    client_auth: none\n    refresh_token: x\n    cache: shared\n"
	if _, err := flows.LoadBytes(flows.LoadOptions{}, "e.yaml", []byte(refresh)); err == nil || !strings.Contains(err.Error(), "cache") {
		t.Errorf("cache on a refresh_token step: got %v, want an error naming the field", err)
	}
	ok := head + "    cache: shared\n    cache_refresh_at: 50%\n" +
		"  - id: r\n    kind: refresh\n    token_url: https://idp.example.com/token\n    client_id: c\n    client_auth: none\n    refresh_token: ${steps.t.access_token}\n"
	if _, err := flows.LoadBytes(flows.LoadOptions{}, "e.yaml", []byte(ok)); err != nil {
		t.Errorf("valid cache options: %v", err)
	}
}

// TestSharedTokenCacheFormEncoded: a token endpoint that answers
// form-encoded (GitHub-style; x/oauth2 then sets only an expiry, no
// expires_in) has its tokens shared like any other.
func TestSharedTokenCacheFormEncoded(t *testing.T) {
	t.Parallel()
	ngx := testenv.Nginx(t, `
    server {
        listen 127.0.0.1:{{port0}};
        location = /token {
            default_type application/x-www-form-urlencoded;
            return 200 'access_token=opaque-access-7c1e&token_type=bearer&expires_in=3600';
        }
    }`)
	r, _ := tcRunner(itLookupFrom(map[string]string{"CC_SECRET": "cc-secret"}, nil))
	f := itLoadFlow(t, r, fmt.Sprintf(`
name: form
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: %s/token
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    cache: shared
`, ngx.URL(0)))
	first := r.Run(t.Context(), f)
	itMustPass(t, first)
	if notes := tcNotes(first, "token"); !strings.Contains(notes, "shared with other runs until 80% of its") {
		t.Errorf("first run's notes %q: want the token shared", notes)
	}
	second := r.Run(t.Context(), f)
	itMustPass(t, second)
	if notes := tcNotes(second, "token"); !strings.Contains(notes, "token_source: cache") {
		t.Errorf("second run's notes %q: want the token from the cache", notes)
	}
}
