package setcookie

import (
	"fmt"
	"net/http"
	"strings"
)

// Describe renders the cookie as a Set-Cookie line for evidence, with the
// value replaced by its length (REASONS.md: secrets never appear), e.g.
// "sid=<32 bytes>; Path=/; Secure; HttpOnly; SameSite=Lax". It depends on
// the value only through its length. Attributes follow RFC 6265bis §4.1.1
// syntax; unparsed ones are left out.
func Describe(c *http.Cookie) string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s=<%d bytes>", safe(c.Name), len(c.Value))
	if c.Path != "" {
		b.WriteString("; Path=" + safe(c.Path))
	}
	if c.Domain != "" {
		b.WriteString("; Domain=" + safe(c.Domain))
	}
	writeExpiry(&b, c)
	for _, f := range []struct {
		on   bool
		name string
	}{{c.Secure, "Secure"}, {c.HttpOnly, "HttpOnly"}} {
		if f.on {
			b.WriteString("; " + f.name)
		}
	}
	b.WriteString(sameSite(c.SameSite))
	if c.Partitioned {
		b.WriteString("; Partitioned")
	}
	return b.String()
}

func writeExpiry(b *strings.Builder, c *http.Cookie) {
	switch {
	case !c.Expires.IsZero():
		b.WriteString("; Expires=" + c.Expires.UTC().Format(http.TimeFormat))
	case c.RawExpires != "":
		b.WriteString("; Expires=<unparsable>")
	}
	switch {
	case c.MaxAge > 0:
		fmt.Fprintf(b, "; Max-Age=%d", c.MaxAge)
	case c.MaxAge < 0:
		b.WriteString("; Max-Age=0")
	}
}

// sameSite renders the SameSite attribute; net/http reports an attribute
// with an unknown value as SameSiteDefaultMode, which browsers treat as
// absent (Lax by default).
func sameSite(s http.SameSite) string {
	switch s {
	case http.SameSiteLaxMode:
		return "; SameSite=Lax"
	case http.SameSiteStrictMode:
		return "; SameSite=Strict"
	case http.SameSiteNoneMode:
		return "; SameSite=None"
	case http.SameSiteDefaultMode:
		return "; SameSite=<invalid>"
	}
	return ""
}
