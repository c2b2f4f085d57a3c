package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// boundedSize is the figure retention.max_size bounds: a PostgreSQL
// store's live bytes, else (SQLite) its used bytes.
func boundedSize(t *testing.T, s Backend) (int64, bool) {
	t.Helper()
	var measure func(context.Context) (int64, error)
	switch m := s.(type) {
	case interface {
		LiveBytes(context.Context) (int64, error)
	}:
		measure = m.LiveBytes
	case interface {
		UsedBytes(context.Context) (int64, error)
	}:
		measure = m.UsedBytes
	default:
		return 0, false
	}
	n, err := measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n, true
}

// Over retention.max_size, Prune deletes the oldest whole records of all
// flows until the bounded size is under the bound, keeps the newest and
// every flow's last run, and leaves the flows' states alone; under it,
// Prune deletes nothing.
func testPruneBySize(t *testing.T, open func() Backend) {
	const (
		flows   = 6
		perFlow = 300 // whole records of about 600 bytes, one a minute
		bound   = 1 << 20
	)
	s := open()
	ctx := context.Background()
	for i := range perFlow {
		for f := range flows {
			r := fail(fmt.Sprintf("f%d", f), i*60)
			r.Summary = fmt.Sprintf("failure %d: %s", i, strings.Repeat("the token keeps expiring; ", 16))
			if i%2 == 0 {
				r.Reason = "server_error" // alternate: every run is a whole record
			}
			record(t, s, r)
		}
	}
	now := t0.Add(time.Duration(perFlow) * time.Minute)
	before, ok := boundedSize(t, s)
	if !ok {
		t.Skip("the store reports no size")
	}
	if before <= bound {
		t.Fatalf("%d bytes before the prune: the test wants over the bound %d", before, bound)
	}
	if n, err := s.Prune(ctx, now, store.Retention{MaxBytes: before * 2}); err != nil || n != 0 {
		t.Fatalf("Prune under the bound = %d, %v; want nothing deleted", n, err)
	}
	n, err := s.Prune(ctx, now, store.Retention{MaxBytes: bound})
	if err != nil || n == 0 {
		t.Fatalf("Prune over the bound = %d, %v", n, err)
	}
	if after, _ := boundedSize(t, s); after > bound {
		t.Errorf("%d bytes after the prune, bound %d", after, bound)
	}
	for f := range flows {
		flow := fmt.Sprintf("f%d", f)
		st, _, err := s.FlowState(ctx, flow)
		if err != nil || st.Runs != perFlow {
			t.Fatalf("%s: state counts %d runs, %v; want %d", flow, st.Runs, err, perFlow)
		}
		got := runs(t, s, flow)
		if len(got) == 0 || len(got) == perFlow || !got[0].Start.Equal(t0.Add(time.Duration(perFlow-1)*time.Minute)) || got[0].ID != st.LastRunID {
			t.Errorf("%s: %d of %d runs left; want the oldest gone and the last run %d kept", flow, len(got), perFlow, st.LastRunID)
		}
	}
}
