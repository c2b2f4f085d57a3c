package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// TestConcurrentRecordRun records from 8 goroutines, two per flow, while
// readers poll, and checks the totals and that each flow's streak matches
// its history in commit (ID) order. (Readers that spin instead of polling
// keep both CPUs of a small machine busy, and each syscall of a commit then
// waits for a scheduler time slice: it takes minutes.)
func TestConcurrentRecordRun(t *testing.T) {
	const goroutines, perGoroutine, flows = 8, 200, 4
	ctx := context.Background()
	s, _ := openTemp(t)
	var wg, readers sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				if _, err := s.FlowStates(ctx); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Runs(ctx, "flow-0", 20); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				r := store.Run{Flow: fmt.Sprintf("flow-%d", g%flows), Start: at(g*perGoroutine + i),
					OK: (i/7+g)%3 != 0, Cancelled: i%11 == 0, Steps: sampleSteps}
				if _, err := s.RecordRun(ctx, r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	states, err := s.FlowStates(ctx)
	if err != nil || len(states) != flows {
		t.Fatalf("FlowStates = %d states, %v; want %d", len(states), err, flows)
	}
	total := 0
	for _, st := range states {
		runs, err := s.Runs(ctx, st.Flow, 0)
		if err != nil {
			t.Fatal(err)
		}
		total += len(runs)
		want := int64(goroutines / flows * perGoroutine)
		if st.Runs != want || int64(len(runs)) != want {
			t.Errorf("%s: state counts %d runs, history has %d, want %d", st.Flow, st.Runs, len(runs), want)
		}
		if got := replay(t, s, st.Flow); got != st {
			t.Errorf("%s: state\n %+v\nreplayed in ID order\n %+v", st.Flow, st, got)
		}
	}
	if total != goroutines*perGoroutine {
		t.Errorf("%d runs in all, want %d", total, goroutines*perGoroutine)
	}
}

// replay recomputes a flow's state from its history in commit order.
func replay(t *testing.T, s *Store, flow string) store.FlowState {
	t.Helper()
	rows, err := s.read.Query(`SELECT `+runColumns+` FROM runs WHERE flow = ? ORDER BY id`, flow)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var st store.FlowState
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			t.Fatal(err)
		}
		st = st.Next(r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return st
}
