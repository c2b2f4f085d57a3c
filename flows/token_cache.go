package flows

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// DefaultTokenCacheEntries bounds the shared token cache of a Runner.
const DefaultTokenCacheEntries = 1000

// tokenCache is the shared token cache of token steps with cache: shared.
// It lives in memory only, for the life of the Runner (the daemon's
// process), and is never persisted or logged. Keys are hashes of
// everything a token request sends, so the secret is never a key in clear.
// The zero value is ready for use.
type tokenCache struct {
	mu       sync.Mutex
	max      int
	lru      *list.List               // of *cachedToken, most recently used first
	entries  map[string]*list.Element // key → element of lru
	inflight map[string]*tokenFetch   // key → the one fetch in flight
}

// cachedToken is one token shared by the runs that ask for it.
type cachedToken struct {
	key       string
	tok       *oauth2.Token
	fetched   time.Time
	lifetime  time.Duration
	refreshAt time.Time
}

// tokenFetch is a fetch in flight; done closes when it ends, with got set
// when it brought a token.
type tokenFetch struct {
	done    chan struct{}
	got     *cachedToken
	waiters int // runs that waited for it (under tokenCache.mu)
}

// acquire looks key up at now. It returns a fresh cached token (hit), or
// the right to fetch it (lead: call it with the token, or nil when the
// fetch failed, to wake the waiters), or neither: the fetch it waited
// for failed, and the caller fetches on its own, uncached. While a fetch
// for key is in flight, acquire waits for it, bounded by ctx.
func (c *tokenCache) acquire(ctx context.Context, key string, now time.Time) (hit *cachedToken, lead func(*cachedToken), err error) {
	c.mu.Lock()
	if c.entries == nil {
		c.lru, c.entries, c.inflight = list.New(), map[string]*list.Element{}, map[string]*tokenFetch{}
	}
	if el, ok := c.entries[key]; ok {
		ct := el.Value.(*cachedToken)
		if now.Before(ct.refreshAt) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return ct, nil, nil
		}
		c.removeLocked(el)
	}
	if f, ok := c.inflight[key]; ok {
		f.waiters++
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.got, nil, nil
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		}
	}
	f := &tokenFetch{done: make(chan struct{})}
	c.inflight[key] = f
	c.mu.Unlock()
	return nil, func(ct *cachedToken) { c.finish(key, f, ct) }, nil
}

// finish ends the fetch f: a token is stored, a failure is not.
func (c *tokenCache) finish(key string, f *tokenFetch, ct *cachedToken) {
	c.mu.Lock()
	delete(c.inflight, key)
	if ct != nil {
		if el, ok := c.entries[key]; ok {
			c.removeLocked(el)
		}
		c.entries[key] = c.lru.PushFront(ct)
		for c.lru.Len() > c.limit() {
			c.removeLocked(c.lru.Back())
		}
	}
	c.mu.Unlock()
	f.got = ct
	close(f.done)
}

// drop removes key's entry if it still holds the access token tok: a
// token fetched since then stays.
func (c *tokenCache) drop(key, accessToken string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok || el.Value.(*cachedToken).tok.AccessToken != accessToken {
		return false
	}
	c.removeLocked(el)
	return true
}

// len is the number of cached tokens.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *tokenCache) removeLocked(el *list.Element) {
	delete(c.entries, el.Value.(*cachedToken).key)
	c.lru.Remove(el)
}

func (c *tokenCache) limit() int {
	if c.max > 0 {
		return c.max
	}
	return DefaultTokenCacheEntries
}

// tokenCacheKey is a hash of everything a token request sends and of the
// TLS options it is sent with: requests that would get the same token
// share a key, and a rotated secret makes a new one.
func tokenCacheKey(grant grantType, cfg *clientcredentials.Config, tls TLSOptions) string {
	scopes := slices.Clone(cfg.Scopes)
	slices.Sort(scopes)
	h := sha256.New()
	for _, part := range []string{string(grant), cfg.TokenURL, cfg.ClientID, cfg.ClientSecret,
		fmt.Sprint(cfg.AuthStyle), strings.Join(scopes, " "), cfg.EndpointParams.Encode(), fmt.Sprintf("%+v", tls)} {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// waiters is the number of runs that waited for key's fetch in flight.
func (c *tokenCache) waiters(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.inflight[key]; ok {
		return f.waiters
	}
	return 0
}
