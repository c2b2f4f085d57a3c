package oautherr

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addExtras copies the fields of m named in keys into e.Extra, skipping the
// one already used as the code (Okta's errorCode). Existing entries win, so
// the outer object's ids beat those of a nested one.
func (e *Error) addExtras(m object, keys []string) {
	for _, k := range keys {
		v := scalar(m[k])
		if v == "" || e.Extra[k] != "" || clean(v, MaxCode) == e.Code {
			continue
		}
		e.setExtra(k, v)
	}
}

// scalar renders a JSON string, number or bool, or an array of them joined
// with commas (Entra's "error_codes":[7000215]); other values give "".
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, 0, len(v))
		for _, x := range v {
			if _, nested := x.([]any); !nested {
				if s := scalar(x); s != "" {
					parts = append(parts, s)
				}
			}
			if len(parts) > MaxExtra { // the joined value is cut anyway
				break
			}
		}
		return strings.Join(parts, ",")
	}
	return ""
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func firstStr(m object, keys ...string) string {
	for _, k := range keys {
		if s := str(m[k]); s != "" {
			return s
		}
	}
	return ""
}

// clean makes a hostile string safe to echo: valid UTF-8, control and
// bidirectional-override characters turned into spaces (no forged log lines,
// no text that reads backwards), trimmed, and cut to max characters with an
// ellipsis so a reader can tell it was cut.
func clean(s string, max int) string {
	if len(s) > 4*max+8 { // no need to scan past what can be kept
		s = s[:4*max+8]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return truncate(s, max-1) + "…"
}

func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
