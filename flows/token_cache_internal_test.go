package flows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"
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
