package config_test

import (
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store"
)

// The history section sets the store's tiers, with defaults, and each bad
// value is reported at its line and field.
func TestLoadHistory(t *testing.T) {
	_, c, err := load(t, "history:\n  passing_runs_kept: 30\n  minute_rollups: 24h\n  failures_kept_per_streak: 5\n")
	if err != nil {
		t.Fatal(err)
	}
	wantRet := store.Retention{MaxAge: 30 * 24 * time.Hour, MaxRunsPerFlow: 10000, PassingRunsKept: 30,
		MinuteRollups: 24 * time.Hour, HourRollups: 30 * 24 * time.Hour, MaxBytes: config.DefaultMaxSize, FailuresKeptPerStreak: 5}
	if got := c.RetentionPolicy(); got != wantRet {
		t.Errorf("RetentionPolicy() = %+v, want %+v", got, wantRet)
	}

	if _, c, err := load(t, ""); err != nil || c.RetentionPolicy().FailuresKeptPerStreak != 10 {
		t.Errorf("default failures_kept_per_streak: %v", err)
	}
	file, _, err := load(t, "history:\n  passing_runs_kept: -1\n  minute_rollups: 5m\n  hour_rollups: 2h\n  hours: 3\n  failures_kept_per_streak: -2\n")
	checkProblems(t, file, err, []want{
		{6, 29, "history.failures_kept_per_streak", "must be 0..1000, got -2"},
		{2, 22, "history.passing_runs_kept", "must be 0..1000, got -1"},
		{3, 19, "history.minute_rollups", "at least 1h"},
		{4, 17, "history.hour_rollups", "at least 24h"},
		{5, 3, "history.hours", `unknown field "hours"`},
	})
}

// retention.max_size takes sizes as Prometheus does (2GiB is the
// default, 0 no bound), and a bad one is reported at its line and field.
func TestLoadRetentionMaxSize(t *testing.T) {
	for _, c := range []struct {
		text string
		want int64
	}{{"", 17 << 30 / 10}, {"512MiB", 512 << 20}, {"2GiB", 2 << 30}, {"1GB", 1e9}, {"1.5gb", 15e8}, {"0", 0}} {
		text := ""
		if c.text != "" {
			text = "retention:\n  max_size: " + c.text + "\n"
		}
		_, cfg, err := load(t, text)
		if err != nil {
			t.Fatalf("%q: %v", c.text, err)
		}
		if got := cfg.RetentionPolicy().MaxBytes; got != c.want {
			t.Errorf("max_size %q: MaxBytes %d, want %d", c.text, got, c.want)
		}
	}
	file, _, err := load(t, "retention:\n  max_size: 2 lots\n  max_age: 1d\n")
	checkProblems(t, file, err, []want{{2, 13, "retention.max_size", `unknown unit "lots"`}})
	file, _, err = load(t, "retention:\n  max_size: 100\n")
	checkProblems(t, file, err, []want{{2, 13, "retention.max_size", "give a unit"}})
	file, _, err = load(t, "retention:\n  max_size: 64KiB\n")
	checkProblems(t, file, err, []want{{2, 13, "retention.max_size", "at least 1MiB"}})
}
