package flows

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
)

// Values of a token step's cache field.
const (
	cacheShared = "shared"
	cacheNone   = "none"
)

// defaultRefreshAt is when a shared token is refetched, as a share of its lifetime.
const defaultRefreshAt = 80

// SharedCache is a token step's opt-in to the Runner's shared token cache:
// runs that would send the same token request (endpoint, client and
// secret, grant parameters, scopes, audience, resource) share one token
// until a share of its lifetime has passed, so a thousand flows do not
// turn the monitor into a load test of the IdP.
type SharedCache struct {
	Cache     string `yaml:"cache,omitempty" json:"cache,omitempty" jsonschema:"enum=shared,enum=none,description=shared: reuse a token another run got with the same request until cache_refresh_at of its lifetime (in memory only). Default none: every run asks the token endpoint."`
	RefreshAt string `yaml:"cache_refresh_at,omitempty" json:"cache_refresh_at,omitempty" jsonschema:"pattern=^[1-9][0-9]?%$,description=With cache: shared\\, the share of a token's lifetime after which it is fetched afresh (default 80%)."`
}

// validate checks the cache options; negative is a step that expects the
// grant refused, which must ask the token endpoint every run.
func (c SharedCache) validate(negative bool, maxLatency conf.Duration) error {
	switch c.Cache {
	case "", cacheNone, cacheShared:
	default:
		return conf.FieldErrorf("cache", "must be shared or none, got %q", c.Cache)
	}
	if c.Cache == cacheShared && negative {
		return conf.FieldErrorf("cache", "cannot go with expect.error: a negative check must ask the token endpoint on every run")
	}
	if c.Cache == cacheShared && !maxLatency.IsZero() {
		return conf.FieldErrorf("expect.max_latency", "cannot go with cache: shared: a token from the shared cache takes no time, so its latency says nothing about the token endpoint")
	}
	if c.RefreshAt == "" {
		return nil
	}
	if c.Cache != cacheShared {
		return conf.FieldErrorf("cache_refresh_at", "only goes with cache: shared")
	}
	if _, err := parseRefreshAt(c.RefreshAt); err != nil {
		return conf.FieldError{Path: "cache_refresh_at", Err: err}
	}
	return nil
}

// sharesTokens reports whether the step takes its token from the shared
// cache: later steps must not use its refresh token (see checkRefs).
func (c SharedCache) sharesTokens() bool { return c.Cache == cacheShared }

// refreshAt is the share of a token's lifetime, in percent, it is used for.
func (c SharedCache) refreshAt() int {
	if p, err := parseRefreshAt(c.RefreshAt); err == nil && c.RefreshAt != "" {
		return p
	}
	return defaultRefreshAt
}

func parseRefreshAt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || !strings.HasSuffix(s, "%") || n < 1 || n > 99 {
		return 0, errors.New("must be a share of the token's lifetime from 1% to 99%, e.g. 80%, got " + strconv.Quote(s))
	}
	return n, nil
}

// grantShared is grant through the shared token cache when the step opts in.
func (r *TokenRequest) grantShared(ctx context.Context, st *State, grant grantType, params url.Values, sc SharedCache) error {
	if sc.Cache != cacheShared {
		return r.grant(ctx, st, grant, params)
	}
	cfg, endpoint, doc, err := r.prepare(ctx, st, grant, params)
	if err != nil {
		return r.tokenError(st, grant, endpoint, err)
	}
	key, err := r.sharedCacheKey(st, grant, cfg)
	if err != nil {
		return r.tokenError(st, grant, endpoint, err)
	}
	waitStart := st.Now()
	hit, lead, err := st.runner.sharedTokens().acquire(ctx, key, waitStart)
	if err != nil {
		return waitError(st, err, waitStart)
	}
	if hit != nil {
		st.Note("token_source: cache, token_age: %s; the access token came from the shared token cache and is fetched afresh at %d%% of its %s lifetime",
			roundDur(st.Now().Sub(hit.fetched)), sc.refreshAt(), roundDur(hit.lifetime))
		st.step.tokenReceived = hit.fetched
		st.step.fromCache = true
		return r.acceptShared(ctx, st, hit.tok, endpoint, doc, key)
	}
	defer func() {
		if lead != nil { // the fetch failed, or panicked: waiters go on their own
			lead(nil)
		}
	}()
	tok, err := r.fetch(ctx, st, cfg)
	if err != nil {
		return r.tokenError(st, grant, endpoint, err)
	}
	if lead == nil { // the fetch this run waited for failed: its own is not shared
		return r.accept(ctx, st, tok, endpoint, doc, nil)
	}
	lifetime := sharedLifetime(st, tok)
	if lifetime <= 0 {
		st.Note("token_source: token endpoint; not shared: the token endpoint announced no lifetime (expires_in) and the token has no exp")
		return r.accept(ctx, st, tok, endpoint, doc, nil)
	}
	now := st.Now()
	// The refresh token is not shared: a run that refreshed with it would
	// rotate it, and every later run would send the replaced one (with
	// reuse detection, revoking the grant of every flow sharing it).
	shared := *tok
	shared.RefreshToken = ""
	lead(&cachedToken{key: key, tok: &shared, fetched: now, lifetime: lifetime,
		refreshAt: now.Add(lifetime * time.Duration(sc.refreshAt()) / 100)})
	lead = nil
	st.Note("token_source: token endpoint; the access token is shared with other runs until %d%% of its %s lifetime", sc.refreshAt(), roundDur(lifetime))
	return r.acceptShared(ctx, st, tok, endpoint, doc, key)
}

// waitError classifies a wait for another run's fetch of the same token
// that ended early: the run's deadline passed, or authwatch is stopping.
func waitError(st *State, err error, since time.Time) error {
	facts := []Fact{F("waited", roundDur(st.Now().Sub(since)).String()), F("waited_for", "another run's request for the same token")}
	if errors.Is(err, context.Canceled) {
		return Fail(ReasonInternalError, "the run was cancelled while it waited for another run's request for the same token (authwatch is stopping)").
			With(facts...).Wrap(err)
	}
	return Fail(ReasonTimeout, "the run's deadline passed while it waited for another run's request for the same token").With(facts...).Wrap(err)
}

// acceptShared is accept for a token in the shared cache. The run
// remembers where its access token came from, so an API's 401 drops it
// (dropRefusedToken), and a token that fails this run's checks is dropped
// at once: the next run fetches a fresh one.
func (r *TokenRequest) acceptShared(ctx context.Context, st *State, tok *oauth2.Token, endpoint string, doc *DiscoveryDoc, key string) error {
	if st.sharedTokens == nil {
		st.sharedTokens = map[string]string{}
	}
	st.sharedTokens[tok.AccessToken] = key
	err := r.accept(ctx, st, tok, endpoint, doc, nil)
	if err == nil {
		return nil
	}
	if f := (*Failure)(nil); errors.As(err, &f) && !st.step.tokenReceived.IsZero() {
		f.With(F("token_source", "cache"), F("token_age", roundDur(st.Now().Sub(st.step.tokenReceived))))
	}
	if st.runner.sharedTokens().drop(key, tok.AccessToken) {
		st.Note("the token failed this run's checks and was dropped from the shared token cache")
	}
	return err
}

// dropRefusedToken drops a shared token an API refused (a 401 to the
// bearer token): the next run fetches a fresh one.
func (st *State) dropRefusedToken(bearer string, err error) {
	key, ok := st.sharedTokens[bearer]
	if !ok {
		return
	}
	if f := (*Failure)(nil); errors.As(err, &f) {
		f.With(F("token_source", "cache"))
	}
	if st.runner.sharedTokens().drop(key, bearer) {
		st.Note("the API refused a token from the shared token cache; it was dropped, so the next run fetches a fresh one")
	}
}

// sharedLifetime is how long a token may be shared: the expires_in the IdP
// announced, or less when the token's exp says so.
func sharedLifetime(st *State, tok *oauth2.Token) time.Duration {
	d := time.Duration(tok.ExpiresIn) * time.Second
	if d <= 0 && !tok.Expiry.IsZero() {
		// A form-encoded token response sets only Expiry (x/oauth2).
		d = tok.Expiry.Sub(st.Now())
	}
	if t := st.inspectJWT(tok.AccessToken); t != nil && t.ExpiresAt != nil {
		if left := t.ExpiresAt.Sub(st.Now()); d <= 0 || left < d {
			d = left
		}
	}
	return d
}
