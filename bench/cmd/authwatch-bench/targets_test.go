package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCountWarnings counts the daemon's warnings after an offset, and
// those about late or skipped runs with their messages, from slog's text
// format as `authwatch run` writes it.
func TestCountWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.log")
	before := `time=2026-12-06T21:00:00Z level=WARN msg="runs skipped: old" flows=1` + "\n"
	log := before +
		`time=2026-12-06T21:00:01Z level=INFO msg="flow passing" flow=a` + "\n" +
		`time=2026-12-06T21:00:02Z level=WARN msg="flow failing" flow=b reason=unexpected_status` + "\n" +
		`time=2026-12-06T21:00:03Z level=WARN msg="runs skipped: the previous run was still running at the next start (overlap); the monitor falls behind" flows=3 skipped_runs=7` + "\n" +
		`time=2026-12-06T21:00:04Z level=WARN msg="runs late: p99 lateness 320ms" flows=12` + "\n" +
		`time=2026-12-06T21:00:05Z level=WARN msg="runs late: p99 lateness 320ms" flows=13` + "\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	w := countWarnings(path, int64(len(before)))
	if w.Warn != 4 || w.LateOrSkip != 3 {
		t.Fatalf("warn %d, late or skip %d; want 4, 3", w.Warn, w.LateOrSkip)
	}
	if len(w.Messages) != 2 || !strings.HasPrefix(w.Messages[0], "runs skipped: the previous run") || w.Messages[1] != "runs late: p99 lateness 320ms" {
		t.Fatalf("messages %q", w.Messages)
	}
}

// TestHealthSummary names the status and the keys that say why.
func TestHealthSummary(t *testing.T) {
	got := healthSummary(health{Code: 200, Body: map[string]any{"status": "degraded", "flows": 10000.0, "runs_skipped": map[string]any{}, "runs_late": map[string]any{}}})
	if got != "degraded (200): runs_late, runs_skipped" {
		t.Fatalf("got %q", got)
	}
	if got := healthSummary(health{Code: 200, Body: map[string]any{"status": "ok", "flows": 3.0}}); got != "ok (200)" {
		t.Fatalf("got %q", got)
	}
}

// TestTargetsConfig writes retention for the history days, the status
// page's bearer and the history snippet, and max_concurrent only when
// asked for.
func TestTargetsConfig(t *testing.T) {
	e := &env{o: options{interval: 10e9, historyDays: 30, maxConcurrent: 64}}
	c := e.targetsConfig("/s", "127.0.0.1:1", "/f", "history:\n  x: 1\n")
	for _, want := range []string{"max_age: 720h0m0s\n", "max_runs_per_flow: 260200\n", "bearer: ${env:" + statusTokenEnv + "}\n", "history:\n  x: 1\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "max_concurrent") || strings.Contains(c, daemonToken) {
		t.Errorf("config sets max_concurrent or holds the token:\n%s", c)
	}
	e.o.maxConcurrentSet = true
	if c := e.targetsConfig("/s", "127.0.0.1:1", "/f", ""); !strings.Contains(c, "max_concurrent: 64\n") {
		t.Errorf("config lacks max_concurrent:\n%s", c)
	}
}
