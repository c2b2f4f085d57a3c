package statuspage

// The status page at 10,000 flows (issue 15): a real SQLite store holding
// many flows with a few runs each, in the mix of states a large install
// has, and the configuration the daemon would pass.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// scaleBase is when the big store's last runs started; the handler's
// clock is a minute later.
var scaleBase = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// scaleReasons are the failing flows' reasons, in turn.
var scaleReasons = []string{"invalid_client", "token_expired", "audience_mismatch"}

// scaleFlow is flow i of the big store: its name, configuration and the
// state its runs leave it in. Every 50th fails, every 37th passes with a
// warning, every 101st is paused, every 97th has never run.
type scaleFlow struct {
	info    FlowInfo
	state   string
	reason  string
	noState bool
}

func scaleFlowAt(i int) scaleFlow {
	sf := scaleFlow{info: FlowInfo{Name: fmt.Sprintf("flow-%05d", i), Schedule: "every 10s", Every: 10 * time.Second,
		Labels: map[string]string{"team": fmt.Sprintf("team-%d", i%10), "env": []string{"prod", "staging"}[i%2]}}, state: StatePassing}
	switch {
	case i%101 == 0:
		sf.info.Paused, sf.info.Schedule, sf.state = true, "not scheduled", StatePaused
	case i%97 == 0:
		sf.noState, sf.state = true, StateUnknown
	case i%50 == 0:
		sf.state, sf.reason = StateFailing, scaleReasons[(i/50)%len(scaleReasons)]
	case i%37 == 0:
		sf.state, sf.reason = StateWarning, "token_lifetime_short"
	}
	return sf
}

// scaleRun is run k (of runs) of flow sf: runs 0..runs-1 end at scaleBase,
// 10 s apart; the last one decides the state.
func scaleRun(sf scaleFlow, k, runs int) store.Run {
	r := store.Run{Flow: sf.info.Name, Start: scaleBase.Add(-time.Duration(runs-1-k) * 10 * time.Second),
		DurationMS: float64(20 + k%7), OK: true, Steps: json.RawMessage(`[]`)}
	if k == runs-1 {
		switch sf.state {
		case StateFailing:
			r.OK, r.Reason, r.Layer, r.FailedStep, r.Summary = false, sf.reason, "client", "token", "the token endpoint refused the client"
		case StateWarning:
			r.Warnings = 1
		}
	}
	return r
}

// scaleIncident is the incident state the alerting would have stored.
func scaleIncident(sf scaleFlow) (json.RawMessage, bool) {
	st := incident.State{Flow: sf.info.Name, Labels: sf.info.Labels}
	switch sf.state {
	case StateFailing:
		st.Open, st.Key, st.Reason, st.ConsecutiveFailures = true, "authwatch/"+sf.info.Name+"/1", sf.reason, 1
		st.OpenedAt, st.FirstFailure = scaleBase, scaleBase
		st.Last = &incident.Detail{Step: "token", Layer: "client", Summary: "the token endpoint refused the client"}
	case StateWarning:
		st.Warning = &incident.WarningState{Open: true, Key: "authwatch/" + sf.info.Name + "/w1", Reason: sf.reason, OpenedAt: scaleBase,
			Findings: []incident.Finding{{Reason: sf.reason, Summary: "the access token lives 5m0s, less than 48h0m0s"}}}
	default:
		return nil, false
	}
	b, _ := json.Marshal(st)
	return b, true
}

// bigStore is a store of n flows with runs runs each, and their
// configuration.
func bigStore(tb testing.TB, n, runs int) (*sqlite.Store, []FlowInfo) {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "authwatch.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ctx := context.Background()
	infos := make([]FlowInfo, n)
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 64 { // concurrent RecordRun calls share commits
		wg.Go(func() {
			for i := range work {
				if err := recordScaleFlow(ctx, st, scaleFlowAt(i), runs); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		infos[i] = scaleFlowAt(i).info
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	return st, infos
}

func recordScaleFlow(ctx context.Context, st *sqlite.Store, sf scaleFlow, runs int) error {
	if sf.noState {
		return nil
	}
	for k := range runs {
		if _, err := st.RecordRun(ctx, scaleRun(sf, k, runs)); err != nil {
			return err
		}
	}
	if inc, ok := scaleIncident(sf); ok {
		return st.CommitIncident(ctx, sf.info.Name, inc, nil)
	}
	return nil
}

func scaleServer(src Source, infos []FlowInfo) *server {
	return newServer(src, Options{Flows: func() []FlowInfo { return infos }, Now: func() time.Time { return scaleBase.Add(time.Minute) }})
}

// BenchmarkOverview10k serves the overview, the API's first page and a
// filtered page at 10,000 flows with 3 runs each. "idle": nothing ran
// since the last view; "busy": every flow ran since (at 1,000 runs/s, a
// view every 10 s sees that). "live/": with the states in memory
// (Options.States, as the daemon serves it), each run recorded handed to
// the page too.
func BenchmarkOverview10k(b *testing.B) {
	const n, runs = 10000, 3
	st, infos := bigStore(b, n, runs)
	for _, live := range []bool{false, true} {
		prefix := ""
		var states *LiveStates
		if live {
			prefix, states = "live/", liveStates(b, st)
		}
		handler := func() http.Handler {
			return newServer(st, Options{Flows: func() []FlowInfo { return infos }, States: states,
				Now: func() time.Time { return scaleBase.Add(time.Minute) }}).handler()
		}
		for _, path := range []string{"/", "/api/v1/flows", "/api/v1/flows?state=failing&label=team%3Dteam-0"} {
			b.Run(prefix+"idle"+path, func(b *testing.B) {
				h := handler()
				size := serveOK(b, h, path) // the caches' first load
				b.ResetTimer()
				for b.Loop() {
					serveOK(b, h, path)
				}
				b.ReportMetric(float64(size), "bytes/answer")
			})
		}
		b.Run(prefix+"busy/", func(b *testing.B) {
			h := handler()
			serveOK(b, h, "/")
			k := runs
			for b.Loop() {
				b.StopTimer()
				recordScaleRound(b, st, states, n, k, runs)
				k++
				b.StartTimer()
				serveOK(b, h, "/")
			}
		})
	}
}

// recordScaleRound records run k of every flow of the big store (and
// tells states, when set).
func recordScaleRound(b *testing.B, st *sqlite.Store, states *LiveStates, n, k, runs int) {
	for i := 0; i < n; i += 128 { // every flow runs once, in batches
		var wg sync.WaitGroup
		for j := i; j < min(i+128, n); j++ {
			sf := scaleFlowAt(j)
			if sf.noState {
				continue
			}
			wg.Go(func() {
				r := scaleRun(sf, k, k+1)
				r.Start = scaleBase.Add(time.Duration(k-runs+1) * time.Second)
				state, err := st.RecordRun(context.Background(), r)
				if err != nil {
					b.Error(err)
					return
				}
				if states != nil {
					states.Recorded(r, state)
				}
			})
		}
		wg.Wait()
	}
}

// liveStates fills LiveStates from the store, as the daemon does at its
// start.
func liveStates(tb testing.TB, st *sqlite.Store) *LiveStates {
	tb.Helper()
	states, err := st.FlowStates(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	live := &LiveStates{}
	for _, s := range states {
		live.Restore(s)
	}
	return live
}

func serveOK(tb testing.TB, h http.Handler, path string) int {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET %s: %d %.300s", path, rec.Code, rec.Body.String())
	}
	return rec.Body.Len()
}

// scaleSource counts what the page reads from the real store: the flows
// whose runs it read, and the list queries.
type scaleSource struct {
	*sqlite.Store
	mu          sync.Mutex
	runsOf      map[string]int
	flowStates  int
	incidentSts int
}

func (c *scaleSource) Runs(ctx context.Context, flow string, limit int) ([]store.Run, error) {
	c.mu.Lock()
	c.runsOf[flow]++
	c.mu.Unlock()
	return c.Store.Runs(ctx, flow, limit)
}

func (c *scaleSource) FlowStates(ctx context.Context) ([]store.FlowState, error) {
	c.mu.Lock()
	c.flowStates++
	c.mu.Unlock()
	return c.Store.FlowStates(ctx)
}

func (c *scaleSource) IncidentStates(ctx context.Context) (map[string]json.RawMessage, error) {
	c.mu.Lock()
	c.incidentSts++
	c.mu.Unlock()
	return c.Store.IncidentStates(ctx)
}

// take returns the flows whose runs were read and the list queries made
// since the last take.
func (c *scaleSource) take() (runsOf map[string]int, flowStates, incidentStates int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	runsOf, flowStates, incidentStates = c.runsOf, c.flowStates, c.incidentSts
	c.runsOf, c.flowStates, c.incidentSts = map[string]int{}, 0, 0
	return runsOf, flowStates, incidentStates
}

// scaleWant is what the big store of n flows holds: every flow in the
// overview's order, and the count per state.
func scaleWant(n int) ([]rowKey, map[string]int) {
	keys, counts := make([]rowKey, n), newCounts()
	for i := range n {
		sf := scaleFlowAt(i)
		keys[i] = rowKey{state: sf.state, name: sf.info.Name}
		counts[sf.state]++
	}
	slices.SortFunc(keys, rowKey.compare)
	return keys, counts
}

// TestFlowsAt10k: at 10,000 flows, /api/v1/flows and the overview serve a
// page at a time, filtered and counted over every flow, read the runs of
// the page's flows only, answer 304 while nothing changed, and show a
// failure recorded just before the next load.
func TestFlowsAt10k(t *testing.T) {
	const n = 10000
	st, infos := bigStore(t, n, 1)
	src := &scaleSource{Store: st, runsOf: map[string]int{}}
	srv := scaleServer(src, infos)
	h := srv.handler()
	order, wantCounts := scaleWant(n)

	t.Run("api pages", func(t *testing.T) {
		src.take()
		resp, body := get(t, h, "/api/v1/flows")
		page := decode[FlowsJSON](t, body)
		if resp.StatusCode != http.StatusOK || len(page.Flows) != defaultFlowsLimit || page.Total != n || page.Limit != defaultFlowsLimit ||
			!maps.Equal(page.Counts, wantCounts) || page.Next == "" || page.Prev != "" {
			t.Fatalf("first page: %d, %d flows, total %d, limit %d, counts %v (want %v), next %q, prev %q",
				resp.StatusCode, len(page.Flows), page.Total, page.Limit, page.Counts, wantCounts, page.Next, page.Prev)
		}
		runsOf, fs, is := src.take()
		onPage := map[string]bool{}
		for _, f := range page.Flows {
			onPage[f.Name] = true
		}
		for flow := range runsOf {
			if !onPage[flow] {
				t.Errorf("the runs of %s, not on the page, were read", flow)
			}
		}
		if fs != 1 || is != 1 || len(runsOf) > len(page.Flows) {
			t.Errorf("one page: %d FlowStates, %d IncidentStates queries, runs of %d flows read; want 1, 1, at most %d",
				fs, is, len(runsOf), len(page.Flows))
		}
		if len(body) > 200<<10 {
			t.Errorf("the first page is %d bytes", len(body))
		}

		// Every flow once, in order, following next; then back with prev.
		var got []rowKey
		var paths []string
		for path := "/api/v1/flows?limit=1000"; path != ""; path = page.Next {
			if len(paths) > n/1000+1 {
				t.Fatal("the pages do not end")
			}
			paths = append(paths, path)
			_, body := get(t, h, path)
			page = decode[FlowsJSON](t, body)
			for _, f := range page.Flows {
				got = append(got, rowKey{state: f.State, name: f.Name})
			}
		}
		if !slices.Equal(got, order) {
			t.Fatalf("following next: %d flows, want %d in the overview's order", len(got), len(order))
		}
		// Every flow was viewed: the flows' caches stay within their bounds
		// (they kept all 10,000 before).
		if flows, bytes := srv.stats.size(); flows > maxCachedFlows || bytes > cacheBudget || flows < 1000 {
			t.Errorf("after viewing %d flows, %d caches of %d bytes; want at least the last page's 1000, at most %d flows and %d bytes",
				n, flows, bytes, maxCachedFlows, cacheBudget)
		}
		_, body = get(t, h, paths[2])
		second := decode[FlowsJSON](t, body)
		_, body = get(t, h, second.Prev)
		back := decode[FlowsJSON](t, body)
		if len(back.Flows) != 1000 || back.Flows[0].Name != order[1000].name || back.Next != paths[2] {
			t.Errorf("prev of the third page: %d flows from %s, next %q; want the second page from %s, next %q",
				len(back.Flows), back.Flows[0].Name, back.Next, order[1000].name, paths[2])
		}
	})

	t.Run("api filters", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			want  func(sf scaleFlow) bool
			// countsFiltered: the counts are over the label, reason and
			// name filters (state= does not change them).
			countsFiltered func(sf scaleFlow) bool
		}{
			{"state=failing", func(sf scaleFlow) bool { return sf.state == StateFailing }, nil},
			{"state=failing,warning", func(sf scaleFlow) bool { return sf.state == StateFailing || sf.state == StateWarning }, nil},
			{"state=paused&state=unknown", func(sf scaleFlow) bool { return sf.state == StatePaused || sf.state == StateUnknown }, nil},
			{"reason=token_expired", func(sf scaleFlow) bool { return sf.reason == "token_expired" },
				func(sf scaleFlow) bool { return sf.reason == "token_expired" }},
			{"reason=token_lifetime_short", func(sf scaleFlow) bool { return sf.state == StateWarning },
				func(sf scaleFlow) bool { return sf.state == StateWarning }},
			{"label=team%3Dteam-3&label=env%3Dstaging&state=passing",
				func(sf scaleFlow) bool { return sf.info.Labels["team"] == "team-3" && sf.state == StatePassing },
				func(sf scaleFlow) bool { return sf.info.Labels["team"] == "team-3" }},
			{"q=FLOW-0012", func(sf scaleFlow) bool { return strings.Contains(sf.info.Name, "flow-0012") },
				func(sf scaleFlow) bool { return strings.Contains(sf.info.Name, "flow-0012") }},
		} {
			want, counts := 0, newCounts()
			for i := range n {
				sf := scaleFlowAt(i)
				if tt.want(sf) {
					want++
				}
				if tt.countsFiltered == nil || tt.countsFiltered(sf) {
					counts[sf.state]++
				}
			}
			_, body := get(t, h, "/api/v1/flows?limit=1000&"+tt.query)
			page := decode[FlowsJSON](t, body)
			if page.Total != want || len(page.Flows) != min(want, 1000) || !maps.Equal(page.Counts, counts) {
				t.Errorf("%s: total %d, %d flows, counts %v; want %d, counts %v", tt.query, page.Total, len(page.Flows), page.Counts, want, counts)
			}
			for _, f := range page.Flows {
				var i int
				fmt.Sscanf(f.Name, "flow-%d", &i)
				if !tt.want(scaleFlowAt(i)) {
					t.Errorf("%s: %s (%s) does not match", tt.query, f.Name, f.State)
				}
			}
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "state=broken", "reason=Not-A-Code", "after=nope",
			"after=failing%3Aa&before=failing%3Ab", "label=novalue", "q=" + strings.Repeat("x", 201)} {
			resp, body := get(t, h, "/api/v1/flows?"+q)
			if resp.StatusCode != http.StatusBadRequest || decode[errorJSON](t, body).Error == "" {
				t.Errorf("API %s: %d %s", q, resp.StatusCode, body)
			}
			resp, body = get(t, h, "/?"+q)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "must") {
				t.Errorf("page %s: %d", q, resp.StatusCode)
			}
		}
	})

	t.Run("overview", func(t *testing.T) {
		src.take()
		_, body := get(t, h, "/?group=team")
		if n := strings.Count(body, `<li class="flow"`); n != defaultFlowsLimit {
			t.Errorf("%d rows, want %d", n, defaultFlowsLimit)
		}
		if runsOf, _, _ := src.take(); len(runsOf) > defaultFlowsLimit {
			t.Errorf("the runs of %d flows were read for a page of %d", len(runsOf), defaultFlowsLimit)
		}
		for _, want := range []string{`>1–100 of 10000<`, `data-count="failing">` + strconv.Itoa(wantCounts[StateFailing]) + "<",
			`href="/?group=team&amp;state=failing"`, `<h2>team: team-0`, `<option value="team" selected>`} {
			if !strings.Contains(body, want) {
				t.Errorf("the overview has no %q", want)
			}
		}
		next := regexp.MustCompile(`<a rel="next" href="([^"]+)">Next 100</a>`).FindStringSubmatch(body)
		if next == nil {
			t.Fatal("no Next 100 link")
		}
		_, body = get(t, h, html.UnescapeString(next[1]))
		prev := regexp.MustCompile(`<a rel="prev" href="([^"]+)">Previous 100</a>`).FindStringSubmatch(body)
		if !strings.Contains(body, `>101–200 of 10000<`) || prev == nil || !strings.Contains(body, `data-flow="`+order[100].name+`"`) {
			t.Errorf("the second page: no 101–200, no Previous link or no %s", order[100].name)
		}
		_, body = get(t, h, "/?state=failing&limit=1000")
		if n := strings.Count(body, `<li class="flow"`); n != wantCounts[StateFailing] || strings.Contains(body, `data-state="passing"`) {
			t.Errorf("state=failing: %d rows, want %d", n, wantCounts[StateFailing])
		}
		_, body = get(t, h, "/?q=no-such-flow")
		if !strings.Contains(body, "No flows match these filters.") {
			t.Error("a search that finds nothing does not say so")
		}
	})

	t.Run("etag", func(t *testing.T) {
		for _, path := range []string{"/", "/api/v1/flows", "/api/v1/flows?state=passing&limit=10"} {
			resp, _ := get(t, h, path)
			tag := resp.Header.Get("ETag")
			if !strings.HasPrefix(tag, `W/"`) || resp.Header.Get("Cache-Control") != "private, no-cache" {
				t.Fatalf("%s: ETag %q, Cache-Control %q", path, tag, resp.Header.Get("Cache-Control"))
			}
			src.take()
			resp, body := get(t, h, path, "If-None-Match", `"other", `+tag)
			runsOf, _, _ := src.take()
			if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != tag || len(runsOf) != 0 {
				t.Errorf("%s with its ETag: %d, %d bytes, ETag %q, runs of %d flows read; want 304, nothing read",
					path, resp.StatusCode, len(body), resp.Header.Get("ETag"), len(runsOf))
			}
			checkSecurityHeaders(t, path, resp)
		}
		resp, _ := get(t, h, "/api/v1/flows")
		if other, _ := get(t, h, "/api/v1/flows?limit=99"); other.Header.Get("ETag") == resp.Header.Get("ETag") {
			t.Error("two different pages have the same ETag")
		}
	})

	// Last: it changes the store.
	t.Run("a failure shows on the next load", func(t *testing.T) {
		resp, _ := get(t, h, "/api/v1/flows")
		tag := resp.Header.Get("ETag")
		flow := "flow-00001" // passing; failing, it is on the first page
		run := scaleRun(scaleFlowAt(1), 1, 2)
		run.OK, run.Reason, run.Summary, run.FailedStep, run.Layer = false, "invalid_client", "refused", "token", "client"
		if _, err := st.RecordRun(context.Background(), run); err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, h, "/api/v1/flows", "If-None-Match", tag)
		page := decode[FlowsJSON](t, body)
		i := slices.IndexFunc(page.Flows, func(f FlowSummary) bool { return f.Name == flow })
		if resp.StatusCode != http.StatusOK || i < 0 || page.Flows[i].State != StateFailing || page.Flows[i].Reason != "invalid_client" ||
			page.Counts[StateFailing] != wantCounts[StateFailing]+1 || page.Flows[i].LastRunID == 0 || *page.Flows[i].PassRate24h != 0.5 {
			t.Fatalf("after a failure of %s: %d, at %d, counts %v", flow, resp.StatusCode, i, page.Counts)
		}
		_, body = get(t, h, "/?state=failing")
		if !strings.Contains(body, `data-flow="`+flow+`" data-state="failing"`) {
			t.Errorf("the overview does not show %s failing", flow)
		}
	})
}
