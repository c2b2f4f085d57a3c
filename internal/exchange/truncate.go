package exchange

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// TruncatedMarker starts what replaces the cut end of a truncated text:
// "…truncated 8388608 bytes".
const TruncatedMarker = "…truncated "

// redactionMarker starts what replaces a secret (see internal/redact); a cut
// never splits one, so a marker is shown whole or not at all.
const redactionMarker = "[redacted"

// maxMarkerLen bounds a redaction marker's length: a "[redacted" further
// from its "]" is not one.
const maxMarkerLen = 96

// Truncate returns s if it takes at most max bytes once encoded as a JSON
// string (as it is stored and served), or else its longest prefix that
// does, followed by "…truncated N bytes" (N counts the bytes cut, plus
// dropped bytes already cut before, e.g. of a body read only in part).
//
// The cut never splits a UTF-8 sequence nor a redaction marker. Truncate
// redacted text only: redaction replaces a whole secret by its marker,
// which a cut before redaction could split, leaving part of the secret
// unrecognised.
func Truncate(s string, max int, dropped int) string {
	n := CutPoint(s, max)
	switch {
	case n < len(s):
	case dropped == 0:
		return s
	default: // s was cut before: its end may split a rune or a marker
		n = beforeSplitMarker(s, completeRunes(s))
		n = beforeMarkerStart(s[:n])
	}
	return s[:n] + Marker(len(s)-n+dropped)
}

// beforeMarkerStart drops the start of a redaction marker's first word
// from the end of s.
func beforeMarkerStart(s string) int {
	for k := len(redactionMarker) - 1; k > 0; k-- {
		if strings.HasSuffix(s, redactionMarker[:k]) {
			return len(s) - k
		}
	}
	return len(s)
}

// completeRunes is the length of s without an incomplete UTF-8 sequence at
// its end.
func completeRunes(s string) int {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if utf8.FullRuneInString(s[i:]) {
				return len(s)
			}
			return i
		}
	}
	return len(s)
}

// Marker says that n bytes were cut.
func Marker(n int) string { return TruncatedMarker + strconv.Itoa(n) + " bytes" }

// CutPoint is the length of the longest prefix of s that takes at most max
// bytes as a JSON string and ends neither inside a UTF-8 sequence nor
// inside a redaction marker.
func CutPoint(s string, max int) int {
	n, size := 0, 0
	for n < len(s) {
		r, w := utf8.DecodeRuneInString(s[n:])
		size += JSONLen(r, w)
		if size > max {
			break
		}
		n += w
	}
	if n == len(s) {
		return n
	}
	return beforeSplitMarker(s, n)
}

// beforeSplitMarker moves a cut at n back to the start of a redaction
// marker that it would split.
func beforeSplitMarker(s string, n int) int {
	from := max(0, n-maxMarkerLen)
	window := s[from:min(len(s), n+len(redactionMarker)-1)]
	for off := 0; ; {
		i := strings.Index(window[off:], redactionMarker)
		if i < 0 {
			return n
		}
		start := from + off + i
		if start >= n {
			return n
		}
		end := strings.IndexByte(s[start:min(len(s), start+maxMarkerLen)], ']')
		split := end >= 0 && start+end >= n || end < 0 && len(s)-start < maxMarkerLen
		if split {
			return start
		}
		off += i + 1
	}
}

// JSONLen is how many bytes encoding/json writes for the rune r that took
// w bytes of UTF-8 (an invalid byte is written as \ufffd): <, > and & are
// escaped for HTML, control characters and U+2028/U+2029 as \u00XX.
func JSONLen(r rune, w int) int {
	switch {
	case r == utf8.RuneError && w == 1:
		return 6
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	}
	return w
}

// TruncateMiddle is Truncate keeping the end of s too: its first three
// quarters of max and its last quarter, the marker between them. A
// sentence that quotes something long (a URL, a description) keeps its
// conclusion. Neither part splits a UTF-8 sequence or a redaction marker.
func TruncateMiddle(s string, max int) string {
	if CutPoint(s, max) == len(s) {
		return s
	}
	head := CutPoint(s, max-max/4)
	tail := tailStart(s, max/4)
	if tail <= head {
		return Truncate(s, max, 0)
	}
	return s[:head] + Marker(tail-head) + " " + s[tail:]
}

// tailStart is where the longest suffix of s that takes at most max bytes
// as a JSON string starts, moved forward out of a redaction marker.
func tailStart(s string, max int) int {
	n, size := len(s), 0
	for n > 0 {
		r, w := utf8.DecodeLastRuneInString(s[:n])
		size += JSONLen(r, w)
		if size > max {
			break
		}
		n -= w
	}
	if start := beforeSplitMarker(s, n); start < n {
		// n is inside a marker: start after it.
		end := strings.IndexByte(s[start:], ']')
		if end < 0 {
			return len(s)
		}
		return start + end + 1
	}
	return n
}
