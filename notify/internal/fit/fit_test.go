package fit

import (
	"strings"
	"testing"
)

func TestRunes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghi…"},
		{"ééé", 3, "ééé"}, // 6 bytes, 3 runes: not cut
		{"éééé", 3, "éé…"},
	} {
		if got := Runes(tt.in, tt.n); got != tt.want {
			t.Errorf("Runes(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	if got := Key("okta-flow", 255); got != "okta-flow" {
		t.Errorf("a short key changed: %q", got)
	}
	long := strings.Repeat("k", 300)
	got := Key(long, 255)
	if len(got) > 255 || !strings.HasPrefix(got, "authwatch-") || got != Key(long, 255) || got == Key(long+"x", 255) {
		t.Errorf("Key of a long key = %q: want a stable, distinct hash within the limit", got)
	}
}
