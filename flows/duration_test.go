package flows

import (
	"strings"
	"testing"
	"time"
)

// TestDurationFieldAcceptsDays: a flow file's durations take d and w, and a
// bad one keeps its positioned error, which now names d and w.
func TestDurationFieldAcceptsDays(t *testing.T) {
	y := "name: t\nevery: 1d\ntimeout: 30s\nalert: {remind_every: 1w2d}\nsteps:\n  - id: a\n    kind: http\n    url: https://x.example/\n"
	fs, err := LoadBytes(LoadOptions{}, "t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if got := fs.Flows[0].Every.Std(); got != 24*time.Hour {
		t.Errorf("every = %v, want 24h", got)
	}
	if got := fs.Flows[0].Alert.RemindEvery.Std(); got != 9*24*time.Hour {
		t.Errorf("remind_every = %v, want 216h", got)
	}
	_, err = LoadBytes(LoadOptions{}, "t.yaml", []byte(strings.Replace(y, "every: 1d", "every: 1dd", 1)))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:2:8") || !strings.Contains(err.Error(), `bad duration "1dd"`) || !strings.Contains(err.Error(), "1d") {
		t.Errorf("want a positioned bad-duration error at t.yaml:2:8 naming d, got %v", err)
	}
}
