package exchange

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

const testMarker = "[redacted sha256:0123456789ab]"

func TestTruncate(t *testing.T) {
	tests := []struct {
		name     string
		s        string
		max      int
		dropped  int
		want     string
		wantSize int // of the kept text as a JSON string, without quotes
	}{
		{name: "fits", s: "hello", max: 5, want: "hello"},
		{name: "ascii", s: "hello world", max: 5, want: "hello…truncated 6 bytes"},
		{name: "dropped before", s: "hello", max: 5, dropped: 100, want: "hello…truncated 100 bytes"},
		{name: "two-byte rune not split", s: "aé", max: 2, want: "a…truncated 2 bytes"},
		{name: "four-byte rune not split", s: "a😀b", max: 4, want: "a…truncated 5 bytes"},
		{name: "escaped for JSON", s: "<<<<", max: 12, want: "<<…truncated 2 bytes"},
		{name: "quotes count twice", s: `"""`, max: 5, want: `""…truncated 1 bytes`},
		{name: "invalid UTF-8 counts as \\ufffd", s: "a\xffb", max: 6, want: "a…truncated 2 bytes"},
		{name: "marker kept whole", s: "x " + testMarker + " y", max: 2 + len(testMarker), want: "x " + testMarker + "…truncated 2 bytes"},
		{name: "marker not split", s: "x " + testMarker + " y", max: 10, want: "x …truncated 32 bytes"},
		{name: "marker word not split", s: "x " + testMarker, max: 5, want: "x …truncated 30 bytes"},
		{name: "second marker not split", s: testMarker + testMarker, max: len(testMarker) + 3, want: testMarker + "…truncated 30 bytes"},
		{name: "cut before: split rune dropped", s: "aé"[:2], max: 100, dropped: 10, want: "a…truncated 11 bytes"},
		{name: "cut before: split marker dropped", s: "a " + testMarker[:12], max: 100, dropped: 10, want: "a …truncated 22 bytes"},
		{name: "cut before: split marker word dropped", s: "a [reda", max: 100, dropped: 10, want: "a …truncated 15 bytes"},
		{name: "an unclosed [redacted is text", s: "[redacted" + strings.Repeat("z", 200), max: 20, want: "[redacted" + strings.Repeat("z", 11) + "…truncated 189 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Truncate(tt.s, tt.max, tt.dropped); got != tt.want {
				t.Errorf("Truncate(%q, %d, %d)\n got %q\nwant %q", tt.s, tt.max, tt.dropped, got, tt.want)
			}
		})
	}
}

func TestTruncateMiddle(t *testing.T) {
	tests := []struct {
		name string
		s    string
		max  int
		want string
	}{
		{name: "fits", s: "hello world", max: 11, want: "hello world"},
		{name: "head and tail", s: "GET " + strings.Repeat("a", 100) + " refused", max: 40, want: "GET " + strings.Repeat("a", 26) + "…truncated 72 bytes aa refused"},
		{name: "tail not inside a marker", s: strings.Repeat("a", 50) + testMarker + "b", max: 40, want: strings.Repeat("a", 30) + "…truncated 50 bytes b"},
		{name: "tail not inside a rune", s: strings.Repeat("a", 50) + "😀b", max: 8, want: "aaaaaa…truncated 48 bytes b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TruncateMiddle(tt.s, tt.max); got != tt.want {
				t.Errorf("TruncateMiddle(%q, %d)\n got %q\nwant %q", tt.s, tt.max, got, tt.want)
			}
		})
	}
}

var fuzzMarker = regexp.MustCompile(`\[redacted sha256:[0-9a-f]{12}\]`)

// FuzzTruncate: the kept text is a prefix of the input that fits max once
// encoded as JSON, is valid UTF-8 when the input is, and holds each
// redaction marker of the input whole or not at all.
func FuzzTruncate(f *testing.F) {
	f.Add("plain text", 4)
	f.Add("é€😀<>&\"\\\n\x01\u2028", 7)
	f.Add("a "+testMarker+" b "+testMarker, 20)
	f.Add("\xff\xfe[redacted", 3)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max % 4096
		if max < 0 {
			max = -max
		}
		checkMiddle(t, s, max)
		got := Truncate(s, max, 0)
		if got == s {
			if jsonSize(s) > max {
				t.Fatalf("Truncate(%q, %d) kept all %d JSON bytes", s, max, jsonSize(s))
			}
			return
		}
		kept, _, ok := strings.Cut(got, TruncatedMarker)
		if !ok || !strings.HasPrefix(s, kept) {
			t.Fatalf("Truncate(%q, %d) = %q: not a marked prefix", s, max, got)
		}
		kept = got[:strings.LastIndex(got, TruncatedMarker)]
		if !strings.HasPrefix(s, kept) {
			t.Fatalf("Truncate(%q, %d) = %q: not a prefix", s, max, got)
		}
		if jsonSize(kept) > max {
			t.Fatalf("Truncate(%q, %d): kept %d JSON bytes", s, max, jsonSize(kept))
		}
		if utf8.ValidString(s) && !utf8.ValidString(kept) {
			t.Fatalf("Truncate(%q, %d) = %q split a rune", s, max, got)
		}
		for _, loc := range fuzzMarker.FindAllStringIndex(s, -1) {
			if loc[0] < len(kept) && loc[1] > len(kept) {
				t.Fatalf("Truncate(%q, %d) = %q split the marker at %d", s, max, got, loc[0])
			}
		}
	})
}

// checkMiddle: TruncateMiddle keeps valid UTF-8 valid and every
// redaction marker whole.
func checkMiddle(t *testing.T, s string, max int) {
	got := TruncateMiddle(s, max)
	if got == s {
		return
	}
	if utf8.ValidString(s) && !utf8.ValidString(got) {
		t.Fatalf("TruncateMiddle(%q, %d) = %q split a rune", s, max, got)
	}
	if strings.Count(s, "[redacted sha256:") != len(fuzzMarker.FindAllString(s, -1)) {
		return // s holds a partial marker of its own
	}
	if strings.Count(got, "[redacted sha256:") != len(fuzzMarker.FindAllString(got, -1)) {
		t.Fatalf("TruncateMiddle(%q, %d) = %q split a marker", s, max, got)
	}
}

// jsonSize is what encoding/json writes for s, without the quotes.
func jsonSize(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}
