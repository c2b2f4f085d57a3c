package statuspage

// The status page with the daemon's states in memory (Options.States):
// no state is read from the store, and the runs the daemon records reach
// the figures without a read of their own.

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// recordLive records a run in the store and tells live, as the daemon does.
func recordLive(t *testing.T, st *sqlite.Store, live *LiveStates, run store.Run) store.FlowState {
	t.Helper()
	state, err := st.RecordRun(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	live.Recorded(run, state)
	return state
}

// flowsJSON is /api/v1/flows without its time.
func flowsJSON(t *testing.T, h http.Handler, path string) FlowsJSON {
	t.Helper()
	resp, body := get(t, h, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return decode[FlowsJSON](t, body)
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s from LiveStates:\n%s\nfrom the store:\n%s", what, g, w)
	}
}

// TestOverviewFromLiveStates: with Options.States, the overview and the
// API read no flow state from the store; a run recorded shows on the next
// load, its figures without a Runs query, exactly as a handler reading the
// store shows them (the flow's page, its measurements included); a change
// of a flow's place rebuilds the order, a run that keeps it does not; the
// ETag follows every run.
func TestOverviewFromLiveStates(t *testing.T) {
	f := getFixture(t)
	st, _ := f.newStore(t, 0, 0)
	src := &scaleSource{Store: st, runsOf: map[string]int{}}
	live := liveStates(t, st)
	infos := FlowInfos(f.flows)
	res := f.results["orders-api"]
	now := res.Start.Add(time.Minute)
	clock := func() time.Time { return now }
	srv := newServer(src, Options{Flows: func() []FlowInfo { return infos }, States: live, Now: clock})
	h := srv.handler()
	fromStore := func() http.Handler { return New(st, Options{Flows: func() []FlowInfo { return infos }, Now: clock}) }

	first := flowsJSON(t, h, "/api/v1/flows")
	sameJSON(t, "the first page", first, flowsJSON(t, fromStore(), "/api/v1/flows"))
	get(t, h, "/")
	if _, fs, _ := src.take(); fs != 0 {
		t.Errorf("%d FlowStates queries with LiveStates, want none", fs)
	}
	listed := srv.listings.key

	// Passing runs of a passing flow: its row changes, its place does not.
	var tag string
	for i := 1; i <= 3; i++ {
		resp, _ := get(t, h, "/api/v1/flows")
		tag = resp.Header.Get("ETag")
		start := res.Start.Add(time.Duration(i) * 15 * time.Second)
		state := recordLive(t, st, live, toRun(shifted(res, start, 1+float64(i)/10)))
		now = start.Add(time.Second)
		resp, body := get(t, h, "/api/v1/flows", "If-None-Match", tag)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("run %d: %d with the ETag from before it, want 200", i, resp.StatusCode)
		}
		page := decode[FlowsJSON](t, body)
		row := page.Flows[slices.IndexFunc(page.Flows, func(fs FlowSummary) bool { return fs.Name == "orders-api" })]
		if row.Runs != state.Runs || row.LastRunID != state.LastRunID || !row.LastRun.Equal(start) {
			t.Errorf("run %d: the row says %d runs, last %d at %s; want %d, %d at %s", i, row.Runs, row.LastRunID, row.LastRun, state.Runs, state.LastRunID, start)
		}
		sameJSON(t, "the page after a run", page, flowsJSON(t, fromStore(), "/api/v1/flows"))
	}
	runsOf, fs, _ := src.take()
	if fs != 0 || runsOf["orders-api"] != 0 {
		t.Errorf("after 3 runs: %d FlowStates queries, the runs of orders-api read %d times; want none", fs, runsOf["orders-api"])
	}
	if srv.listings.key != listed {
		t.Errorf("passing runs of a passing flow rebuilt the listing: %+v, then %+v", listed, srv.listings.key)
	}
	resp, _ := get(t, h, "/api/v1/flows")
	if again, _ := get(t, h, "/api/v1/flows", "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
		t.Errorf("nothing ran: %d, want 304", again.StatusCode)
	}

	// A run the page missed (told as a state only) is read from the store;
	// the next is taken again.
	for i, missed := range []bool{true, false} {
		start := res.Start.Add(time.Duration(4+i) * 15 * time.Second)
		run := toRun(shifted(res, start, 1))
		if missed {
			state, err := st.RecordRun(context.Background(), run)
			if err != nil {
				t.Fatal(err)
			}
			live.Set(state)
		} else {
			recordLive(t, st, live, run)
		}
		now = start.Add(time.Second)
		sameJSON(t, "the page after a run", flowsJSON(t, h, "/api/v1/flows"), flowsJSON(t, fromStore(), "/api/v1/flows"))
	}
	if runsOf, _, _ := src.take(); runsOf["orders-api"] != 1 {
		t.Errorf("the runs of orders-api read %d times for a run missed and a run taken, want 1", runsOf["orders-api"])
	}

	// The flow's page reads the steps of the runs taken (its measurements),
	// every run's in order.
	_, liveBody := get(t, h, "/api/v1/flows/orders-api")
	_, storeBody := get(t, fromStore(), "/api/v1/flows/orders-api")
	if liveBody != storeBody {
		t.Errorf("the flow's page from LiveStates:\n%s\nfrom the store:\n%s", liveBody, storeBody)
	}

	// A failure moves the flow: the order is rebuilt, the counts follow.
	fail := toRun(shifted(res, res.Start.Add(time.Minute), 1))
	fail.OK, fail.Reason, fail.Layer, fail.FailedStep, fail.Summary = false, "invalid_client", "client", "token", "refused"
	recordLive(t, st, live, fail)
	now = fail.Start.Add(time.Second)
	page := flowsJSON(t, h, "/api/v1/flows?state=failing")
	if !slices.ContainsFunc(page.Flows, func(fs FlowSummary) bool { return fs.Name == "orders-api" && fs.Reason == "invalid_client" }) ||
		page.Counts[StateFailing] != first.Counts[StateFailing]+1 {
		t.Errorf("after a failure of orders-api: counts %v, flows %d; want it failing", page.Counts, len(page.Flows))
	}
	sameJSON(t, "the failing flows", page, flowsJSON(t, fromStore(), "/api/v1/flows?state=failing"))
	if srv.listings.key == listed {
		t.Error("a flow that started failing did not rebuild the listing")
	}
	if _, fs, _ := src.take(); fs != 0 {
		t.Errorf("%d FlowStates queries, want none", fs)
	}
}

// TestLiveFiguresFromRollups: with history tiers (3 passing runs kept
// whole, the rest in hour roll-ups), the runs taken from LiveStates are
// counted into the hours as a read of the new runs would: the pass rates
// and counts match a handler reading the store after each run, and the
// runs are read only by the hourly full reload.
func TestLiveFiguresFromRollups(t *testing.T) {
	base := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	now := base
	db, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := db.Prune(ctx, now.Add(-48*time.Hour), store.Retention{PassingRunsKept: 3}); err != nil {
		t.Fatal(err)
	}
	run := func(i int) store.Run {
		r := store.Run{Flow: "f", Start: base.Add(-48*time.Hour + time.Duration(i)*10*time.Minute), DurationMS: float64(100 + i%7), OK: i%40 != 39}
		if !r.OK {
			r.Reason = "invalid_token"
		}
		return r
	}
	for i := range 288 {
		if _, err := db.RecordRun(ctx, run(i)); err != nil {
			t.Fatal(err)
		}
	}
	src := &scaleSource{Store: db, runsOf: map[string]int{}}
	live := liveStates(t, db)
	clock := func() time.Time { return now }
	liveH := New(src, Options{States: live, Now: clock})
	storeH := New(db, Options{Now: clock})
	sameJSON(t, "the first view", flowsJSON(t, liveH, "/api/v1/flows"), flowsJSON(t, storeH, "/api/v1/flows"))
	src.take()
	for i := 288; i < 288+80; i++ { // 13 hours more, two failures among them
		recordLive(t, db, live, run(i))
		now = run(i).Start.Add(time.Minute)
		got, want := flowsJSON(t, liveH, "/api/v1/flows"), flowsJSON(t, storeH, "/api/v1/flows")
		if g, w := got.Flows[0], want.Flows[0]; *g.PassRate24h != *w.PassRate24h || *g.PassRate7d != *w.PassRate7d ||
			g.Runs24h != w.Runs24h || g.Runs7d != w.Runs7d || g.Runs != w.Runs || g.State != w.State {
			t.Fatalf("after run %d: from LiveStates %+v\nfrom the store %+v", i, g, w)
		}
	}
	// 80 runs over 13h20m: only the hourly full reload reads the runs.
	if runsOf, fs, _ := src.take(); runsOf["f"] > int(80*10*time.Minute/fullReloadEvery) || fs != 0 {
		t.Errorf("80 runs taken from LiveStates over 13 h: the runs read %d times, %d FlowStates; want at most one read an hour (the full reload), no FlowStates",
			runsOf["f"], fs)
	}
}

// Runs taken from LiveStates, then more runs missed than the read's slack:
// the flow's page still reads the taken runs' steps (its trend points), as
// a page reading the store shows them.
func TestFlowPageStepsOfRunsTakenThenMissed(t *testing.T) {
	f := getFixture(t)
	st, _ := f.newStore(t, 0, 0)
	live := liveStates(t, st)
	infos := FlowInfos(f.flows)
	res := f.results["orders-api"]
	now := res.Start.Add(time.Minute)
	clock := func() time.Time { return now }
	h := New(st, Options{Flows: func() []FlowInfo { return infos }, States: live, Now: clock})
	fromStore := func() http.Handler { return New(st, Options{Flows: func() []FlowInfo { return infos }, Now: clock}) }
	get(t, h, "/api/v1/flows/orders-api") // the flow's figures are loaded
	for i := 1; i <= 2+deltaSlack+2; i++ {
		start := res.Start.Add(time.Duration(i) * 15 * time.Second)
		run := toRun(shifted(res, start, 1+float64(i)/10))
		if i <= 2 {
			recordLive(t, st, live, run)
		} else {
			state, err := st.RecordRun(context.Background(), run)
			if err != nil {
				t.Fatal(err)
			}
			live.Set(state)
		}
		now = start.Add(time.Second)
	}
	_, liveBody := get(t, h, "/api/v1/flows/orders-api")
	_, storeBody := get(t, fromStore(), "/api/v1/flows/orders-api")
	if liveBody != storeBody {
		t.Errorf("the flow's page from LiveStates:\n%s\nfrom the store:\n%s", liveBody, storeBody)
	}
}
