package dpopproof

import (
	"crypto/subtle"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	// DefaultMaxAge is how old a proof may be (by its iat). Proofs are
	// made for one request and sent at once, so a minute is generous.
	DefaultMaxAge = time.Minute
	// DefaultLeeway is how far in the future iat may be: a client clock
	// slightly ahead.
	DefaultLeeway = 10 * time.Second
	// DefaultMaxRemembered bounds the replay cache: jtis seen within the
	// last MaxAge+Leeway. A burst of more proofs than that within the
	// window is refused rather than letting memory grow.
	DefaultMaxRemembered = 10_000
)

// Options tune a Verifier. The zero value is ready to use.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now           func() time.Time
	MaxAge        time.Duration
	Leeway        time.Duration
	MaxRemembered int
}

// Verifier checks proofs against the requests they came with and refuses
// a jti it has seen within the acceptance window (§11.1). One Verifier per
// server: the replay cache is its state. Safe for concurrent use.
type Verifier struct {
	now    func() time.Time
	maxAge time.Duration
	leeway time.Duration
	seen   *replayCache
}

// NewVerifier returns a Verifier with opts' zero fields defaulted.
func NewVerifier(opts Options) *Verifier {
	v := &Verifier{now: opts.Now, maxAge: opts.MaxAge, leeway: opts.Leeway}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxAge <= 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.leeway <= 0 {
		v.leeway = DefaultLeeway
	}
	limit := opts.MaxRemembered
	if limit <= 0 {
		limit = DefaultMaxRemembered
	}
	v.seen = &replayCache{until: map[string]time.Time{}, limit: limit}
	return v
}

// Request is what a proof must match: the request's method, the URL the
// server knows itself by (never one built from the request's Host
// header), and, at a resource server, the access token that came with it.
type Request struct {
	Method      string
	URL         string
	AccessToken string // "" at a token endpoint: no ath is checked
}

// Check parses raw (see Parse) and compares it with req (§4.3 items 8 to
// 12): htm, htu without query and fragment, iat within the window, ath
// when an access token came along, and a jti not seen before. The key
// binding (the proof's JKT against a token's cnf.jkt) is the caller's.
func (v *Verifier) Check(raw string, req Request) (*Proof, error) {
	p, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if p.HTM != req.Method {
		return nil, refuse("htm %q is not the request's method %s", p.HTM, req.Method)
	}
	if !sameURL(p.HTU, req.URL) {
		return nil, refuse("htu %q is not this endpoint's URL %s", p.HTU, req.URL)
	}
	now := v.now()
	iat := time.Unix(p.IssuedAt, 0)
	switch {
	case iat.Before(now.Add(-v.maxAge)):
		return nil, refuse("iat %s is more than %s old", iat.UTC().Format(time.RFC3339), v.maxAge)
	case iat.After(now.Add(v.leeway)):
		return nil, refuse("iat %s is in the future", iat.UTC().Format(time.RFC3339))
	}
	if req.AccessToken != "" {
		if p.ATH == "" {
			return nil, refuse("no ath: a proof sent with an access token must carry its hash")
		}
		if subtle.ConstantTimeCompare([]byte(p.ATH), []byte(AccessTokenHash(req.AccessToken))) != 1 {
			return nil, refuse("ath is not the hash of the access token sent with it")
		}
	}
	// Last, so a proof refused for another reason does not use up a slot.
	if err := v.seen.remember(p.JTI, iat.Add(v.maxAge), now); err != nil {
		return nil, err
	}
	return p, nil
}

// sameURL compares htu with the endpoint's URL after the syntax-based
// normalisation §4.3 recommends (RFC 3986 §6.2.2 and §6.2.3): scheme and
// host in lower case, default ports dropped, an empty path as "/", query
// and fragment ignored.
func sameURL(htu, endpoint string) bool {
	a, okA := normalURL(htu)
	b, okB := normalURL(endpoint)
	return okA && okB && a == b
}

func normalURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// replayCache remembers each jti until the proof that carried it could no
// longer be accepted anyway; at most limit of them.
type replayCache struct {
	mu    sync.Mutex
	until map[string]time.Time
	limit int
}

func (c *replayCache) remember(jti string, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Inclusive bounds on both sides: Check accepts an iat exactly maxAge
	// old, so its jti is kept until then too.
	if t, ok := c.until[jti]; ok && !now.After(t) {
		return refuse("jti was used before (a replayed proof)")
	}
	if len(c.until) >= c.limit {
		for k, t := range c.until {
			if now.After(t) {
				delete(c.until, k)
			}
		}
	}
	if len(c.until) >= c.limit {
		return refuse("more than %d proofs within the acceptance window; try again shortly", c.limit)
	}
	c.until[jti] = until
	return nil
}
