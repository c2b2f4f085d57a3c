package statuspage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// countingSource records the Runs queries the page makes.
type countingSource struct {
	*sqlite.Store
	mu     sync.Mutex
	limits []int // of Runs calls
}

func (c *countingSource) Runs(ctx context.Context, flow string, limit int) ([]store.Run, error) {
	c.mu.Lock()
	c.limits = append(c.limits, limit)
	c.mu.Unlock()
	return c.Store.Runs(ctx, flow, limit)
}

func (c *countingSource) take() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.limits
	c.limits = nil
	return out
}

// summarizingSource also implements RunSummarizer, the way a store would:
// runs of the window without their steps.
type summarizingSource struct {
	*countingSource
	summaries atomic.Int32
}

func (s *summarizingSource) RunSummaries(ctx context.Context, flow string, since time.Time) ([]store.Run, error) {
	s.summaries.Add(1)
	all, err := s.Store.Runs(ctx, flow, 0)
	var out []store.Run
	for _, r := range all {
		if !r.Start.Before(since) {
			r.Steps = nil
			out = append(out, r)
		}
	}
	return out, err
}

func TestPassRatesReadOnlyNewRuns(t *testing.T) {
	f := getFixture(t)
	st, rc := f.newStore(t, 6*time.Hour, 6*24*time.Hour) // 24 copies plus the real run per flow
	src := &countingSource{Store: st}
	infos := f.infos()
	h := New(src, Options{Flows: func() []FlowInfo { return infos }})

	_, body := get(t, h, "/api/v1/flows")
	first := decode[FlowsJSON](t, body)
	limits := src.take()
	if len(limits) != len(infos) {
		t.Fatalf("first view: %d Runs queries, want one per flow (%d): %v", len(limits), len(infos), limits)
	}
	for _, l := range limits {
		// The window is read a page at a time (TestWindowReadByPages),
		// the pages bounded by the schedule's 7 days (TestWindowLimit).
		if l != windowPage {
			t.Errorf("window query limit %d, want a page of %d", l, windowPage)
		}
	}
	for _, fl := range first.Flows {
		if fl.Runs7d != 25 || fl.Runs24h != 4 {
			t.Errorf("%s: %d runs in 7 d, %d in 24 h; want 25, 4", fl.Name, fl.Runs7d, fl.Runs24h)
		}
	}

	// Nothing new: no query of runs at all.
	get(t, h, "/api/v1/flows")
	get(t, h, "/")
	if l := src.take(); len(l) != 0 {
		t.Errorf("views without new runs queried runs: %v", l)
	}

	// One new (real) run of one flow: one small query.
	res := f.runner.Run(context.Background(), f.flow("orders-requires-auth"))
	rc.record(t, res)
	_, body = get(t, h, "/api/v1/flows")
	if l := src.take(); len(l) != 1 || l[0] != 1+deltaSlack {
		t.Errorf("after one run: Runs queries %v, want [%d]", l, 1+deltaSlack)
	}
	var got FlowSummary
	for _, fl := range decode[FlowsJSON](t, body).Flows {
		if fl.Name == "orders-requires-auth" {
			got = fl
		}
	}
	if got.Runs7d != 26 || !got.LastRun.Equal(res.Start) || got.LatencyMS[len(got.LatencyMS)-1] != toRun(res).DurationMS {
		t.Errorf("after one run: %+v", got)
	}

	// The figures are those of a cache built from scratch.
	fresh := New(st, Options{Flows: func() []FlowInfo { return infos }})
	_, body = get(t, fresh, "/api/v1/flows")
	_, cached := get(t, h, "/api/v1/flows")
	a, b := decode[FlowsJSON](t, body), decode[FlowsJSON](t, cached)
	for i := range a.Flows {
		x, y := a.Flows[i], b.Flows[i]
		if x.Name != y.Name || *x.PassRate7d != *y.PassRate7d || *x.PassRate24h != *y.PassRate24h || x.Runs7d != y.Runs7d ||
			len(x.LatencyMS) != len(y.LatencyMS) || x.State != y.State || x.Reason != y.Reason {
			t.Errorf("incremental %+v\nfrom scratch %+v", y, x)
		}
	}

	// A Source that summarizes serves the window without steps; the
	// figures are the same.
	sum := &summarizingSource{countingSource: &countingSource{Store: st}}
	hs := New(sum, Options{Flows: func() []FlowInfo { return infos }})
	_, body = get(t, hs, "/api/v1/flows")
	if n := int(sum.summaries.Load()); n != len(infos) {
		t.Errorf("%d RunSummaries calls, want %d", n, len(infos))
	}
	for _, l := range sum.take() {
		if l != trendRuns {
			t.Errorf("with summaries, Runs was asked for %d runs, want %d (for measurements)", l, trendRuns)
		}
	}
	c := decode[FlowsJSON](t, body)
	for i := range a.Flows {
		x, y := a.Flows[i], c.Flows[i]
		if *x.PassRate7d != *y.PassRate7d || x.Runs7d != y.Runs7d || x.Reason != y.Reason || x.State != y.State {
			t.Errorf("summarized %+v\nfull %+v", y, x)
		}
	}
	_, body = get(t, hs, "/api/v1/flows/legacy-client-token")
	if len(decode[FlowDetailJSON](t, body).Trends.Measurements) == 0 {
		t.Error("no measurements when the window came from summaries")
	}
}

func TestWindowLimit(t *testing.T) {
	for every, want := range map[time.Duration]int{
		15 * time.Second: 40320 + 4032 + 16,
		time.Minute:      10080 + 1008 + 16,
		time.Hour:        168 + 16 + 16,
		time.Second:      maxWindowRuns,
		0:                cronWindowRuns + cronWindowRuns/10 + deltaSlack,
	} {
		if got := windowLimit(every); got != want {
			t.Errorf("windowLimit(%s) = %d, want %d", every, got, want)
		}
	}
}

// Runs recorded by hand to check the window, the timeline and cancelled runs.
func TestWindowAndTimeline(t *testing.T) {
	st, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	add := func(ago time.Duration, ok, cancelled bool, reason string) {
		r := store.Run{Flow: "f", Start: now.Add(-ago), DurationMS: 10, OK: ok, Cancelled: cancelled, Reason: reason, Summary: "s " + reason,
			Steps: json.RawMessage(`[]`)}
		if !ok {
			r.FailedStep = "x"
		}
		if _, err := st.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	add(8*24*time.Hour, false, false, "too_old") // outside the window
	add(6*24*time.Hour, true, false, "")
	add(3*24*time.Hour, false, false, "a")
	add(2*24*time.Hour, false, false, "b")
	add(30*time.Hour, true, false, "")
	add(20*time.Hour, false, true, "") // cancelled: not counted
	add(10*time.Hour, false, false, "b")
	add(time.Hour, true, false, "")
	h := New(st, Options{Now: func() time.Time { return now }})
	_, body := get(t, h, "/api/v1/flows/f")
	d := decode[FlowDetailJSON](t, body)
	if d.Flow.Runs7d != 6 || d.Flow.Runs24h != 2 || *d.Flow.PassRate7d != 0.5 || *d.Flow.PassRate24h != 0.5 {
		t.Errorf("runs %d/%d rates %v/%v, want 6/2 and 0.5/0.5", d.Flow.Runs7d, d.Flow.Runs24h, *d.Flow.PassRate7d, *d.Flow.PassRate24h)
	}
	var kinds []string
	for _, e := range d.Timeline {
		kinds = append(kinds, e.Kind+":"+e.Reason+":"+e.PreviousReason)
	}
	want := []string{"passing::b", "failing:b:", "passing::b", "reason_changed:b:a", "failing:a:"}
	if len(kinds) != len(want) {
		t.Fatalf("timeline %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Errorf("timeline %v, want %v", kinds, want)
			break
		}
	}
	if len(d.Trends.Latency) != 6 {
		t.Errorf("%d latency points, want 6 (cancelled and old runs left out)", len(d.Trends.Latency))
	}
}

func TestVendoredUPlotIsPinned(t *testing.T) {
	for path, want := range map[string]string{
		"assets/vendor/uplot/uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
		"assets/vendor/uplot/uPlot.min.css":     "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, want %s (uPlot 1.6.32 from npm; see its README.md)", path, got, want)
		}
	}
	if _, err := os.Stat("assets/vendor/uplot/LICENSE"); err != nil {
		t.Errorf("uPlot's licence is not vendored: %v", err)
	}
}

// Every run that obtains a token adds a point to the token-lifetime trend,
// whether the page was viewed between the runs (each view reads the new
// run) or only after all of them (one load of the window). The demo's
// runs, 15 s apart, used to share one ~17-minute bucket: ten runs, one
// point.
func TestTokenLifetimeTrendHasAPointPerRun(t *testing.T) {
	f := getFixture(t)
	res := f.results["orders-api"]
	const runs = 10
	for _, viewEachRun := range []bool{true, false} {
		st, rc := f.newStore(t, 0, 0) // the real run of each flow
		var now time.Time
		h := New(st, Options{Now: func() time.Time { return now }})
		for i := 1; i < runs; i++ {
			start := res.Start.Add(time.Duration(i) * 15 * time.Second)
			rc.record(t, shifted(res, start, 1))
			now = start.Add(time.Second)
			if viewEachRun || i == runs-1 {
				get(t, h, "/api/v1/flows/orders-api")
			}
		}
		_, body := get(t, h, "/api/v1/flows/orders-api")
		var lifetime []TrendPoint
		for _, m := range decode[FlowDetailJSON](t, body).Trends.Measurements {
			if m.Name == "token_lifetime_seconds" {
				lifetime = m.Points
			}
		}
		if len(lifetime) != runs {
			t.Errorf("viewed after each run %v: %d token lifetime points after %d runs, want one per run: %+v", viewEachRun, len(lifetime), runs, lifetime)
		}
	}
}

// A series of a flow that runs often is thinned to one point per bucket,
// keeping its newest point: it stays bounded.
func TestTrendSeriesIsBounded(t *testing.T) {
	var f flowStats
	f.reset()
	k := seriesKey{"token_lifetime_seconds", "token"}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const n = 7 * 24 * 60 * 6 // every 10 s for 7 days
	for i := range n {
		f.addPoint(k, start.Add(time.Duration(i)*10*time.Second).UnixNano(), float64(i))
		if got := len(f.trends[k]); got > maxTrendPoints {
			t.Fatalf("after %d points the series holds %d, more than %d", i+1, got, maxTrendPoints)
		}
	}
	pts := f.trends[k]
	if last := pts[len(pts)-1]; last.v != n-1 {
		t.Errorf("newest point %v, want the last value added (%d)", last, n-1)
	}
	if len(pts) < trendBuckets {
		t.Errorf("%d points over 7 days, want at least one per bucket (%d)", len(pts), trendBuckets)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].t <= pts[i-1].t {
			t.Fatalf("points out of order at %d: %v then %v", i, pts[i-1], pts[i])
		}
	}
}

// noRollups hides the store's roll-ups: the figures come from whole runs.
type noRollups struct{ Source }

// With history tiers, the pass rates and run counts come from the hourly
// roll-ups: the same figures as from every run kept whole when now is on
// the hour, and right when most passing runs are no longer kept whole
// (before, they were counted from the whole records alone: 50 % instead of
// 97.5 %).
func TestPassRatesFromRollups(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	fill := func(t *testing.T, kept int) *sqlite.Store {
		st, err := sqlite.Open(t.TempDir() + "/authwatch.db")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		ctx := context.Background()
		if _, err := st.Prune(ctx, now.Add(-48*time.Hour), store.Retention{PassingRunsKept: kept}); err != nil {
			t.Fatal(err)
		}
		// Every 10 minutes for 48 hours; every 40th run fails.
		for i := range 288 {
			r := store.Run{Flow: "f", Start: now.Add(-48*time.Hour + time.Duration(i)*10*time.Minute), DurationMS: 100, OK: i%40 != 39}
			if !r.OK {
				r.Reason = "invalid_token"
			}
			if _, err := st.RecordRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	figuresOf := func(t *testing.T, src Source) figures {
		st, _, err := src.FlowState(context.Background(), "f")
		if err != nil {
			t.Fatal(err)
		}
		var f flowStats
		if err := f.sync(context.Background(), src, "f", st, 10*time.Minute, now, true); err != nil {
			t.Fatal(err)
		}
		return f.figures(now)
	}
	whole := fill(t, 0)
	a, b := figuresOf(t, whole), figuresOf(t, noRollups{whole})
	if *a.passRate24h != *b.passRate24h || *a.passRate7d != *b.passRate7d || a.runs24h != b.runs24h || a.runs7d != b.runs7d {
		t.Errorf("from roll-ups %+v, from whole runs %+v: want the same", a, b)
	}
	if a.runs24h != 144 || a.runs7d != 288 || *a.passRate7d != 0.9757 {
		t.Errorf("figures %d %d %v; want 144 and 288 runs, pass rate 0.9757", a.runs24h, a.runs7d, *a.passRate7d)
	}

	tiered := fill(t, 3)
	c := figuresOf(t, tiered)
	if c.runs7d != 288 || *c.passRate7d != *a.passRate7d || *c.passRate24h != *a.passRate24h {
		t.Errorf("with 3 passing runs kept whole: %d runs, %v / %v; want 288, %v / %v",
			c.runs7d, *c.passRate7d, *c.passRate24h, *a.passRate7d, *a.passRate24h)
	}
	if len(c.latency) == 0 {
		t.Errorf("no sparkline from the whole runs")
	}
}

// TestStatsCacheBounded: the flows' caches are dropped least recently
// used first, by count and by their estimated bytes, keeping the newest
// whatever its size.
func TestStatsCacheBounded(t *testing.T) {
	c := statsCache{limit: 3, budget: 10000}
	a := c.get("a")
	c.get("b")
	c.get("c")
	c.get("a") // used: b is now the oldest
	c.get("d")
	if flows, _ := c.size(); flows != 3 || c.flows["b"] != nil || c.get("a") != a {
		t.Fatalf("by count: %d flows, b kept %v; want 3 without b, a the same", flows, c.flows["b"] != nil)
	}
	for _, name := range []string{"a", "c", "d"} {
		c.resized(name, c.get(name), 4000) // a, c, d: 12,000 bytes; a, the oldest used now, goes
	}
	if flows, bytes := c.size(); flows != 2 || bytes != 8000 || c.flows["a"] != nil {
		t.Errorf("by bytes: %d flows of %d bytes, a kept %v; want 2 of 8000 without a", flows, bytes, c.flows["a"] != nil)
	}
	c.resized("d", c.get("d"), 50000)
	if flows, bytes := c.size(); flows != 1 || bytes != 50000 || c.flows["d"] == nil {
		t.Errorf("one flow over the budget: %d flows of %d bytes; want d alone", flows, bytes)
	}
	c.forgetExcept(map[string]bool{})
	if flows, bytes := c.size(); flows != 0 || bytes != 0 {
		t.Errorf("after forgetting all: %d flows, %d bytes", flows, bytes)
	}
}

// rollupCounter counts the Rollups queries made of a real store.
type rollupCounter struct {
	*sqlite.Store
	rollups atomic.Int64
}

func (c *rollupCounter) Rollups(ctx context.Context, flow string, tier store.Tier, since time.Time) ([]store.Rollup, error) {
	c.rollups.Add(1)
	return c.Store.Rollups(ctx, flow, tier, since)
}

// TestDeltaCountsNewRunsWithoutRollups: with history tiers, a view after
// fewer new runs than the passing runs kept whole (a view every 10 s of
// flows that run every 10 s) reads the new runs and no roll-up (before,
// one Rollups query per flow that ran); after more, the roll-ups are read.
// Either way the figures, and on the flow's page (which reads the stale
// hours' roll-ups) the latency trend's hours, are those of a first view.
func TestDeltaCountsNewRunsWithoutRollups(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	st, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Prune(ctx, now.Add(-3*time.Hour), store.Retention{PassingRunsKept: 5}); err != nil {
		t.Fatal(err)
	}
	src := &rollupCounter{Store: st}
	var clock time.Time
	record := func(from, to int) {
		for i := from; i < to; i++ {
			r := store.Run{Flow: "f", Start: now.Add(-3*time.Hour + time.Duration(i)*time.Minute), DurationMS: float64(50 + i%40),
				OK: i%23 != 22, Steps: json.RawMessage(`[]`)}
			if !r.OK {
				r.Reason = "invalid_token"
			}
			if _, err := st.RecordRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		clock = now.Add(-3*time.Hour + time.Duration(to)*time.Minute)
	}
	opts := Options{Now: func() time.Time { return clock }}
	h := New(src, opts)
	hours := func(lat []LatencyPoint) (out []string) {
		for _, p := range lat {
			if p.Hour {
				out = append(out, fmt.Sprintf("%s %v %v %d %v", p.Time.Format(time.TimeOnly), p.MS, *p.P50MS, p.Runs, p.OK))
			}
		}
		return out
	}
	record(0, 100)
	get(t, h, "/api/v1/flows")
	for _, step := range []struct {
		runs, rollups int
	}{{4, 0}, {30, 1}, {3, 0}} { // across the hour, with failures
		src.rollups.Store(0)
		record(int(clock.Sub(now.Add(-3*time.Hour))/time.Minute), int(clock.Sub(now.Add(-3*time.Hour))/time.Minute)+step.runs)
		_, body := get(t, h, "/api/v1/flows")
		if n := src.rollups.Load(); n != int64(step.rollups) {
			t.Errorf("the view after %d new runs made %d Rollups queries, want %d", step.runs, n, step.rollups)
		}
		_, cold := get(t, New(st, opts), "/api/v1/flows")
		got, want := decode[FlowsJSON](t, body).Flows[0], decode[FlowsJSON](t, cold).Flows[0]
		if got.Runs24h != want.Runs24h || *got.PassRate24h != *want.PassRate24h || *got.PassRate7d != *want.PassRate7d {
			t.Errorf("after %d new runs: %d runs, %v / %v; a first view: %d, %v / %v", step.runs, got.Runs24h, *got.PassRate24h,
				*got.PassRate7d, want.Runs24h, *want.PassRate24h, *want.PassRate7d)
		}
		_, body = get(t, h, "/api/v1/flows/f")
		_, cold = get(t, New(st, opts), "/api/v1/flows/f")
		gotH, wantH := hours(decode[FlowDetailJSON](t, body).Trends.Latency), hours(decode[FlowDetailJSON](t, cold).Trends.Latency)
		if !slices.Equal(gotH, wantH) || len(gotH) == 0 {
			t.Errorf("after %d new runs, the trend's hours:\n%q\nin a first view:\n%q", step.runs, gotH, wantH)
		}
	}
}

// pageCounter counts the runs read from a real store.
type pageCounter struct {
	*sqlite.Store
	read atomic.Int64
}

func (c *pageCounter) Runs(ctx context.Context, flow string, limit int) ([]store.Run, error) {
	runs, err := c.Store.Runs(ctx, flow, limit)
	c.read.Add(int64(len(runs)))
	return runs, err
}

func (c *pageCounter) RunsBefore(ctx context.Context, flow string, before int64, limit int) ([]store.Run, error) {
	runs, err := c.Store.RunsBefore(ctx, flow, before, limit)
	c.read.Add(int64(len(runs)))
	return runs, err
}

// TestWindowReadByPages: a flow with 14 days of whole records (every run
// failing, 3,000 of them) has its 7-day window read a page at a time up to
// the first page that reaches past 7 days (2,000 runs), not every record
// (with history tiers a schedule's 7-day limit is more than 30 days of
// whole records), and the window holds the 7 days' runs.
func TestWindowReadByPages(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	st, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const n, span = 3000, 14 * 24 * time.Hour
	for i := range n {
		r := store.Run{Flow: "f", Start: now.Add(-span + time.Duration(i+1)*span/n), DurationMS: 10, Reason: "invalid_token"}
		if _, err := st.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	src := &pageCounter{Store: st}
	h := New(src, Options{Now: func() time.Time { return now }, Flows: func() []FlowInfo {
		return []FlowInfo{{Name: "f", Every: time.Minute}} // 7 days: 11,104 runs
	}})
	_, body := get(t, h, "/api/v1/flows")
	// The runs from 7 days ago on, that one included: half and one.
	if got := decode[FlowsJSON](t, body).Flows[0]; got.Runs7d != n/2+1 || *got.PassRate7d != 0 {
		t.Errorf("7 days: %d runs, pass rate %v; want %d, 0", got.Runs7d, *got.PassRate7d, n/2+1)
	}
	_, body = get(t, h, "/api/v1/flows/f")
	if lat := decode[FlowDetailJSON](t, body).Trends.Latency; len(lat) == 0 || lat[0].Time.Before(now.Add(-7*24*time.Hour)) ||
		lat[0].Time.After(now.Add(-7*24*time.Hour+time.Hour)) {
		t.Errorf("the latency trend does not start 7 days ago: %v", lat[:min(len(lat), 1)])
	}
	if read := src.read.Load(); read != 2*windowPage {
		t.Errorf("read %d runs for the window, want %d (two pages)", read, 2*windowPage)
	}
}
