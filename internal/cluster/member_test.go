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
	f, ok := ma.Admit("login")
	if !ok {
		t.Fatal("a does not admit a run while holding every shard")
	}
	runCtx := store.WithFence(ctx, f) // a's run in progress
	if f.Node != "a" || f.Generation != 1 || f.Shard != ShardOf("login") {
		t.Fatalf("fence %+v", f)
	}

	a.cut.Store(true)
	waitFor(t, "a stops admitting", func() bool { return !admits(ma, "login") })
	if st := ma.Status(); !st.Lost {
		t.Errorf("status while cut: %+v, want Lost", st)
	}
	waitFor(t, "the lapse logged", func() bool { return strings.Contains(logA.String(), "cluster: lease lost") })

	ob := fast
	ob.Node = "b"
	mb := New(open(), ob)
	wg.Go(func() { mb.Run(ctx) })
	waitFor(t, "b takes the expired shards", func() bool { return admits(mb, "login") })
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
		if admits(ma, flow) == admits(mb, flow) {
			t.Errorf("flow %s: admitted by a %v and by b %v; want exactly one", flow, admits(ma, flow), admits(mb, flow))
		}
	}
}

func admits(m *Member, flow string) bool {
	_, ok := m.Admit(flow)
	return ok
}

// lossy is the real store whose next lease cycle commits but whose answer
// is lost (the client timed out waiting for the COMMIT's reply).
type lossy struct {
	*postgres.Store
	loseNext atomic.Bool
}

func (l *lossy) RenewLeases(ctx context.Context, req postgres.LeaseRequest) (postgres.LeaseGrant, error) {
	g, err := l.Store.RenewLeases(ctx, req)
	if err == nil && l.loseNext.Swap(false) {
		return postgres.LeaseGrant{}, context.DeadlineExceeded
	}
	return g, err
}

// Shards are claimed for the node (OnClaim: their incident states are
// read) whenever their generation is new to it, even when the cycle that
// claimed them lost its answer and the next one only renews them; and a
// shard whose OnClaim failed is not admitted until a later cycle's
// OnClaim succeeds.
func TestMemberClaims(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	open := func(db string) *lossy {
		s, err := postgres.Open(ctx, pg.CreateDatabase(t, db), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return &lossy{Store: s}
	}
	var mu sync.Mutex
	var claims [][]int
	var failClaim error
	onClaim := func(shards []int) error {
		mu.Lock()
		defer mu.Unlock()
		claims = append(claims, shards)
		return failClaim
	}
	lastClaim := func() (int, []int) {
		mu.Lock()
		defer mu.Unlock()
		if len(claims) == 0 {
			return 0, nil
		}
		return len(claims), claims[len(claims)-1]
	}

	t.Run("AnswerLost", func(t *testing.T) {
		claims = nil
		s := open("answerlost")
		m := New(s, Options{Node: "a", OnClaim: onClaim})
		s.loseNext.Store(true)
		if _, err := m.Cycle(ctx); err == nil {
			t.Fatal("the cycle whose answer was lost succeeded")
		}
		g, err := m.Cycle(ctx)
		if err != nil || len(g.Claimed) != 0 || len(g.Held) != Shards {
			t.Fatalf("second cycle: %d held, %d claimed (by the database), %v", len(g.Held), len(g.Claimed), err)
		}
		if n, shards := lastClaim(); n != 1 || len(shards) != Shards {
			t.Errorf("OnClaim called %d times, last with %d shards; want once with %d (claimed by the lost cycle)", n, len(shards), Shards)
		}
		if _, err := m.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := lastClaim(); n != 1 {
			t.Errorf("a renewal called OnClaim again (%d calls)", n)
		}
	})

	t.Run("ReadFails", func(t *testing.T) {
		claims, failClaim = nil, errors.New("incident states: connection reset")
		m := New(open("readfails"), Options{Node: "a", OnClaim: onClaim})
		if _, err := m.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
		if st := m.Status(); st.Shards != Shards || st.Lost {
			t.Fatalf("status %+v", st)
		}
		if admits(m, "login") {
			t.Error("a flow of a shard whose incident states could not be read is admitted")
		}
		if _, ok := m.Holds("login"); ok {
			t.Error("Holds (reminders) for a shard whose incident states could not be read")
		}
		mu.Lock()
		failClaim = nil
		mu.Unlock()
		if _, err := m.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
		if n, shards := lastClaim(); n != 2 || len(shards) != Shards {
			t.Errorf("OnClaim called %d times, last with %d shards; want again with the %d unread", n, len(shards), Shards)
		}
		if f, ok := m.Admit("login"); !ok || f.Generation != 1 {
			t.Errorf("after the reading succeeded: admitted %v, fence %+v", ok, f)
		}
	})
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
