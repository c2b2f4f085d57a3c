package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/metrics"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/buffered"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// blinkingStates is a real SQLite store whose first FlowStates reads fail,
// as a database that is not yet reachable at a start.
type blinkingStates struct {
	*sqlite.Store
	failures atomic.Int32
}

func (b *blinkingStates) FlowStates(ctx context.Context) ([]store.FlowState, error) {
	if b.failures.Add(-1) >= 0 {
		return nil, errors.New("connection refused")
	}
	return b.Store.FlowStates(ctx)
}

// A failed read of the stored states at the start is retried: the status
// page then shows them, and a state a run told meanwhile is not replaced
// by the older stored one.
func TestRestoreRetriedAfterAFailedRead(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		for _, r := range []store.Run{
			{Flow: "failing", Start: t0.Add(time.Duration(i) * time.Second), OK: false, Reason: "invalid_client", Layer: "idp", Summary: "wrong secret", Steps: []byte(`[]`)},
			{Flow: "passing", Start: t0.Add(time.Duration(i) * time.Second), OK: true, Steps: []byte(`[]`)},
		} {
			if _, err := db.RecordRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	backend := &blinkingStates{Store: db}
	backend.failures.Store(3) // buffered.New's read, the restore's, the first retry's
	var logged strings.Builder
	m := &Main{db: backend, store: buffered.New(ctx, backend, buffered.Options{}), metrics: metrics.New(),
		log: slog.New(slog.NewTextHandler(&logged, nil)), configured: map[string]bool{"failing": true, "passing": true}}
	fs := []*flows.Flow{{Name: "failing"}, {Name: "passing"}}

	m.restoreFlowStates(fs)
	if _, ok := m.lastState.Load("failing"); ok {
		t.Fatal("a state was restored from a read that failed")
	}
	newer := store.FlowState{Flow: "passing", OK: true, Runs: 4, LastRun: t0.Add(time.Minute)}
	m.lastState.Set(newer) // a run done before the retry

	m.retryRestoreOnce() // fails again: not said again
	m.retryRestoreOnce()
	if warned, told := strings.Count(logged.String(), "flow states not read"), strings.Count(logged.String(), "after a failed read"); warned != 1 || told != 1 {
		t.Errorf("logged %d warnings and %d all-clears for two failed reads and one that worked, want 1 and 1:\n%s", warned, told, logged.String())
	}
	st, ok := m.lastState.Load("failing")
	if !ok || st.OK || st.Runs != 3 || st.LastReason != "invalid_client" || st.ConsecutiveFailures != 3 {
		t.Errorf("failing after the retry: %+v, %v; want its stored state (3 failed runs, invalid_client)", st, ok)
	}
	if st, _ := m.lastState.Load("passing"); st.Runs != 4 {
		t.Errorf("passing after the retry: %d runs; want the newer state's 4, not the stored 3", st.Runs)
	}
	if left := m.restore.take(); len(left) != 0 {
		t.Errorf("%d flows still wait for a restore after one that succeeded", len(left))
	}
}
