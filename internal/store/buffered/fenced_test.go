package buffered

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// cutPostgres is a real PostgreSQL store whose writes fail on demand, as
// when the node is cut from the database (a seam we own: Backend).
type cutPostgres struct {
	*postgres.Store
	cut atomic.Bool
}

var errCut = errors.New("dial unix /tmp/.s.PGSQL.5432: connect: connection refused")

func (c *cutPostgres) RecordRun(ctx context.Context, r store.Run) (store.FlowState, error) {
	if c.cut.Load() {
		return store.FlowState{}, errCut
	}
	return c.Store.RecordRun(ctx, r)
}

func (c *cutPostgres) RestoreRuns(ctx context.Context, runs []store.Run, states []store.FlowState) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.RestoreRuns(ctx, runs, states)
}

func (c *cutPostgres) CommitIncident(ctx context.Context, flow string, state json.RawMessage, items []store.OutboxItem) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.CommitIncident(ctx, flow, state, items)
}

// A cluster node's writes carry their lease fence; when the database
// fails, such a write is refused, not kept in memory: memory is flushed
// unfenced, after another node may have taken the flow over, and its
// pages would be sent directly by a node that no longer runs the flow.
// Node a, cut from the database, records a run and an incident of flow f;
// node b takes f's shard over and records its own; when a is reconnected
// and flushes, b's flow state and incident state stand and a's page is
// nowhere. An unfenced write (the daemon's own incident) is still kept,
// and a fenced write while the store is failing still tries the database.
func TestFencedWritesAreNotKept(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	ps, err := postgres.Open(ctx, pg.CreateDatabase(t, "fenced"), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	lease := func(node string) map[int]int64 {
		g, err := ps.RenewLeases(ctx, postgres.LeaseRequest{Node: node, Location: "eu", Shards: 64, Lease: time.Minute, Live: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return g.Held
	}
	const shard = 3 // the fence names the shard; the flow's name does not matter to the store
	fence := func(node string, gen int64) context.Context {
		return store.WithFence(ctx, store.Fence{Location: "eu", Shard: shard, Node: node, Generation: gen})
	}
	a := fence("a", lease("a")[shard])

	backend := &cutPostgres{Store: ps}
	b := New(ctx, backend, Options{})
	backend.cut.Store(true)
	if _, err := b.RecordRun(a, store.Run{Flow: "f", Start: time.Now(), OK: false, Reason: "idp_unreachable"}); err == nil {
		t.Error("a fenced run was accepted while the database fails")
	}
	page := []store.OutboxItem{{Notifier: "pager", IncidentKey: "f#a", EventID: "open", Event: json.RawMessage(`{}`),
		Created: time.Now(), NextAttempt: time.Now()}}
	if err := b.CommitIncident(a, "f", json.RawMessage(`{"open":true,"by":"a"}`), page); err == nil {
		t.Error("a fenced incident commit was accepted while the database fails")
	}
	if h := b.Health(); h.OK || h.PendingRuns != 0 || h.PendingItems != 0 {
		t.Errorf("health %+v, want failing with nothing held", h)
	}
	if unsent := b.Unsent(time.Now()); len(unsent) != 0 {
		t.Errorf("%d pages of a fenced commit held for direct delivery", len(unsent))
	}
	own := []store.OutboxItem{{Notifier: "pager", IncidentKey: "authwatch#1", EventID: "open", Event: json.RawMessage(`{}`),
		Created: time.Now(), NextAttempt: time.Now()}}
	if err := b.CommitIncident(ctx, "authwatch", json.RawMessage(`{"open":true}`), own); err != nil {
		t.Fatalf("an unfenced commit while failing: %v", err)
	}
	if unsent := b.Unsent(time.Now()); len(unsent) != 1 || unsent[0].IncidentKey != "authwatch#1" {
		t.Errorf("unsent %+v, want the unfenced page only", unsent)
	}

	// b takes the shard over (a's lease given back) and records its run.
	if err := ps.ReleaseLeases(ctx, "a", "eu"); err != nil {
		t.Fatal(err)
	}
	bf := fence("b", lease("b")[shard])
	if _, err := ps.RecordRun(bf, store.Run{Flow: "f", Start: time.Now(), OK: true}); err != nil {
		t.Fatal(err)
	}
	if err := ps.CommitIncident(bf, "f", json.RawMessage(`{"open":false,"by":"b"}`), nil); err != nil {
		t.Fatal(err)
	}

	backend.cut.Store(false)
	// Still failing (not flushed yet): a fenced write tries the database.
	if _, err := b.RecordRun(a, store.Run{Flow: "f", Start: time.Now(), OK: false}); !errors.Is(err, store.ErrStaleLease) {
		t.Errorf("a's fenced run while the store is failing: %v, want ErrStaleLease from the database", err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, _, err := ps.FlowState(ctx, "f")
	if err != nil || !st.OK || st.Runs != 1 {
		t.Errorf("flow state after a's flush: %+v, %v; want b's (passing, 1 run)", st, err)
	}
	states, err := ps.IncidentStates(ctx)
	if err != nil || string(states["f"]) != `{"by": "b", "open": false}` && string(states["f"]) != `{"open":false,"by":"b"}` {
		t.Errorf("incident state after a's flush: %s, %v; want b's", states["f"], err)
	}
	due, err := ps.Due(ctx, time.Now().Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range due {
		if it.IncidentKey == "f#a" {
			t.Errorf("a's page reached the outbox: %+v", it)
		}
	}
}
