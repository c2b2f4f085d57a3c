package report

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable returns s with every character that could change how a
// terminal shows the output written as a visible escape: C0 controls
// (ESC starts colour and OSC sequences, CR and LF forge lines, BEL, TAB
// breaks columns) as \x1b, \r, \n, \t; DEL and C1 controls as \x7f and
// \u0085; line and paragraph separators (U+2028, U+2029) and the
// bidirectional controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066
// to U+2069), which reorder what follows them, as \u202e; and bytes that
// are not UTF-8 as \xff. Everything else, printable text in any script
// included, is unchanged. Targets write error descriptions and pages;
// every human rendering of them goes through Printable (JSON output is
// escaped by encoding/json and stays exact).
func Printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			b.WriteString(escapeRune(r))
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 || unsafeRune(r) {
			return true
		}
		i += w
	}
	return false
}

// unsafeRune reports whether r is a control, separator or bidirectional
// control character.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == '\u2028', r == '\u2029', r == '\u061c', r == '\u200e', r == '\u200f':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

func escapeRune(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x80 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}
