package setcookie

import (
	"fmt"
	"net/http"
	"strings"
)

// Limits browsers enforce (RFC 6265bis §5.6).
const (
	maxNameValue = 4096
	maxAttrValue = 1024
)

func problem(c *http.Cookie, attr, format string, args ...any) []Problem {
	return []Problem{{Cookie: safe(c.Name), Attribute: attr, Detail: fmt.Sprintf(format, args...)}}
}

func checkSize(c *http.Cookie, _ request) []Problem {
	var out []Problem
	if n := len(c.Name) + len(c.Value); n > maxNameValue {
		out = append(out, problem(c, "Value", "name and value are %d bytes, over 4096: browsers ignore the cookie", n)...)
	}
	if len(c.Domain) > maxAttrValue {
		out = append(out, problem(c, "Domain", "Domain is over 1024 bytes: browsers ignore the attribute")...)
	}
	if len(c.Path) > maxAttrValue {
		out = append(out, problem(c, "Path", "Path is over 1024 bytes: browsers ignore the attribute")...)
	}
	return out
}

func checkSameSite(c *http.Cookie, _ request) []Problem {
	if c.SameSite == http.SameSiteNoneMode && !c.Secure {
		return problem(c, "SameSite", "SameSite=None without Secure: browsers reject the cookie")
	}
	return nil
}

func checkSecure(c *http.Cookie, r request) []Problem {
	if c.Secure && r.insecure {
		return problem(c, "Secure", "Secure cookie set over http: browsers reject it (only localhost and loopback addresses are exempt)")
	}
	return nil
}

// checkDomain applies domain-match (RFC 6265bis §5.1.3) after dropping the
// leading dot that §5.6 says to ignore.
func checkDomain(c *http.Cookie, r request) []Problem {
	d := strings.TrimPrefix(lowerASCII(c.Domain), ".")
	if !r.hasURL || d == "" || len(c.Domain) > maxAttrValue || domainMatch(r.host, d) {
		return nil
	}
	return problem(c, "Domain", "Domain=%s does not domain-match host %s: browsers reject the cookie", safe(d), safe(r.host))
}

// checkPath reports a Path that browsers ignore or that will keep the
// cookie from being sent to the URL (path-match, RFC 6265bis §5.1.4).
func checkPath(c *http.Cookie, r request) []Problem {
	switch {
	case c.Path == "" || len(c.Path) > maxAttrValue:
		return nil
	case c.Path[0] != '/':
		return problem(c, "Path", "Path=%s does not start with /: browsers ignore it and use the default path", safe(c.Path))
	case r.hasURL && !pathMatch(r.path, c.Path):
		return problem(c, "Path", "Path=%s does not match request path %s: the cookie is stored but not sent to this URL", safe(c.Path), safe(r.path))
	}
	return nil
}
