package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// hangBound is how long a call may block before a test calls it stalled:
// far beyond any honest wait on a loaded machine, and only reached when
// the call waits for something that will not come.
const hangBound = 60 * time.Second

// waitFor polls cond until it holds, failing the test after hangBound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(hangBound)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited %s for %s", hangBound, what)
		}
	}
}

// While the write connection is held (as by a long prune statement) and a
// batch of runs waits for it, the open roll-ups can still be read: the
// writer takes the connection before the lock that readers need.
func TestRollupReadsDoNotWaitForTheWriteConnection(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	record(t, s, pass("f", 0, 10))

	conn, err := s.write.Conn(ctx) // the pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	waits := s.write.Stats().WaitCount
	recorded := make(chan error, 1)
	go func() {
		_, err := s.RecordRun(ctx, pass("f", 1, 10))
		recorded <- err
	}()
	waitFor(t, "the writer to wait for the connection", func() bool { return s.write.Stats().WaitCount > waits })

	read := make(chan error, 1)
	go func() {
		ups, err := s.Rollups(ctx, "f", store.TierMinute, t0)
		if err == nil && (len(ups) != 1 || ups[0].Runs != 1) {
			err = fmt.Errorf("roll-ups %+v, want one of 1 run", ups)
		}
		if err == nil {
			_, err = s.RollupTotals(ctx, store.TierHour, t0)
		}
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(hangBound):
		t.Error("roll-up reads waited for the write connection")
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-recorded; err != nil {
		t.Fatal(err)
	}
}

// Prune (with its size bound), RecordRun, ForgetFlows and roll-up reads at
// the same time: no deadlock, and every run is counted once.
func TestPruneConcurrentWithRecordRunAndRollups(t *testing.T) {
	const writers, perWriter, prunes = 4, 150, 20
	s, _ := openTemp(t)
	ctx := context.Background()
	flows := []string{"a", "b", "c", "d"}
	ret := store.Retention{MaxAge: time.Hour, PassingRunsKept: 5, FailuresKeptPerStreak: 2,
		MinuteRollups: time.Hour, HourRollups: 24 * time.Hour, MaxBytes: 1 << 20}
	stop := make(chan struct{})
	var wg, background sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				r := pass(flows[w], w*perWriter+i, float64(10+i%7))
				if i%13 == 0 {
					r = fail(flows[w], w*perWriter+i)
				}
				if _, err := s.RecordRun(ctx, r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	background.Go(func() {
		for i := 0; i < prunes; i++ {
			if _, err := s.Prune(ctx, t0.Add(time.Duration(i)*time.Minute), ret); err != nil {
				t.Error(err)
				return
			}
			if err := s.ForgetFlows(ctx, flows); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		background.Go(func() {
			// Polling, not spinning: see TestConcurrentRecordRun.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := s.Rollups(ctx, flows[i%len(flows)], store.TierMinute, t0); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.RollupTotals(ctx, store.TierHour, t0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	background.Wait()
	totals, err := s.RollupTotals(ctx, store.TierHour, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if got := totals[f].Runs; got != perWriter {
			t.Errorf("flow %s: %d runs in the hour roll-ups, want %d", f, got, perWriter)
		}
	}
}
