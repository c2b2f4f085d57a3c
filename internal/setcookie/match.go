package setcookie

import (
	"net"
	"strings"
)

// domainMatch implements RFC 6265bis §5.1.3: the host equals the domain,
// or is a subdomain of it and is not an IP address.
func domainMatch(host, domain string) bool {
	if host == domain {
		return true
	}
	return strings.HasSuffix(host, "."+domain) && net.ParseIP(host) == nil
}

// pathMatch implements RFC 6265bis §5.1.4.
func pathMatch(reqPath, cookiePath string) bool {
	if reqPath == cookiePath {
		return true
	}
	if !strings.HasPrefix(reqPath, cookiePath) {
		return false
	}
	return strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/'
}

// isLoopback reports the hosts that browsers treat as secure contexts over
// plain http, and so accept Secure cookies from: localhost, *.localhost and
// loopback addresses.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lowerASCII lower-cases ASCII letters only: cookie names, domains and
// schemes are compared without Unicode case folding.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// safe makes an attribute or name printable and short for a report:
// bytes outside printable ASCII become '?', and it is cut at 64 bytes.
// Cookies built by hand rather than by http.ParseSetCookie may hold
// anything.
func safe(s string) string {
	const max = 64
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if cut {
		return string(b) + "..."
	}
	return string(b)
}
