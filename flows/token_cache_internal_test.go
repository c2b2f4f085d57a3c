package flows

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
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
	if strings.Contains(key, "canary") {
		t.Fatalf("key %q holds a secret", key)
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
