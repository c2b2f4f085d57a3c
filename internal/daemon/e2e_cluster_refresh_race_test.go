package daemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// clusterLogin signs alice in at the oidc-provider with the authorization
// code grant and PKCE (app-client, app-secret) and returns a refresh token
// of a new grant (as rnLogin in cmd/authwatch).
func clusterLogin(t *testing.T, p *testenv.NodeIdP) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	verifier := base64.RawURLEncoding.EncodeToString(buf)
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://127.0.0.1:49152/callback"
	q := url.Values{"client_id": {"app-client"}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"openid offline_access"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "state": {"s1"}}
	resp, err := browser.Get(p.URL + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`<form[^>]*action="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form (status %d):\n%s", resp.StatusCode, page)
	}
	resp, err = browser.PostForm(p.URL+html.UnescapeString(string(m[1])), url.Values{"login": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := resp.Location()
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("after login: status %d, location %v (%v)", resp.StatusCode, cb, err)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app-client", "app-secret")
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.RefreshToken == "" {
		t.Fatalf("code exchange: status %d, %v", resp.StatusCode, err)
	}
	return tok.RefreshToken
}

// clusterRefreshFlow refreshes with persist: true at tokenURL (a template:
// each node may have its own). The seed is never used: the tests store
// the first token.
func clusterRefreshFlow(name, tokenURL string) string {
	return fmt.Sprintf(`name: %s
every: 1s
timeout: 30s
steps:
  - id: refresh
    kind: refresh
    token_url: %q
    client_id: app-client
    client_secret: app-secret
    refresh_token: never-used-seed
    persist: true
`, name, tokenURL)
}

// TestClusterRefreshRace: two nodes (two stores on one PostgreSQL, each
// with its own runner) run the same persisted refresh at once against
// oidc-provider with rotation and reuse detection. A proxy holds the
// first token request until the second node has either sent its own
// (it read the same token: without the lock, the IdP refuses one of
// them as refresh_token_rejected and revokes the grant) or waits for the
// token's row lock in PostgreSQL (with it: both pass, the second with
// the token the first stored). The lockless half shows the race is real.
func TestClusterRefreshRace(t *testing.T) {
	if testing.Short() {
		t.Skip("real PostgreSQL and oidc-provider")
	}
	testenv.Require(t, "node")
	t.Parallel()
	pg := testenv.Postgres(t)
	op := testenv.NodeOIDCProvider(t, map[string]string{"REFRESH_ROTATION": "on"})
	key, _ := postgres.ParseSecretKey(strings.Repeat("cd", 32))

	for _, locked := range []bool{true, false} {
		t.Run(fmt.Sprintf("locked=%v", locked), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dsn := pg.CreateDatabase(t, fmt.Sprintf("race%v", locked))
			var nodes [2]*postgres.Store
			for i := range nodes {
				s, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				nodes[i] = s
			}
			gate := &tokenGate{released: make(chan struct{}), upstream: httputil.NewSingleHostReverseProxy(mustURL(t, op.URL))}
			proxy := httptest.NewServer(gate)
			t.Cleanup(proxy.Close)
			set, err := flows.LoadBytes(flows.LoadOptions{}, "race.yaml", []byte(clusterRefreshFlow("race", proxy.URL+"/token")))
			if err != nil {
				t.Fatal(err)
			}
			f, _ := set.Flow("race")
			if err := nodes[0].SaveSecret(ctx, "refresh_token/race/refresh", clusterLogin(t, op)); err != nil {
				t.Fatal(err)
			}
			runners := make([]*flows.Runner, 2)
			for i, s := range nodes {
				runners[i] = flows.NewRunner()
				runners[i].Tokens = s
				if locked {
					runners[i].Tokens = lockingTokens{TokenStore: s, locker: s}
				}
			}

			// Release the first request once the second node has sent
			// its own or waits for the lock.
			watch, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = watch.Close(context.Background()) })
			go func() {
				for i := 0; i < 2400 && ctx.Err() == nil; i++ {
					var waiting int
					_ = watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
						WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
					if waiting > 0 || gate.arrivals() >= 2 {
						break
					}
					time.Sleep(25 * time.Millisecond)
				}
				close(gate.released)
			}()
			results := make([]*flows.Result, 2)
			var wg sync.WaitGroup
			for i, r := range runners {
				wg.Go(func() { results[i] = r.Run(ctx, f) })
			}
			wg.Wait()
			rejected := 0
			for i, res := range results {
				if f := res.Failure(); f != nil {
					t.Logf("node %d: %s: %s", i, f.Reason, f.Summary)
					if f.Reason == flows.ReasonRefreshTokenRejected {
						rejected++
					}
				}
			}
			if !locked {
				if rejected != 1 {
					t.Errorf("without the lock: %d runs refused, want 1 (the race the lock prevents)", rejected)
				}
				return
			}
			for i, res := range results {
				if !res.OK {
					t.Errorf("node %d: %+v; want both runs to pass, one after the other", i, res.Failure())
				}
			}
			// The chain is intact: a third run passes with what the
			// second stored.
			if res := runners[0].Run(ctx, f); !res.OK {
				t.Errorf("a later run: %+v", res.Failure())
			}
		})
	}
}

// tokenGate forwards token requests to upstream, holding the first one
// until released is closed.
type tokenGate struct {
	released chan struct{}
	upstream http.Handler

	mu sync.Mutex
	n  int
}

func (g *tokenGate) arrivals() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

func (g *tokenGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.n++
	first := g.n == 1
	g.mu.Unlock()
	if first {
		select {
		case <-g.released:
		case <-r.Context().Done():
			return
		}
	}
	g.upstream.ServeHTTP(w, r)
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
