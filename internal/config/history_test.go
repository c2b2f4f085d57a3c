package config_test

import (
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// The history section sets the store's tiers, with defaults, and each bad
// value is reported at its line and field.
func TestLoadHistory(t *testing.T) {
	_, c, err := load(t, "history:\n  passing_runs_kept: 30\n  minute_rollups: 24h\n")
	if err != nil {
		t.Fatal(err)
	}
	wantRet := store.Retention{MaxAge: 30 * 24 * time.Hour, MaxRunsPerFlow: 10000, PassingRunsKept: 30,
		MinuteRollups: 24 * time.Hour, HourRollups: 30 * 24 * time.Hour}
	if got := c.RetentionPolicy(); got != wantRet {
		t.Errorf("RetentionPolicy() = %+v, want %+v", got, wantRet)
	}

	file, _, err := load(t, "history:\n  passing_runs_kept: -1\n  minute_rollups: 5m\n  hour_rollups: 2h\n  hours: 3\n")
	checkProblems(t, file, err, []want{
		{2, 22, "history.passing_runs_kept", "must be 0..100000, got -1"},
		{3, 19, "history.minute_rollups", "at least 1h"},
		{4, 17, "history.hour_rollups", "at least 24h"},
		{5, 3, "history.hours", `unknown field "hours"`},
	})
}
