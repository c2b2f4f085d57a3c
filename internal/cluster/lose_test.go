package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// lostFences collects what OnLose reports.
type lostFences struct {
	mu     sync.Mutex
	fences map[int]store.Fence // by shard
	calls  int
}

func (l *lostFences) onLose(lost []store.Fence) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fences == nil {
		l.fences = map[int]store.Fence{}
	}
	l.calls++
	for _, f := range lost {
		l.fences[f.Shard] = f
	}
}

// take returns what was reported since the last take.
func (l *lostFences) take() map[int]store.Fence {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.fences
	l.fences = nil
	return out
}

func (l *lostFences) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fences)
}

// flowOfShard is a flow name of each shard.
func flowOfShard() map[int]string {
	out := map[int]string{}
	for i := 0; len(out) < Shards && i < 100*Shards; i++ {
		name := fmt.Sprintf("flow-%d", i)
		if _, ok := out[ShardOf(name)]; !ok {
			out[ShardOf(name)] = name
		}
	}
	return out
}

// OnLose reports every fence the node stops holding, so that the daemon
// cancels the runs admitted under it: the shards a rebalance gives back
// (as the cycle that gave them back returns, before it admits again), and
// every shard still held when the leases lapse (a node cut from the
// database), each with the generation it was held under; never a shard it
// still admits.
func TestMemberOnLose(t *testing.T) {
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "onlose")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	fast := Options{Renew: 100 * time.Millisecond, Lease: 600 * time.Millisecond}
	var lost lostFences
	a := &cuttable{Store: open()}
	oa := fast
	oa.Node, oa.OnLose = "a", lost.onLose
	ma := New(a, oa)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { ma.Run(ctx) })
	waitFor(t, "a holds every shard", func() bool { return ma.Status().Shards == Shards })
	if n := lost.count(); n != 0 {
		t.Fatalf("OnLose reported %d fences while a gained shards", n)
	}

	ob := fast
	ob.Node = "b"
	mb := New(open(), ob)
	wg.Go(func() { mb.Run(ctx) })
	waitFor(t, "a gives back half the shards", func() bool { return lost.count() == Shards/2 })
	given := lost.take()
	byShard := flowOfShard()
	for shard, f := range given {
		if f.Node != "a" || f.Generation != 1 || f.Location != DefaultLocation || f.Shard != shard {
			t.Errorf("fence given back %+v", f)
		}
		if admits(ma, byShard[shard]) {
			t.Errorf("shard %d reported lost and still admitted", shard)
		}
	}
	for shard, flow := range byShard {
		if _, gone := given[shard]; !gone && !admits(ma, flow) {
			t.Errorf("shard %d neither given back nor admitted", shard)
		}
	}

	a.cut.Store(true)
	waitFor(t, "a reports its remaining shards lost", func() bool { return lost.count() == Shards/2 })
	for shard, f := range lost.take() {
		if _, twice := given[shard]; twice || f.Node != "a" || f.Generation != 1 {
			t.Errorf("fence lost at the lapse %+v (given back before: %v)", f, twice)
		}
	}
	if admits(ma, "login") {
		t.Error("a admits after its leases lapsed")
	}
}

// hangingRenewals is the real store whose lease cycles, once hang is set,
// wait until their context ends (a database that stopped answering), and
// which keeps the deadline of the last one.
type hangingRenewals struct {
	*postgres.Store
	hang     atomic.Bool
	deadline atomic.Pointer[time.Time]
}

func (h *hangingRenewals) RenewLeases(ctx context.Context, req postgres.LeaseRequest) (postgres.LeaseGrant, error) {
	if !h.hang.Load() {
		return h.Store.RenewLeases(ctx, req)
	}
	if dl, ok := ctx.Deadline(); ok {
		h.deadline.Store(&dl)
	}
	<-ctx.Done()
	return postgres.LeaseGrant{}, ctx.Err()
}

// A renewal that hangs ends when the leases may expire, not at its own
// timeout (Renew), so that Run notices the lapse, and OnLose cancels the
// runs, before another node can claim the shards.
func TestMemberRenewalEndsAtLapse(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, pg.CreateDatabase(t, "lapse"), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	h := &hangingRenewals{Store: s}
	var lost lostFences
	// The leases may expire 1 s after a renewal began, long before a
	// renewal's own timeout (a minute).
	m := New(h, Options{Node: "a", Renew: time.Minute, Lease: 2 * time.Second, Margin: time.Second, OnLose: lost.onLose})
	if _, err := m.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	lapse := m.validUntil
	m.mu.Unlock()

	h.hang.Store(true)
	if _, err := m.cycleBeforeLapse(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the hanging renewal ended with %v", err)
	}
	dl := h.deadline.Load()
	if dl == nil || dl.After(lapse.Add(m.o.Renew/2)) {
		t.Fatalf("the hanging renewal's deadline %v; want the lapse, %v", dl, lapse)
	}
	m.checkLapse()
	if n := lost.count(); n != Shards {
		t.Errorf("OnLose reported %d fences at the lapse, want %d", n, Shards)
	}
}
