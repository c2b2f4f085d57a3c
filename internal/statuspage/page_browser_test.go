package statuspage

// In headless Chromium, what issue 14 found on the demo's pages: the
// charts' time axis (a sensible range for one point, labels that never
// touch), what the overview's figures are, and why a failing flow has no
// incident. The charts are canvases, so the page notes on each chart's
// element what its time axis drew (data-x-axis); the test measures those
// labels in the browser with the axis's font.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// browserPage is a headless Chromium tab on a status page.
type browserPage struct {
	t       *testing.T
	ctx     context.Context
	base    string
	mu      sync.Mutex
	console []string
}

func newBrowserPage(t *testing.T, base string) *browserPage {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("no Chromium at %s: %v", chromiumPath, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	p := &browserPage{t: t, ctx: ctx, base: base}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				p.mu.Lock()
				p.console = append(p.console, m.String())
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, m := range p.console {
			if !strings.Contains(m, "favicon") {
				t.Errorf("browser console: %s", m)
			}
		}
	})
	return p
}

// open loads path in a viewport width px wide and waits for sel.
func (p *browserPage) open(width int, path, sel string) {
	p.t.Helper()
	p.do("open "+path, chromedp.EmulateViewport(int64(width), 800), chromedp.Navigate(p.base+path), chromedp.WaitVisible(sel))
}

func (p *browserPage) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.mu.Lock()
		msgs := strings.Join(p.console, "\n")
		p.mu.Unlock()
		p.t.Fatalf("%s: %v\nbrowser console:\n%s", what, err, msgs)
	}
}

// eval returns the JSON of a JavaScript value, decoded into T.
func evalJSON[T any](p *browserPage, expr string) T {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify(`+expr+`)`))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		p.t.Fatalf("%s: %v: %s", expr, err, s)
	}
	return v
}

// timeAxis is what a chart's time axis drew: its range (Unix seconds),
// the plot's width, and each label's lines with their measured widths, at
// x (px from the plot's left edge).
type timeAxis struct {
	Min, Max, Width float64
	Ticks           []struct {
		T, X   float64
		Label  string
		Widths []float64
	}
}

// measuredAxis reads a chart's data-x-axis and measures its labels in the
// browser, line by line, with the font the axis draws them in.
const measuredAxis = `(el => {
  const a = JSON.parse(el.dataset.xAxis), c = document.createElement('canvas').getContext('2d');
  c.font = a.font;
  a.ticks.forEach(t => { t.widths = t.label.split('\n').map(s => c.measureText(s).width); });
  return a;
})(document.getElementById(%q))`

// chartBase is the fixed times of the chart tests' runs (the page's
// clock is set just after the last).
var chartBase = time.Date(2026, 3, 2, 13, 45, 0, 0, time.UTC)

// chartRuns are the charts' cases: a flow, and its runs as offsets
// before chartBase.
var chartRuns = map[string][]time.Duration{
	"orders-api":          {0},                        // one run: one point
	"create-order":        spaced(10, 15*time.Second), // the demo after ten runs
	"user-login":          spaced(14, time.Minute),
	"legacy-client-token": spaced(40, 6*time.Minute),
	"rotated-secret":      spaced(25, 6*time.Hour), // days, across midnight
}

func spaced(n int, every time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(n-1-i) * every
	}
	return out
}

// chartStore records copies of the fixture's real runs at chartRuns'
// times, with the real incident policy; passingKept > 0 keeps only that
// many passing runs of each flow whole (history tiers), the others in the
// roll-ups only.
func chartStore(t *testing.T, f *fixture, passingKept ...int) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if len(passingKept) > 0 {
		ret := store.Retention{PassingRunsKept: passingKept[0]}
		if _, err := st.Prune(t.Context(), chartBase.Add(-30*24*time.Hour), ret); err != nil {
			t.Fatal(err)
		}
	}
	rc := &recorder{st: st, policy: incident.DefaultPolicy(), inc: map[string]incident.State{}}
	names := make([]string, 0, len(chartRuns))
	for name := range chartRuns {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, off := range chartRuns[name] {
			rc.record(t, shifted(f.results[name], chartBase.Add(-off), 1))
		}
	}
	return st
}

// The trend charts' time axis: around one point, an hour each side (it
// drew 2027 to 2029); for every span, labels that do not touch, at every
// page width, with the data inside the axis's range. With 3 passing runs
// kept whole per flow, the latency chart draws each run kept whole and
// the other hours' p95 and p50 from the roll-ups (the flows that ran for
// longer than their 3 last passing runs have such hours: user-login's do),
// from the first run's hour on.
func TestBrowserChartTimeAxis(t *testing.T) {
	f := getFixture(t)
	st := chartStore(t, f, 3)
	now := chartBase.Add(30 * time.Second)
	srv := httptest.NewServer(New(st, Options{Flows: f.infos, Now: func() time.Time { return now }, Title: "authwatch demo"}))
	defer srv.Close()
	p := newBrowserPage(t, srv.URL)

	names := make([]string, 0, len(chartRuns))
	for name := range chartRuns {
		names = append(names, name)
	}
	slices.Sort(names)
	charts, hourly := 0, 0
	for _, width := range []int{1280, 1024, 800, 600, 390} {
		for _, name := range names {
			p.open(width, "/flows/"+name, `#chart-latency[data-x-axis]`)
			offs := chartRuns[name]
			first, last := float64(chartBase.Add(-offs[0]).Unix()), float64(chartBase.Unix())
			_, body := get(t, srv.Config.Handler, "/api/v1/flows/"+name)
			var wantPts latencyPoints
			firstLatency := first
			for _, pt := range decode[FlowDetailJSON](t, body).Trends.Latency {
				if pt.Hour {
					wantPts.Hours++
					firstLatency = min(firstLatency, float64(pt.Time.Unix())) // an hour's point is at its start
				} else {
					wantPts.Runs++
				}
			}
			hourly += wantPts.Hours
			if got := evalJSON[latencyPoints](p, `JSON.parse(document.getElementById('chart-latency').dataset.points)`); got != wantPts {
				t.Errorf("%s at %d px: the chart draws %+v points, the API has %+v", name, width, got, wantPts)
			}
			for _, id := range []string{"chart-latency", "chart-token"} {
				if !evalJSON[bool](p, `!!document.querySelector('#`+id+`[data-x-axis]')`) {
					continue
				}
				charts++
				where := fmt.Sprintf("%s %s at %d px", name, id, width)
				from := first
				if id == "chart-latency" {
					from = firstLatency
				}
				checkTimeAxis(t, where, evalJSON[timeAxis](p, fmt.Sprintf(measuredAxis, id)), from, last)
			}
		}
	}
	if want := 5 * (len(chartRuns) + 4); charts < want { // every flow's latency, and the four with a token
		t.Errorf("checked %d charts, want at least %d", charts, want)
	}
	if hourly == 0 {
		t.Errorf("no chart drew an hour from the roll-ups")
	}
}

// latencyPoints counts a latency chart's points: runs, and hours from the
// roll-ups.
type latencyPoints struct{ Runs, Hours int }

func checkTimeAxis(t *testing.T, where string, a timeAxis, first, last float64) {
	t.Helper()
	const minGap = 2.0 // px between two labels
	if len(a.Ticks) == 0 {
		t.Errorf("%s: no time label", where)
		return
	}
	if a.Min > first || a.Max < last {
		t.Errorf("%s: axis %s to %s leaves out data from %s to %s", where, unix(a.Min), unix(a.Max), unix(first), unix(last))
	}
	// One point, or several: the axis spans the data plus at most an hour on each side.
	if a.Min < first-3600 || a.Max > last+3600 {
		t.Errorf("%s: axis %s to %s, for data from %s to %s", where, unix(a.Min), unix(a.Max), unix(first), unix(last))
	}
	if first == last && a.Max-a.Min < 1800 {
		t.Errorf("%s: one point on an axis of %v s", where, a.Max-a.Min)
	}
	// Each row of text (the time, then the date) left to right: no two
	// labels overlap, and none is centred outside the plot.
	rows := map[int][][2]float64{}
	for _, tk := range a.Ticks {
		if tk.T < a.Min || tk.T > a.Max || tk.X < -0.5 || tk.X > a.Width+0.5 {
			t.Errorf("%s: label %q at %s (x %.1f) outside the axis %s to %s (width %.0f)", where, tk.Label, unix(tk.T), tk.X, unix(a.Min), unix(a.Max), a.Width)
		}
		for i, w := range tk.Widths {
			rows[i] = append(rows[i], [2]float64{tk.X - w/2, tk.X + w/2})
		}
	}
	for row, boxes := range rows {
		for i := 1; i < len(boxes); i++ {
			if boxes[i][0] < boxes[i-1][1]+minGap {
				t.Errorf("%s: time labels overlap on line %d: %v then %v (labels %q)", where, row+1, boxes[i-1], boxes[i], labels(a))
			}
		}
	}
}

func labels(a timeAxis) []string {
	var out []string
	for _, tk := range a.Ticks {
		out = append(out, tk.Label)
	}
	return out
}

func unix(s float64) string { return time.Unix(int64(s), 0).UTC().Format(time.RFC3339) }

// The overview's figures say what they are ("24 H 0.0 %" said nothing of
// a pass rate), and each label fits its box without touching the next
// figure, at every page width.
func TestBrowserOverviewFiguresSayWhatTheyAre(t *testing.T) {
	f := getFixture(t)
	st := chartStore(t, f)
	now := chartBase.Add(30 * time.Second)
	srv := httptest.NewServer(New(st, Options{Flows: f.infos, Now: func() time.Time { return now }}))
	defer srv.Close()
	p := newBrowserPage(t, srv.URL)
	type figure struct {
		Flow, Field, Label, Value      string
		Left, Right, Top, Bottom       float64
		LabelOverflows, ValueOverflows bool
		LabelLines                     int
	}
	const figures = `[...document.querySelectorAll('li.flow .figs > div')].map(d => {
  const r = d.getBoundingClientRect(), dt = d.querySelector('dt'), dd = d.querySelector('dd');
  return {flow: d.closest('li.flow').dataset.flow, field: (dd.querySelector('[data-f]') || dd).dataset.f || dd.dataset.f,
    label: dt.textContent, value: dd.textContent.trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom,
    labelOverflows: dt.scrollWidth > dt.clientWidth + 1 || dt.getBoundingClientRect().right > r.right + 1,
    valueOverflows: dd.getBoundingClientRect().right > r.right + 1,
    labelLines: (range => { range.selectNodeContents(dt); return new Set([...range.getClientRects()].map(q => Math.round(q.top))).size; })(document.createRange())};
})`
	for _, width := range []int{1280, 800, 390} {
		p.open(width, "/", `li.flow`)
		figs := evalJSON[[]figure](p, figures)
		rates := 0
		for i, fig := range figs {
			where := fmt.Sprintf("%s's %s at %d px", fig.Flow, fig.Field, width)
			switch fig.Field {
			case "pass24", "pass7":
				rates++
				if want := map[string]string{"pass24": "pass rate 24 h", "pass7": "pass rate 7 d"}[fig.Field]; fig.Label != want {
					t.Errorf("%s: labelled %q, want %q", where, fig.Label, want)
				}
			}
			if fig.LabelLines != 1 {
				t.Errorf("%s: label %q takes %d lines", where, fig.Label, fig.LabelLines)
			}
			if fig.LabelOverflows || fig.ValueOverflows {
				t.Errorf("%s: label %q or value %q overflows its box", where, fig.Label, fig.Value)
			}
			if i > 0 && figs[i-1].Flow == fig.Flow {
				prev := figs[i-1]
				if prev.Right > fig.Left+0.5 && prev.Left < fig.Right-0.5 && prev.Bottom > fig.Top+0.5 && prev.Top < fig.Bottom-0.5 {
					t.Errorf("%s overlaps %s: %+v and %+v", where, prev.Field, prev, fig)
				}
			}
		}
		if rates != 2*len(f.flows) {
			t.Errorf("at %d px: %d pass rates on the overview, want two for each of %d flows", width, rates, len(f.flows))
		}
	}
}

// The Incidents page explains every failing flow without an open incident
// (the demo's page said "No open incident" while six flows failed): how
// many failures in a row, and, when the page knows the policy, after how
// many an incident opens. A flow leaves the list when its incident opens,
// without a reload.
func TestBrowserIncidentsExplainFailingFlowsWithoutIncident(t *testing.T) {
	f := getFixture(t)
	st, rc := f.newStore(t, 0, 0) // one real run of each flow: one failure in a row
	var failing []string
	for name, want := range demoWant {
		if want != "" && !strings.HasPrefix(want, "warn:") {
			failing = append(failing, name)
		}
	}
	slices.Sort(failing)
	type row struct{ Flow, Reason, Why string }
	const rows = `[...document.querySelectorAll('#unopened tbody tr')].map(tr => ({flow: tr.dataset.flow, reason: tr.querySelector('code').textContent, why: tr.querySelector('.why-none').textContent}))`
	for _, withPolicy := range []bool{false, true} {
		t.Run(fmt.Sprintf("policy known %v", withPolicy), func(t *testing.T) {
			opts := Options{Flows: f.infos, RefreshInterval: 300 * time.Millisecond}
			wantWhy := "1 failure in a row; the alert policy (open_after, open_window) decides when an incident opens"
			if withPolicy {
				opts.IncidentPolicy = func(string) incident.Policy { return incident.DefaultPolicy() }
				wantWhy = "1 failure in a row; an incident opens after 2 (open_after)"
			}
			srv := httptest.NewServer(New(st, opts))
			t.Cleanup(srv.Close) // after the browser's cleanup: no refresh fails
			p := newBrowserPage(t, srv.URL)
			p.open(1280, "/incidents", `#unopened`)
			if got, want := evalJSON[string](p, `document.querySelector('#unopened h2').textContent`),
				fmt.Sprintf("Failing without an incident (%d)", len(failing)); got != want {
				t.Errorf("policy known %v: the page says %q, want %q", withPolicy, got, want)
			}
			got := evalJSON[[]row](p, rows)
			if len(got) != len(failing) {
				t.Errorf("policy known %v: %d failing flows explained, want %d (%v): %+v", withPolicy, len(got), len(failing), failing, got)
			}
			for i, r := range got {
				if i < len(failing) && r.Flow != failing[i] {
					t.Errorf("row %d is %s, want %s", i, r.Flow, failing[i])
				}
				if r.Reason != demoWant[r.Flow] || r.Why != wantWhy {
					t.Errorf("policy known %v: %s explained as %q %q, want %q %q", withPolicy, r.Flow, r.Reason, r.Why, demoWant[r.Flow], wantWhy)
				}
			}
			p.open(390, "/incidents", `#unopened`)
			if !evalJSON[bool](p, `document.documentElement.scrollWidth <= window.innerWidth + 1`) {
				t.Errorf("policy known %v: /incidents on a phone scrolls sideways", withPolicy)
			}
			if withPolicy {
				// A second failure opens create-order's incident: the page
				// moves it from the list to the open incidents by itself.
				res := f.results["create-order"]
				rc.record(t, shifted(res, res.Start.Add(time.Minute), 1))
				p.do("the incident opens", chromedp.Poll[chromedp.Void](
					`document.querySelector('#open .incident.open a[href="/flows/create-order"]') !== null && !document.querySelector('#unopened tr[data-flow="create-order"]')`,
					chromedp.WithPollingTimeout(10*time.Second)))
				if n := evalJSON[int](p, `document.querySelectorAll('#unopened tbody tr').length`); n != len(failing)-1 {
					t.Errorf("after create-order's incident opened, %d flows are listed without one, want %d", n, len(failing)-1)
				}
			}
		})
	}
}

// navTiming is the browser's navigation timing of the page shown: from
// the navigation's start to the load event, and the server's part (to the
// response's last byte), in ms.
type navTiming struct {
	Load, Response float64
	URL            string
}

const navTimingJS = `(e => ({load: e.loadEventEnd - e.startTime, response: e.responseEnd - e.startTime, url: location.pathname + location.search}))(performance.getEntriesByType('navigation')[0])`

// TestBrowserOverviewAt10k loads the overview of 10,000 flows in
// Chromium, follows its pager and a state filter, opens a flow, and logs
// the timings (navigation to load; p50 and p95 over 20 loads of the
// overview). It asserts what the pages show, never how fast:
// BenchmarkOverview10k and docs/benchmarks.md report the figures.
func TestBrowserOverviewAt10k(t *testing.T) {
	st, infos := bigStore(t, 10000, 3)
	srv := httptest.NewServer(New(st, Options{Flows: func() []FlowInfo { return infos }}))
	defer srv.Close()
	p := newBrowserPage(t, srv.URL)
	timing := func(what string) navTiming {
		// The load event has ended when loadEventEnd is set.
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`performance.getEntriesByType('navigation')[0].loadEventEnd > 0`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("%s: waiting for the load event: %v", what, err)
		}
		nt := evalJSON[navTiming](p, navTimingJS)
		t.Logf("%s (%s): %.0f ms to load, %.0f ms to the response's end", what, nt.URL, nt.Load, nt.Response)
		return nt
	}

	var loads, responses []float64
	for range 20 {
		p.open(1280, "/", `li.flow`)
		nt := evalJSON[navTiming](p, navTimingJS)
		loads, responses = append(loads, nt.Load), append(responses, nt.Response)
	}
	for _, m := range []struct {
		what string
		ms   []float64
	}{{"to load", loads}, {"to the response's end", responses}} {
		slices.Sort(m.ms)
		t.Logf("overview at 10,000 flows, %d loads, %s: p50 %.0f ms, p95 %.0f ms, max %.0f ms", len(m.ms), m.what,
			m.ms[len(m.ms)/2], m.ms[len(m.ms)*95/100-1], m.ms[len(m.ms)-1])
	}
	if n := evalJSON[int](p, `document.querySelectorAll('li.flow').length`); n != defaultFlowsLimit {
		t.Errorf("the overview shows %d flows, want %d", n, defaultFlowsLimit)
	}

	p.do("next page", chromedp.Click(`a[rel="next"]`, chromedp.NodeVisible), chromedp.WaitVisible(`a[rel="prev"]`))
	timing("Next 100")
	if r := evalJSON[string](p, `document.querySelector('.pager .range').textContent`); r != "101–200 of 10000" {
		t.Errorf("the second page says %q", r)
	}

	p.do("failing only", chromedp.Click(`a[data-state-filter="failing"]`, chromedp.NodeVisible),
		chromedp.WaitVisible(`a[data-state-filter="failing"][aria-current]`))
	timing("state filter failing")
	states := evalJSON[[]string](p, `[...document.querySelectorAll('li.flow')].map(li => li.dataset.state)`)
	want := 0
	for i := range 10000 {
		if scaleFlowAt(i).state == StateFailing {
			want++
		}
	}
	if len(states) != min(want, defaultFlowsLimit) || slices.ContainsFunc(states, func(s string) bool { return s != StateFailing }) {
		t.Errorf("state filter failing: %d rows (%v…), want %d failing", len(states), states[:min(3, len(states))], min(want, defaultFlowsLimit))
	}
	if r := evalJSON[string](p, `document.querySelector('.pager .range').textContent`); r != fmt.Sprintf("1–100 of %d", want) {
		t.Errorf("state filter failing: the pager says %q, want 1–100 of %d", r, want)
	}

	p.do("open a flow", chromedp.Click(`li.flow a.name`, chromedp.NodeVisible), chromedp.WaitVisible(`#flow-head`))
	timing("flow page")
}
