// Package challenge parses WWW-Authenticate header values (RFC 9110 §11.6.1)
// into challenges (RFC 9110 §11.2), including the Bearer parameters of
// RFC 6750 §3.
//
// The input comes from servers we monitor and is treated as hostile: parsing
// never panics, reads at most MaxInput bytes, keeps at most MaxChallenges
// challenges and MaxParams parameters per challenge, and is lenient: it
// returns every challenge it could make sense of plus an error naming the
// first malformed part.
package challenge

import (
	"sort"
	"strings"
)

// Limits on the work done for one response. A real server sends a handful of
// challenges with a handful of parameters; anything beyond these is either a
// bug or an attack, and is reported, not processed.
const (
	MaxInput      = 64 << 10 // bytes, summed over all header values
	MaxChallenges = 64       // per response
	MaxParams     = 64       // per challenge
)

// Challenge is one auth-scheme with its token68 or its auth-params
// (RFC 9110 §11.2). A challenge carries either Token68 or Params, never both.
type Challenge struct {
	// Scheme is the auth-scheme as sent (case preserved); compare it with
	// Find, since RFC 9110 §11.1 makes schemes case-insensitive.
	Scheme string
	// Token68 is the token68 form (RFC 9110 §11.2), e.g. for Negotiate.
	Token68 string
	// Params holds the auth-params with lower-cased names (RFC 9110 §11.2:
	// names are case-insensitive) and unquoted values with quoted-pair
	// escapes resolved. Nil when the challenge has no parameters.
	Params map[string]string
}

// Find returns the first challenge whose scheme matches scheme
// case-insensitively (RFC 9110 §11.1).
func Find(chs []Challenge, scheme string) (Challenge, bool) {
	for _, c := range chs {
		if asciiEqualFold(c.Scheme, scheme) {
			return c, true
		}
	}
	return Challenge{}, false
}

// Param returns the value of the auth-param name, matched
// case-insensitively (RFC 9110 §11.2), or "" when it is absent; for Bearer
// the useful ones are realm, scope, error, error_description and error_uri
// (RFC 6750 §3).
func (c Challenge) Param(name string) string {
	return c.Params[asciiLower(name)]
}

// String renders the challenge in RFC 9110 §11.2 syntax for evidence:
// parameters sorted by name, values as tokens when they are tokens and as
// re-escaped quoted-strings otherwise. Parsing the result yields the same
// challenge, and since the parser dropped control characters the rendering
// cannot inject lines into logs. Bytes of obs-text (0x80-0xFF) are kept as
// sent and need not be UTF-8.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteByte(' ')
		b.WriteString(c.Token68)
		return b.String()
	}
	for i, k := range sortedKeys(c.Params) {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		writeValue(&b, c.Params[k])
	}
	return b.String()
}

// writeValue writes v as a token when it is one and as a quoted-string
// otherwise, escaping only '"' and '\' as RFC 9110 §5.6.4 recommends.
func writeValue(b *strings.Builder, v string) {
	if isToken(v) {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
