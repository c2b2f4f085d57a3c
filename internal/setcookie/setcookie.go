// Package setcookie explains why a browser would reject a Set-Cookie, or
// never send the cookie back, per RFC 6265bis (draft-ietf-httpbis-rfc6265bis,
// which obsoletes RFC 6265). Parsing is net/http's http.ParseSetCookie;
// this package adds the checks browsers apply on top, and a rendering for
// evidence that never shows the cookie's value.
package setcookie

import (
	"net/http"
	"net/url"
	"time"
)

// Problem is one reason the cookie will not work as intended for a URL:
// the evidence behind cookie_attributes_invalid and session_cookie_missing.
type Problem struct {
	Cookie    string // the cookie name
	Attribute string // the attribute at fault: Domain, Path, Secure, SameSite, Expires or Value
	Detail    string // what a browser does about it, e.g. "SameSite=None without Secure: browsers reject the cookie"
}

// check is one rule; it returns the problems it finds.
type check func(c *http.Cookie, r request) []Problem

// checks runs in this order, so reports list problems in a stable order.
var checks = []check{checkSize, checkSameSite, checkSecure, checkDomain, checkPath, checkPrefix, checkExpiry}

// request is the target URL reduced to what the rules compare.
type request struct {
	hasURL   bool
	insecure bool   // http:// to a host browsers do not treat as a secure context
	host     string // lower-case, no port, no IPv6 brackets
	path     string // escaped path, "/" when empty
	now      time.Time
}

// Check reports the problems of cookie c, set by (and to be sent back to)
// target, as of now. target may be nil: then only the rules that need no
// URL run. See CheckAt for the rules.
func Check(c *http.Cookie, target *url.URL) []Problem {
	return CheckAt(c, target, time.Now())
}

// CheckAt is Check with an explicit clock. The rules (RFC 6265bis §4.1, §5.6,
// §5.7):
//
//   - name and value longer than 4096 bytes, or Domain or Path longer than
//     1024: ignored by browsers (§5.6)
//   - SameSite=None without Secure: rejected by browsers (§5.7)
//   - Secure set over http://: rejected (§5.7), except on localhost and
//     loopback addresses, which browsers treat as secure contexts
//   - Domain that does not domain-match the host: rejected (§5.1.3, §5.7)
//   - Path not starting with "/" (ignored), or not path-matching the URL's
//     path: stored but never sent back there (§5.1.4)
//   - __Secure- and __Host- prefixes (matched case-insensitively) whose
//     requirements are unmet: rejected (§4.1.3)
//   - Max-Age<=0, or Expires in the past without Max-Age: the Set-Cookie
//     deletes the cookie (§5.6, §5.7), reported as Attribute "Expires"
//
// It does not check public suffixes (Domain=com): the standard library has
// no public suffix list.
func CheckAt(c *http.Cookie, target *url.URL, now time.Time) []Problem {
	if c == nil {
		return nil
	}
	r := newRequest(target, now)
	var out []Problem
	for _, rule := range checks {
		out = append(out, rule(c, r)...)
	}
	return out
}

func newRequest(u *url.URL, now time.Time) request {
	r := request{now: now}
	if u == nil {
		return r
	}
	r.hasURL = true
	r.host = lowerASCII(u.Hostname())
	r.insecure = lowerASCII(u.Scheme) == "http" && !isLoopback(r.host)
	if r.path = u.EscapedPath(); r.path == "" {
		r.path = "/"
	}
	return r
}
