package setcookie

import (
	"net/http"
	"strings"
)

// checkPrefix enforces the cookie name prefixes of RFC 6265bis §4.1.3.
// Prefixes are matched case-insensitively, as the current draft and
// browsers do, so "__HOST-sid" is held to the same rules.
func checkPrefix(c *http.Cookie, _ request) []Problem {
	name := lowerASCII(c.Name)
	isHost := strings.HasPrefix(name, "__host-")
	if !isHost && !strings.HasPrefix(name, "__secure-") {
		return nil
	}
	prefix := c.Name[:len("__secure-")]
	if isHost {
		prefix = c.Name[:len("__host-")]
	}
	var out []Problem
	if !c.Secure {
		out = append(out, problem(c, "Secure", "%s prefix requires Secure: browsers reject the cookie", safe(prefix))...)
	}
	if isHost && c.Domain != "" {
		out = append(out, problem(c, "Domain", "%s prefix forbids Domain: browsers reject the cookie", safe(prefix))...)
	}
	if isHost && c.Path != "/" {
		out = append(out, problem(c, "Path", "%s prefix requires Path=/: browsers reject the cookie", safe(prefix))...)
	}
	return out
}

// checkExpiry reports a Set-Cookie that deletes the cookie. Max-Age wins
// over Expires (RFC 6265bis §5.7, as in RFC 6265 §5.3), and net/http stores
// "Max-Age=0" or a negative Max-Age as MaxAge < 0.
func checkExpiry(c *http.Cookie, r request) []Problem {
	switch {
	case c.MaxAge < 0:
		return problem(c, "Expires", "Max-Age<=0: this Set-Cookie deletes the cookie")
	case c.MaxAge == 0 && !c.Expires.IsZero() && !c.Expires.After(r.now):
		return problem(c, "Expires", "Expires=%s is in the past: this Set-Cookie deletes the cookie", c.Expires.UTC().Format(http.TimeFormat))
	}
	return nil
}
