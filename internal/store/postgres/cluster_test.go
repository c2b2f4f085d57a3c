package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

func leaseReq(node string) LeaseRequest {
	return LeaseRequest{Node: node, Location: "eu", Shards: 64, Lease: 15 * time.Second, Live: 10 * time.Second}
}

// A node alone claims every shard (generation 1); a second node's first
// cycle finds its fair share taken, the first gives back its surplus at
// its next cycle, and the second claims it then: 32 each, each claim a new
// generation, renewals keep theirs.
func testLeasesBalance(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	a, err := s.RenewLeases(ctx, leaseReq("a"))
	if err != nil || len(a.Held) != 64 || len(a.Claimed) != 64 || a.LiveNodes != 1 || a.Held[7] != 1 {
		t.Fatalf("first node: %d held, %d claimed, %d live, gen %d, %v", len(a.Held), len(a.Claimed), a.LiveNodes, a.Held[7], err)
	}
	b, err := s.RenewLeases(ctx, leaseReq("b"))
	if err != nil || len(b.Held) != 0 || b.LiveNodes != 2 || b.FairShare != 32 {
		t.Fatalf("second node, first cycle: %d held, %d live, fair %d, %v", len(b.Held), b.LiveNodes, b.FairShare, err)
	}
	a, err = s.RenewLeases(ctx, leaseReq("a"))
	if err != nil || len(a.Held) != 32 || len(a.Released) != 32 || len(a.Claimed) != 0 {
		t.Fatalf("first node gives back: %d held, %d released, %v", len(a.Held), len(a.Released), err)
	}
	b, err = s.RenewLeases(ctx, leaseReq("b"))
	if err != nil || len(b.Held) != 32 || len(b.Claimed) != 32 {
		t.Fatalf("second node claims: %d held, %v", len(b.Held), err)
	}
	for shard, gen := range b.Held {
		if _, both := a.Held[shard]; both || gen != 2 {
			t.Errorf("shard %d: generation %d (want 2: a's claim, then b's), held by both %v", shard, gen, both)
		}
	}
	again, err := s.RenewLeases(ctx, leaseReq("b"))
	if err != nil || len(again.Claimed) != 0 || fmt.Sprint(again.Held) != fmt.Sprint(b.Held) {
		t.Errorf("a renewal changed the leases: %v, %v", again.Held, err)
	}
}

// A node that stops renewing: once its heartbeat is older than Live it no
// longer counts (its shards are orphans), and once its leases expire the
// others claim them with a new generation.
func testLeasesExpire(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	short := func(node string) LeaseRequest {
		r := leaseReq(node)
		r.Lease, r.Live = 300*time.Millisecond, 200*time.Millisecond
		return r
	}
	if _, err := s.RenewLeases(ctx, short("dead")); err != nil {
		t.Fatal(err)
	}
	var g LeaseGrant
	deadline := time.Now().Add(30 * time.Second)
	for len(g.Held) < 64 {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor holds %d shards after 30s", len(g.Held))
		}
		var err error
		if g, err = s.RenewLeases(ctx, short("survivor")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // real time passes for the lease to expire: the server's clock
	}
	if g.LiveNodes != 1 || g.Held[0] != 2 {
		t.Errorf("after the takeover: %d live, generation %d, want 1 and 2", g.LiveNodes, g.Held[0])
	}
}

// A write made under a lease that moved on is refused, in its own
// transaction, with ErrStaleLease: nothing of it is written (the run, the
// flow's state, the incident state, its outbox items); the same write
// under the current generation goes through; an unfenced write is not
// checked (single node).
func testFencedWrites(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	old, err := s.RenewLeases(ctx, leaseReq("paused"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLeases(ctx, "paused", "eu"); err != nil {
		t.Fatal(err)
	}
	now, err := s.RenewLeases(ctx, leaseReq("successor"))
	if err != nil {
		t.Fatal(err)
	}
	const shard = 5
	stale := store.Fence{Location: "eu", Shard: shard, Node: "paused", Generation: old.Held[shard]}
	current := store.Fence{Location: "eu", Shard: shard, Node: "successor", Generation: now.Held[shard]}
	if current.Generation != stale.Generation+1 {
		t.Fatalf("generations %d then %d", stale.Generation, current.Generation)
	}
	run := store.Run{Flow: "f", Start: time.Now(), OK: false, Reason: "idp_unreachable"}

	_, err = s.RecordRun(store.WithFence(ctx, stale), run)
	if !errors.Is(err, store.ErrStaleLease) {
		t.Fatalf("RecordRun under a stale lease: %v, want ErrStaleLease", err)
	}
	err = s.CommitIncident(store.WithFence(ctx, stale), "f", json.RawMessage(`{"open":true}`),
		[]store.OutboxItem{{Notifier: "pager", IncidentKey: "f#1", EventID: "open", Event: json.RawMessage(`{}`), Created: time.Now(), NextAttempt: time.Now()}})
	if !errors.Is(err, store.ErrStaleLease) {
		t.Fatalf("CommitIncident under a stale lease: %v, want ErrStaleLease", err)
	}
	if _, found, _ := s.FlowState(ctx, "f"); found {
		t.Error("the refused run left a flow state")
	}
	if runs, _ := s.Runs(ctx, "f", 0); len(runs) != 0 {
		t.Errorf("the refused run is in the history: %d runs", len(runs))
	}
	if states, _ := s.IncidentStates(ctx); len(states) != 0 {
		t.Errorf("the refused incident state was written: %v", states)
	}
	if due, _ := s.Due(ctx, time.Now(), 10); len(due) != 0 {
		t.Errorf("the refused outbox items were written: %d", len(due))
	}

	if st, err := s.RecordRun(store.WithFence(ctx, current), run); err != nil || st.Runs != 1 {
		t.Errorf("RecordRun under the current lease: %+v, %v", st, err)
	}
	if err := s.CommitIncident(store.WithFence(ctx, current), "f", json.RawMessage(`{"open":true}`), nil); err != nil {
		t.Errorf("CommitIncident under the current lease: %v", err)
	}
	if st, err := s.RecordRun(ctx, run); err != nil || st.Runs != 2 {
		t.Errorf("unfenced RecordRun: %+v, %v", st, err)
	}
}

// Two stores (two nodes) calling Due at once never get the same item;
// an item claimed by one is not Due for the other until the claim
// expires (the claimer died), or the claimer gives it back with Retry.
func testOutboxClaims(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	a := openOn(t, dsn, Options{OutboxClaim: 500 * time.Millisecond})
	b := openOn(t, dsn, Options{OutboxClaim: 500 * time.Millisecond})
	t0 := time.Now()
	var items []store.OutboxItem
	for i := range 200 {
		items = append(items, store.OutboxItem{Notifier: "pager", IncidentKey: fmt.Sprintf("f#%d", i), EventID: "open",
			Event: json.RawMessage(`{}`), Created: t0, NextAttempt: t0})
	}
	if err := a.CommitIncident(ctx, "f", json.RawMessage(`{}`), items); err != nil {
		t.Fatal(err)
	}
	got := map[int64]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			for range 20 {
				due, err := s.Due(ctx, t0, 10)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, it := range due {
					if s == b || got[it.ID] == 0 { // a's own claims come back to a: count them once
						got[it.ID]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Whoever claimed an item first keeps it; count each item's claimers.
	claimers := map[int64]map[*Store]bool{}
	for _, s := range []*Store{a, b} {
		due, err := s.Due(ctx, t0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range due {
			if claimers[it.ID] == nil {
				claimers[it.ID] = map[*Store]bool{}
			}
			claimers[it.ID][s] = true
		}
	}
	for id, c := range claimers {
		if len(c) > 1 {
			t.Errorf("item %d is due for both stores", id)
		}
	}
	if len(claimers) != 200 {
		t.Errorf("%d items claimed, want 200", len(claimers))
	}

	// b dies: its claims expire and a gets them.
	var bs int
	for _, c := range claimers {
		if c[b] {
			bs++
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		due, err := a.Due(ctx, t0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a gets %d items 30s after b's claims (%d) should have expired", len(due), bs)
		}
		time.Sleep(100 * time.Millisecond) // the claims expire on the server's clock
	}
	// Retry gives a claim back at once.
	due, _ := a.Due(ctx, t0, 1)
	if err := a.Retry(ctx, due[0].ID, 1, t0, "503"); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.Due(ctx, t0, 1); len(again) != 1 || again[0].ID != due[0].ID {
		t.Errorf("after a's Retry, b's Due = %v; want item %d", again, due[0].ID)
	}
}

// A shard given back in a rebalance (or at a clean stop) keeps its
// holder's in-flight writes valid until another node claims it: only the
// claim moves the generation on. The giver does not renew it again.
func testReleaseKeepsWritesUntilClaimed(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	a, err := s.RenewLeases(ctx, leaseReq("a"))
	if err != nil || len(a.Held) != 64 {
		t.Fatalf("a: %d held, %v", len(a.Held), err)
	}
	const shard = 63 // the highest: the first given back
	inFlight := store.Fence{Location: "eu", Shard: shard, Node: "a", Generation: a.Held[shard]}
	if _, err := s.RenewLeases(ctx, leaseReq("b")); err != nil { // b joins: a's fair share halves
		t.Fatal(err)
	}
	a, err = s.RenewLeases(ctx, leaseReq("a"))
	if _, still := a.Held[shard]; err != nil || still || len(a.Released) != 32 {
		t.Fatalf("a gives back: %d released, shard %d still held %v, %v", len(a.Released), shard, still, err)
	}
	run := store.Run{Flow: "f", Start: time.Now(), OK: true}
	if _, err := s.RecordRun(store.WithFence(ctx, inFlight), run); err != nil {
		t.Errorf("a's run in progress, recorded after a gave its shard back but before anyone claimed it: %v", err)
	}
	if err := s.CommitIncident(store.WithFence(ctx, inFlight), "f", json.RawMessage(`{}`), nil); err != nil {
		t.Errorf("a's incident commit after giving the shard back: %v", err)
	}
	if again, err := s.RenewLeases(ctx, leaseReq("a")); err != nil || len(again.Held) != 32 {
		t.Errorf("a renewed shards it gave back: %d held, %v", len(again.Held), err)
	}
	b, err := s.RenewLeases(ctx, leaseReq("b"))
	if err != nil || b.Held[shard] != inFlight.Generation+1 {
		t.Fatalf("b claims shard %d: generation %d, %v", shard, b.Held[shard], err)
	}
	if _, err := s.RecordRun(store.WithFence(ctx, inFlight), run); !errors.Is(err, store.ErrStaleLease) {
		t.Errorf("a's run recorded after b claimed the shard: %v, want ErrStaleLease", err)
	}

	// A clean stop: the same, for every shard.
	stopping := store.Fence{Location: "eu", Shard: 0, Node: "a", Generation: a.Held[0]}
	if err := s.ReleaseLeases(ctx, "a", "eu"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRun(store.WithFence(ctx, stopping), store.Run{Flow: "g", Start: time.Now(), OK: true}); err != nil {
		t.Errorf("a's last run recorded after its clean stop, before any claim: %v", err)
	}
}

// An outcome of a claim that expired and another node took is not
// written (it would clear that node's live claim, or settle an item the
// other node is sending): it is a no-op reported as store.ErrStaleLease.
func testOutcomeOfLostClaim(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	a := openOn(t, dsn, Options{OutboxClaim: 200 * time.Millisecond})
	b := openOn(t, dsn, Options{OutboxClaim: time.Hour})
	t0 := time.Now()
	if err := a.CommitIncident(ctx, "f", json.RawMessage(`{}`), []store.OutboxItem{{Notifier: "pager", IncidentKey: "f#1", EventID: "open",
		Event: json.RawMessage(`{}`), Created: t0, NextAttempt: t0}}); err != nil {
		t.Fatal(err)
	}
	mine, err := a.Due(ctx, t0, 10)
	if err != nil || len(mine) != 1 {
		t.Fatalf("a's Due = %v, %v", mine, err)
	}
	var theirs []store.OutboxItem
	for deadline := time.Now().Add(30 * time.Second); len(theirs) == 0; {
		if theirs, err = b.Due(ctx, t0, 10); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a's claim did not expire within 30s")
		}
		time.Sleep(50 * time.Millisecond) // the claim expires on the server's clock
	}
	if err := a.Retry(ctx, mine[0].ID, 1, t0, "503"); !errors.Is(err, store.ErrStaleLease) {
		t.Errorf("a's Retry after b claimed the item: %v, want store.ErrStaleLease", err)
	}
	if due, _ := a.Due(ctx, t0, 10); len(due) != 0 {
		t.Errorf("a's stale Retry gave b's claim back: a's Due = %v", due)
	}
	if err := a.Dead(ctx, mine[0].ID, t0, "400"); !errors.Is(err, store.ErrStaleLease) {
		t.Errorf("a's Dead after b claimed the item: %v, want store.ErrStaleLease", err)
	}
	if err := b.Delivered(ctx, theirs[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := a.Delivered(ctx, mine[0].ID, t0); !errors.Is(err, store.ErrStaleLease) {
		t.Errorf("a's Delivered of an item b delivered: %v, want store.ErrStaleLease", err)
	}
	if err := b.Retry(ctx, theirs[0].ID, 1, t0, "late"); !errors.Is(err, store.ErrStaleLease) {
		t.Errorf("a Retry of a delivered item: %v, want store.ErrStaleLease (it must stay delivered)", err)
	}
	if backlog, _ := a.Backlog(ctx); backlog["pager"].Pending != 0 || backlog["pager"].Dead != 0 {
		t.Errorf("backlog %+v: the item must stay delivered", backlog)
	}
}

// The lease cycle has a connection of its own: with every connection of
// the main pool held (runs being recorded under load), a renewal still
// goes through within its deadline. On the main pool it waited for one
// and the node lost its leases (the 3-node benchmark).
func testLeasesRenewWithMainPoolBusy(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	var held []interface{ Release() }
	for range s.pool.Config().MaxConns {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	renewCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if g, err := s.RenewLeases(renewCtx, leaseReq("a")); err != nil || len(g.Held) != 64 {
		t.Fatalf("renewal with the main pool busy: %d held, %v", len(g.Held), err)
	}
}
