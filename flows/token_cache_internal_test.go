package flows

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/jwtinspect"
	"github.com/authwatch/authwatch/internal/testenv"
)

func tcEntry(key, access string, now time.Time) *cachedToken {
	return &cachedToken{key: key, tok: &oauth2.Token{AccessToken: access}, fetched: now, lifetime: time.Hour, refreshAt: now.Add(48 * time.Minute)}
}

// TestTokenCacheBoundAndDrop: the cache keeps at most max entries (least
// recently used out), a drop removes only the token it names, a failed
// fetch stores nothing, and an entry past refresh-ahead leads a new fetch.
func TestTokenCacheBoundAndDrop(t *testing.T) {
	ctx, now := t.Context(), time.Unix(1_800_000_000, 0)
	c := &tokenCache{max: 3}
	for i := range 4 {
		key := fmt.Sprint("k", i)
		if i == 3 { // k0 used last: k1 goes first
			if hit, _, _ := c.acquire(ctx, "k0", now); hit == nil {
				t.Fatal("k0 not cached")
			}
		}
		hit, lead, err := c.acquire(ctx, key, now)
		if hit != nil || lead == nil || err != nil {
			t.Fatalf("%s: hit %v, lead %v, err %v; want to lead a fetch", key, hit, lead != nil, err)
		}
		lead(tcEntry(key, "at-"+key, now))
	}
	if n := c.len(); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
	hit, lead, _ := c.acquire(ctx, "k1", now)
	if hit != nil || lead == nil {
		t.Fatal("k1, least recently used, is still cached")
	}
	lead(nil) // the fetch failed
	if hit, lead, _ := c.acquire(ctx, "k1", now); hit != nil || lead == nil {
		t.Error("a failed fetch was cached")
	} else {
		lead(nil)
	}
	if c.drop("k0", "another token") || !c.drop("k0", "at-k0") || c.drop("k0", "at-k0") {
		t.Error("drop must remove exactly the named token")
	}
	if hit, lead, _ := c.acquire(ctx, "k2", now.Add(48*time.Minute)); hit != nil || lead == nil {
		t.Error("a token at its refresh-ahead point was served")
	}
}

// TestTokenCacheWaitIsBounded: a run waiting for another's fetch gives up
// with its own context.
func TestTokenCacheWaitIsBounded(t *testing.T) {
	c := &tokenCache{}
	now := time.Unix(1_800_000_000, 0)
	_, lead, _ := c.acquire(t.Context(), "k", now)
	defer lead(nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if hit, l, err := c.acquire(ctx, "k", now); hit != nil || l != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("hit %v, lead %v, err %v; want context.Canceled", hit, l != nil, err)
	}
}

// TestTokenCacheKey: the key changes with everything a token request
// sends (a password grant's user and password too), not with the order of
// scopes, and never holds the secret in clear.
func TestTokenCacheKey(t *testing.T) {
	base := func() *clientcredentials.Config {
		return &clientcredentials.Config{ClientID: "c", ClientSecret: "canary-secret-91f3", TokenURL: "https://idp.example/token",
			Scopes: []string{"a", "b"}, EndpointParams: url.Values{"username": {"u"}, "password": {"canary-password-5d2e"}}}
	}
	key := tokenCacheKey(grantPassword, base(), TLSOptions{})
	if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		t.Fatalf("key %q is not a hex SHA-256", key)
	}
	for _, secret := range []string{"canary-secret-91f3", "canary-password-5d2e"} {
		for _, enc := range []string{hex.EncodeToString([]byte(secret)), base64.StdEncoding.EncodeToString([]byte(secret)),
			base64.RawURLEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(key, enc) {
				t.Errorf("key %q holds an encoding of %s", key, secret)
			}
		}
	}
	reordered := base()
	reordered.Scopes = []string{"b", "a"}
	if tokenCacheKey(grantPassword, reordered, TLSOptions{}) != key {
		t.Error("the order of scopes changed the key")
	}
	for name, change := range map[string]func(*clientcredentials.Config){
		"secret":   func(c *clientcredentials.Config) { c.ClientSecret = "rotated" },
		"client":   func(c *clientcredentials.Config) { c.ClientID = "d" },
		"endpoint": func(c *clientcredentials.Config) { c.TokenURL = "https://idp.example/other" },
		"auth":     func(c *clientcredentials.Config) { c.AuthStyle = oauth2.AuthStyleInParams },
		"scopes":   func(c *clientcredentials.Config) { c.Scopes = []string{"a"} },
		"username": func(c *clientcredentials.Config) { c.EndpointParams.Set("username", "v") },
		"password": func(c *clientcredentials.Config) { c.EndpointParams.Set("password", "other") },
		"audience": func(c *clientcredentials.Config) { c.EndpointParams.Set("audience", "api") },
		"resource": func(c *clientcredentials.Config) { c.EndpointParams.Add("resource", "https://api.example/") },
	} {
		cfg := base()
		change(cfg)
		if tokenCacheKey(grantPassword, cfg, TLSOptions{}) == key {
			t.Errorf("another %s, same key", name)
		}
	}
	if tokenCacheKey(grantClientCredentials, base(), TLSOptions{}) == key {
		t.Error("another grant, same key")
	}
	if tokenCacheKey(grantPassword, base(), TLSOptions{CAFile: "/etc/ca.pem"}) == key {
		t.Error("other TLS options, same key")
	}
}

// TestTokenCacheFailedFetchReleasesWaiter: when the run that leads a fetch
// fails (lead(nil)), a run waiting for it in acquire is released at once,
// with nothing cached and no right to lead: it fetches on its own.
func TestTokenCacheFailedFetchReleasesWaiter(t *testing.T) {
	c := &tokenCache{}
	now := time.Unix(1_800_000_000, 0)
	_, lead, _ := c.acquire(t.Context(), "k", now)
	if lead == nil {
		t.Fatal("the first acquire does not lead the fetch")
	}
	type outcome struct {
		hit  *cachedToken
		lead bool
		err  error
	}
	got := make(chan outcome, 1)
	go func() {
		hit, l, err := c.acquire(t.Context(), "k", now)
		if l != nil {
			l(nil)
		}
		got <- outcome{hit, l != nil, err}
	}()
	for i := 0; c.waiters("k") == 0; i++ { // until the waiter blocks in acquire
		if i == 10_000_000 {
			t.Fatal("the second acquire never waited for the fetch in flight")
		}
		runtime.Gosched()
	}
	lead(nil)
	select {
	case o := <-got:
		if o.hit != nil || o.lead || o.err != nil {
			t.Errorf("waiter got hit %v, lead %v, err %v; want nothing cached, no lead and no error: it fetches on its own", o.hit, o.lead, o.err)
		}
	case <-time.After(time.Minute): // a guard against a hang, not a timing assertion
		t.Fatal("the waiter was not released by the failed fetch")
	}
	if n := c.len(); n != 0 {
		t.Errorf("%d entries after a failed fetch, want 0", n)
	}
}

// tcState is a run at now, in a token step whose token was received at
// received (a token from the shared cache when they differ).
func tcState(now, received time.Time) *State {
	st := newState(&Runner{Now: func() time.Time { return now }}, &Flow{Name: "f"})
	st.beginStep(&StepSpec{ID: "token", Kind: "client_credentials"}, nil)
	if !received.Equal(now) {
		st.step.tokenReceived = received
	}
	return st
}

// TestSharedLifetimeFromExpiry: a form-encoded token response gives x/oauth2
// only Expiry (no ExpiresIn); such a token is shared for its lifetime, not
// refused as one without any.
func TestSharedLifetimeFromExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	st := tcState(now, now)
	tok := &oauth2.Token{AccessToken: "opaque-access-token", Expiry: now.Add(time.Hour)}
	if got := sharedLifetime(st, tok); got != time.Hour {
		t.Errorf("lifetime %s, want 1h", got)
	}
	if got := sharedLifetime(st, &oauth2.Token{AccessToken: "opaque-access-token"}); got > 0 {
		t.Errorf("no expires_in, no Expiry, no exp: lifetime %s, want none", got)
	}
}

// TestTokenLifetimeOfACachedToken: a token from the shared cache, half its
// hour old, is measured and checked for the lifetime it was issued with,
// also when it has no iat: its age is not a short lifetime.
func TestTokenLifetimeOfACachedToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	received := now.Add(-30 * time.Minute)
	exp := received.Add(time.Hour)
	st := tcState(now, received)
	if got, ok := tokenLifetime(st, &oauth2.Token{AccessToken: "opaque-access-token", Expiry: exp}); !ok || got != time.Hour {
		t.Errorf("measured lifetime %s, want the 1h it had when received", got)
	}
	checks := &TokenChecks{MinLifetime: conf.Dur(59 * time.Minute)}
	if f := st.checkTimes("access token", &jwtinspect.Token{ExpiresAt: &exp}, checks); f != nil {
		t.Fatalf("failure %v", f)
	}
	for _, fd := range st.step.findings {
		t.Errorf("finding %s: %s; a cached token's age is no short lifetime", fd.Reason, fd.Summary)
	}
}

// TestSharedTokenWaitEnded: a run waiting for another run's fetch that is
// cancelled (authwatch stopping) is no timeout; one whose deadline passed is.
func TestSharedTokenWaitEnded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	st := tcState(now, now)
	for _, tc := range []struct {
		err  error
		want Reason
	}{{context.Canceled, ReasonInternalError}, {context.DeadlineExceeded, ReasonTimeout}} {
		var f *Failure
		if !errors.As(waitError(st, tc.err, now.Add(-3*time.Second)), &f) || f.Reason != tc.want {
			t.Errorf("%v: got %v, want %s", tc.err, f, tc.want)
			continue
		}
		if v, _ := factOf(f, "waited"); v != "3s" {
			t.Errorf("%v: waited %q, want 3s", tc.err, v)
		}
		if _, ok := factOf(f, "waited_for"); !ok {
			t.Errorf("%v: no waited_for fact", tc.err)
		}
	}
}

// TestSharedTokenCacheKeepsNoRefreshToken: the shared cache holds only what
// runs may share: a run that takes a token from it gets no refresh token
// (refreshing with it would rotate it under every other run).
func TestSharedTokenCacheKeepsNoRefreshToken(t *testing.T) {
	ngx := testenv.Nginx(t, `
    server {
        listen 127.0.0.1:{{port0}};
        location = /token {
            default_type application/json;
            return 200 '{"access_token":"opaque-access-5b0d","token_type":"Bearer","expires_in":3600,"refresh_token":"canary-refresh-9e2a"}';
        }
    }`)
	r := NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: func(string) (string, bool) { return "", false }}
	set, err := LoadBytes(LoadOptions{Secrets: r.Secrets}, "rt.yaml", []byte(`
name: rt
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: `+ngx.URL(0)+`/token
    client_id: c
    client_auth: none
    cache: shared
`))
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		if res := r.Run(t.Context(), set.Flows[0]); !res.OK {
			t.Fatalf("run %d failed: %v", run+1, res.Failure())
		}
	}
	c := r.sharedTokens()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Len() != 1 {
		t.Fatalf("%d cached tokens, want 1", c.lru.Len())
	}
	if ct := c.lru.Front().Value.(*cachedToken); ct.tok.AccessToken != "opaque-access-5b0d" || ct.tok.RefreshToken != "" {
		t.Errorf("cached access token %q, refresh token %q; want the access token only", ct.tok.AccessToken, ct.tok.RefreshToken)
	}
}
