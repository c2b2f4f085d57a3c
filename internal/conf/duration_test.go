package conf

import (
	"strings"
	"testing"
	"time"
)

// TestParseDurationDaysAndWeeks: d is 24h and w is 7d, as in Prometheus,
// combinable with each other and with Go's units; Go's syntax keeps working.
func TestParseDurationDaysAndWeeks(t *testing.T) {
	tests := []struct {
		text string
		want time.Duration
	}{
		{"1d", 24 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1w2d3h", 9*24*time.Hour + 3*time.Hour},
		{"2d12h30m", 60*time.Hour + 30*time.Minute},
		{"1.5d", 36 * time.Hour},
		{"0.5w", 84 * time.Hour},
		{"0d", 0},
		{"+1d", 24 * time.Hour},
		{"1d1d", 48 * time.Hour},
		{"3h1d", 27 * time.Hour},
		{"1d500ms", 24*time.Hour + 500*time.Millisecond},
		{"106751d", 106751 * 24 * time.Hour},
		{"0", 0},
		{"500ms", 500 * time.Millisecond},
		{"1h30m", 90 * time.Minute},
		{"10µs", 10 * time.Microsecond},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.text)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.text, got, err, tt.want)
		}
	}
}

func TestParseDurationRejects(t *testing.T) {
	for _, text := range []string{
		"", "d", "w", "1", "1D", "1W", "1dd", "1wd", "1 d", "d1", "1d-1h", "1.2.3d", ".d", "1y", "1dh",
		"106752d", "15251w", "9223372036854775807ns1d", "1e3d",
	} {
		if got, err := ParseDuration(text); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", text, got)
		}
	}
}

// FuzzParseDuration: the parser reads hostile YAML. It never panics; text
// without d or w means what time.ParseDuration says; a zero-day segment
// changes nothing and a one-day segment adds 24h; every value it returns
// reads back from its Go form (what Dur and error messages print).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1d", "1w2d3h", "1.5d", "0", "+0", "-1d", "1h30m", "500ms", "10µs", ".5d", "1.d", "106751d", "9223372036854775807ns", "-9223372036854775808ns", "1dd", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDuration(s)
		if !strings.ContainsAny(s, "dw") {
			want, wantErr := time.ParseDuration(s)
			if (err == nil) != (wantErr == nil) || v != want {
				t.Fatalf("%q: got %v, %v; time.ParseDuration says %v, %v", s, v, err, want, wantErr)
			}
		}
		if err != nil || v == time.Duration(-1<<63) {
			return
		}
		if got, err := ParseDuration(s + "0d"); err != nil || got != v {
			t.Fatalf("%q+0d = %v, %v; want %v", s, got, err, v)
		}
		if !strings.HasPrefix(s, "-") && v <= time.Duration(1<<63-1)-24*time.Hour {
			if got, err := ParseDuration(s + "1d"); err != nil || got != v+24*time.Hour {
				t.Fatalf("%q+1d = %v, %v; want %v", s, got, err, v+24*time.Hour)
			}
		}
		if back, err := ParseDuration(v.String()); err != nil || back != v {
			t.Fatalf("%q = %v reads back as %v, %v", s, v, back, err)
		}
	})
}
