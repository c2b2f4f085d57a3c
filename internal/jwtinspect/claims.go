package jwtinspect

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// The NumericDates accepted: year 1 to year 9999. Anything outside is a
// bug or an attack, and converting it could overflow time.Time.
const (
	minDate = -62135596800
	maxDate = 253402300799
)

// fill copies the well-known header fields and claims into typed fields.
func (t *Token) fill() {
	t.Alg, t.Kid, t.Typ = str(t.Header["alg"]), str(t.Header["kid"]), str(t.Header["typ"])
	c := t.Claims
	t.Issuer, t.Subject = str(c["iss"]), str(c["sub"])
	t.Nonce, t.AuthorizedParty = str(c["nonce"]), str(c["azp"])
	t.ClientID = firstStr(c, "client_id", "cid", "appid")
	t.Audience = list(c["aud"], false)
	t.ExpiresAt = numericDate(c["exp"])
	t.NotBefore = numericDate(c["nbf"])
	t.IssuedAt = numericDate(c["iat"])
	t.Scopes = dedupe(append(list(c["scope"], true), list(c["scp"], true)...))
	t.Roles = list(c["roles"], false)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func firstStr(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := str(m[k]); s != "" {
			return s
		}
	}
	return ""
}

// list reads a string or an array of strings; split also breaks strings at
// spaces, as scope values are space-separated (RFC 6749 §3.3). Empty and
// non-string elements are skipped.
func list(v any, split bool) []string {
	var out []string
	add := func(s string) {
		if split {
			out = append(out, strings.Fields(s)...)
		} else if s != "" {
			out = append(out, s)
		}
	}
	switch v := v.(type) {
	case string:
		add(v)
	case []any:
		for _, x := range v {
			add(str(x))
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// numericDate reads a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional. Numeric strings are accepted because some issuers
// send them; implausible values give nil.
func numericDate(v any) *time.Time {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < minDate || f > maxDate {
		return nil // also rejects ±Inf
	}
	sec, frac := math.Modf(f)
	tm := time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
	return &tm
}
