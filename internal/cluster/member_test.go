package cluster

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// cuttable is the real store behind a switch that makes lease cycles fail,
// as when the node loses the database (a seam we own: LeaseStore).
type cuttable struct {
	*postgres.Store
	cut atomic.Bool
}

func (c *cuttable) RenewLeases(ctx context.Context, req postgres.LeaseRequest) (postgres.LeaseGrant, error) {
	if c.cut.Load() {
		return postgres.LeaseGrant{}, errors.New("connection refused")
	}
	return c.Store.RenewLeases(ctx, req)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A node cut from the database stops admitting runs before its leases can
// expire, says so (Status, one log line); another node claims its shards
// once they expire, with a new generation, so the cut node's run in
// progress is refused by the store when it records it; when the database
// answers again, the cut node resumes with its fair share.
func TestMemberLosesAndRegainsLeases(t *testing.T) {
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "cluster")
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
	var logA syncBuf
	a := &cuttable{Store: open()}
	oa := fast
	oa.Node, oa.Logger = "a", slog.New(slog.NewTextHandler(&logA, nil))
	ma := New(a, oa)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { ma.Run(ctx) })
	waitFor(t, "a holds every shard", func() bool { return ma.Status().Shards == Shards })
	if !ma.Admit("login") {
		t.Fatal("a does not admit a run while holding every shard")
	}
	runCtx := ma.Fenced(ctx, "login") // a's run in progress
	if f, _ := store.FenceFrom(runCtx); f.Node != "a" || f.Generation != 1 || f.Shard != ShardOf("login") {
		t.Fatalf("fence %+v", f)
	}

	a.cut.Store(true)
	waitFor(t, "a stops admitting", func() bool { return !ma.Admit("login") })
	if st := ma.Status(); !st.Lost {
		t.Errorf("status while cut: %+v, want Lost", st)
	}
	waitFor(t, "the lapse logged", func() bool { return strings.Contains(logA.String(), "cluster: lease lost") })

	ob := fast
	ob.Node = "b"
	mb := New(open(), ob)
	wg.Go(func() { mb.Run(ctx) })
	waitFor(t, "b takes the expired shards", func() bool { return mb.Admit("login") })
	if _, err := a.RecordRun(runCtx, store.Run{Flow: "login", Start: time.Now(), OK: true}); !errors.Is(err, store.ErrStaleLease) {
		t.Errorf("a's run recorded after b took the shard: %v, want ErrStaleLease", err)
	}

	a.cut.Store(false)
	waitFor(t, "a and b share the shards", func() bool {
		sa, sb := ma.Status(), mb.Status()
		return !sa.Lost && sa.Shards == Shards/2 && sb.Shards == Shards/2
	})
	if n := strings.Count(logA.String(), "cluster: lease lost"); n != 1 {
		t.Errorf("the lapse was logged %d times, want once", n)
	}
	for _, flow := range []string{"login", "token", "api", "userinfo", "refresh"} {
		if ma.Admit(flow) == mb.Admit(flow) {
			t.Errorf("flow %s: admitted by a %v and by b %v; want exactly one", flow, ma.Admit(flow), mb.Admit(flow))
		}
	}
}

// ShardOf is stable (the same in every node and version) and spreads names.
func TestShardOf(t *testing.T) {
	// Pinned: a change would move every flow to another shard in a
	// cluster of mixed versions.
	if a, b := ShardOf("okta-login"), ShardOf("a"); a != 60 || b != 44 {
		t.Fatalf("ShardOf = %d, %d; want 60, 44", a, b)
	}
	seen := map[int]bool{}
	for i := range 1000 {
		seen[ShardOf("flow-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26)))] = true
	}
	if len(seen) < Shards*9/10 {
		t.Errorf("1000 names hit %d of %d shards", len(seen), Shards)
	}
}
