package statuspage

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// get serves one request and returns the response with its body read.
func get(t *testing.T, h http.Handler, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	return v
}

// shared is a store with a day of history, built once for the read-only tests.
var shared struct {
	once sync.Once
	dir  string
	st   *sqlite.Store
}

func sharedHandler(t *testing.T) (http.Handler, *fixture) {
	t.Helper()
	f := getFixture(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "statuspage-test-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		shared.st, _ = f.buildStore(t, dir, 2*time.Hour, 30*time.Hour)
	})
	if shared.st == nil {
		t.Fatal("the shared store could not be built")
	}
	return New(shared.st, Options{Flows: f.infos}), f
}

var routes = []string{"/", "/incidents", "/flows/create-order", "/api/v1/flows", "/api/v1/flows/create-order",
	"/api/v1/flows/create-order/runs", "/api/v1/incidents", "/assets/app.js", "/assets/app.css",
	"/assets/vendor/uplot/uPlot.iife.min.js", "/assets/vendor/uplot/uPlot.min.css"}

func TestEveryRouteServesWithSecurityHeaders(t *testing.T) {
	h, f := sharedHandler(t)
	for _, path := range routes {
		resp, body := get(t, h, path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, body)
			continue
		}
		checkSecurityHeaders(t, path, resp)
		wantType := map[bool]string{true: "application/json", false: "text/html"}[strings.HasPrefix(path, "/api/")]
		switch {
		case strings.HasSuffix(path, ".js"):
			wantType = "text/javascript"
		case strings.HasSuffix(path, ".css"):
			wantType = "text/css"
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, ct, wantType)
		}
		if !strings.HasPrefix(path, "/assets/") {
			// The pages of flows are revalidated with their ETag; the
			// rest is never stored.
			wantCC := "no-store"
			if path == "/" || path == "/api/v1/flows" {
				wantCC = "private, no-cache"
				if resp.Header.Get("ETag") == "" {
					t.Errorf("GET %s: no ETag", path)
				}
			}
			if cc := resp.Header.Get("Cache-Control"); cc != wantCC {
				t.Errorf("GET %s: Cache-Control %q, want %s", path, cc, wantCC)
			}
			assertNoSecrets(t, path, body, f.secrets())
		}
	}
}

func checkSecurityHeaders(t *testing.T, path string, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("%s: CSP allows something unsafe: %q", path, csp)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %s %q, want %q", path, h, got, want)
		}
	}
}

func TestPagesHaveNoInlineScriptOrStyle(t *testing.T) {
	h, _ := sharedHandler(t)
	for _, path := range []string{"/", "/incidents", "/flows/create-order", "/flows/orders-api", "/nope"} {
		_, body := get(t, h, path)
		// No resource from elsewhere (evidence may quote URLs as text, e.g.
		// the User-Agent "authwatch/dev (+https://github.com/...)").
		for _, bad := range []string{"<script>", "style=", "<style", "onclick", "onload=", "javascript:", "//cdn", `src="http`, `href="http`, "url(http"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		if !strings.Contains(body, `<script src="/assets/app.js?v=`) {
			t.Errorf("%s does not load /assets/app.js", path)
		}
	}
}

func TestAPIFlows(t *testing.T) {
	h, _ := sharedHandler(t)
	resp, body := get(t, h, "/api/v1/flows")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := decode[FlowsJSON](t, body)
	if len(got.Flows) != len(demoWant) {
		t.Fatalf("%d flows, want %d", len(got.Flows), len(demoWant))
	}
	wantCounts := map[string]int{StateFailing: 6, StateWarning: 1, StatePassing: 6, StatePaused: 0, StateUnknown: 0}
	for k, v := range wantCounts {
		if got.Counts[k] != v {
			t.Errorf("counts[%s] = %d, want %d (%v)", k, got.Counts[k], v, got.Counts)
		}
	}
	for i, f := range got.Flows {
		want := demoWant[f.Name]
		switch {
		case want == "":
			if f.State != StatePassing || f.Reason != "" {
				t.Errorf("%s: state %s reason %q, want passing", f.Name, f.State, f.Reason)
			}
		case strings.HasPrefix(want, "warn:"):
			if f.State != StateWarning || f.Reason != strings.TrimPrefix(want, "warn:") || f.Summary == "" || f.Warnings != 1 {
				t.Errorf("%s: state %s reason %q summary %q warnings %d, want warning %s", f.Name, f.State, f.Reason, f.Summary, f.Warnings, want)
			}
		default:
			if f.State != StateFailing || f.Reason != want || f.Summary == "" || f.FailedStep == "" || f.Layer == "" {
				t.Errorf("%s: %+v, want failing with %s, a summary, step and layer", f.Name, f, want)
			}
			if f.Incident == nil || f.Incident.Kind != "failure" || !strings.HasPrefix(f.Incident.Key, "authwatch/"+f.Name+"/") {
				t.Errorf("%s: incident %+v, want an open failure incident", f.Name, f.Incident)
			}
		}
		if i > 0 && stateOrder[f.State] < stateOrder[got.Flows[i-1].State] {
			t.Errorf("flows not ordered by urgency: %s (%s) after %s", f.Name, f.State, got.Flows[i-1].State)
		}
		// 30 h of history every 2 h: 15 copies plus the real run, 12 of them in 24 h.
		if f.Runs != 16 || f.Runs7d != 16 || f.Runs24h != 12 {
			t.Errorf("%s: runs %d, 7d %d, 24h %d; want 16, 16, 12", f.Name, f.Runs, f.Runs7d, f.Runs24h)
		}
		wantRate := 1.0
		if want != "" && !strings.HasPrefix(want, "warn:") {
			wantRate = 0
		}
		if f.PassRate24h == nil || *f.PassRate24h != wantRate || f.PassRate7d == nil || *f.PassRate7d != wantRate {
			t.Errorf("%s: pass rates %v %v, want %v", f.Name, f.PassRate24h, f.PassRate7d, wantRate)
		}
		if len(f.LatencyMS) != 16 || f.LastDurationMS == nil || f.LastRun.IsZero() || f.LastRunID == 0 || f.Schedule != "every 15s" && f.Schedule != "every 30s" && f.Schedule != "every 1m" {
			t.Errorf("%s: latency %v last %v at %v id %d schedule %q", f.Name, f.LatencyMS, f.LastDurationMS, f.LastRun, f.LastRunID, f.Schedule)
		}
		if f.Labels["team"] == "" {
			t.Errorf("%s: labels %v", f.Name, f.Labels)
		}
	}

	// Raw shape: the documented field names.
	var raw struct {
		Flows []map[string]any `json:"flows"`
	}
	_ = json.Unmarshal([]byte(body), &raw)
	for _, k := range []string{"name", "state", "labels", "schedule", "reason", "layer", "summary", "failed_step", "since", "last_run",
		"last_run_id", "last_duration_ms", "consecutive_passes", "consecutive_failures", "runs", "pass_rate_24h", "pass_rate_7d",
		"runs_24h", "runs_7d", "latency_ms", "incident"} {
		if _, ok := raw.Flows[0][k]; !ok {
			t.Errorf("flows[0] has no %q: %v", k, raw.Flows[0])
		}
	}

	_, body = get(t, h, "/api/v1/flows?label=team=billing")
	if got := decode[FlowsJSON](t, body); len(got.Flows) != 1 || got.Flows[0].Name != "billing-token-on-orders" {
		t.Errorf("label filter team=billing: %+v", got.Flows)
	}
}

func TestOverviewGroupsAndFilters(t *testing.T) {
	h, _ := sharedHandler(t)
	_, body := get(t, h, "/?group=team")
	for _, want := range []string{"<h2>team: billing", "<h2>team: orders", "<h2>team: platform", `<option value="team" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("grouped by team: no %q", want)
		}
	}
	if i, j := strings.Index(body, "team: billing"), strings.Index(body, "team: platform"); i > j {
		t.Error("groups are not in order")
	}
	_, body = get(t, h, "/?label=team%3Dbilling")
	if n := strings.Count(body, `<li class="flow"`); n != 1 || !strings.Contains(body, `data-flow="billing-token-on-orders"`) ||
		!strings.Contains(body, `<option value="team=billing" selected>`) {
		t.Errorf("filtered by team=billing: %d flows", n)
	}
	_, body = get(t, h, "/?group=no-such-label&label=team%3Dnobody")
	if strings.Count(body, `<li class="flow"`) != 0 || !strings.Contains(body, "No flows with the label team=nobody") {
		t.Error("a filter that matches nothing")
	}
}

func TestAPIFlowDetail(t *testing.T) {
	h, _ := sharedHandler(t)
	_, body := get(t, h, "/api/v1/flows/create-order")
	d := decode[FlowDetailJSON](t, body)
	if d.Flow.Name != "create-order" || d.Flow.Reason != "insufficient_scope" {
		t.Errorf("flow %+v", d.Flow)
	}
	if len(d.Incidents) != 1 || !d.Incidents[0].Open || d.Incidents[0].Kind != "failure" || d.Incidents[0].Reason != "insufficient_scope" ||
		d.Incidents[0].Notification != "notified" || d.Incidents[0].OpenedAt.IsZero() {
		t.Errorf("incidents %+v", d.Incidents)
	}
	// It failed from the first run of the window; the incident opened on
	// the second failure (the default policy's open_after: 2).
	if len(d.Timeline) != 2 || d.Timeline[1].Kind != "failing" || d.Timeline[1].Reason != "insufficient_scope" || d.Timeline[1].RunID == 0 ||
		d.Timeline[0].Kind != "incident_opened" || d.Timeline[0].Incident != d.Incidents[0].Key ||
		d.Timeline[0].Time.Sub(d.Timeline[1].Time) != 2*time.Hour {
		t.Errorf("timeline %+v", d.Timeline)
	}
	if len(d.Trends.Latency) != 16 {
		t.Errorf("%d latency points, want 16", len(d.Trends.Latency))
	}
	for _, p := range d.Trends.Latency {
		if p.OK || p.MS <= 0 {
			t.Errorf("latency point %+v of a failing flow", p)
		}
	}

	// The token lifetime of a failed token check comes from its evidence.
	_, body = get(t, h, "/api/v1/flows/legacy-client-token")
	d = decode[FlowDetailJSON](t, body)
	var lifetime *TrendSeries
	for i, s := range d.Trends.Measurements {
		if s.Name == flows.MeasureTokenLifetime {
			lifetime = &d.Trends.Measurements[i]
		}
	}
	if lifetime == nil || len(lifetime.Points) == 0 || lifetime.Points[len(lifetime.Points)-1].Value > 0 || lifetime.Scope != "token" {
		t.Errorf("legacy-client-token measurements %+v, want a negative token lifetime (it arrives expired)", d.Trends.Measurements)
	}
}

func TestAPIRuns(t *testing.T) {
	h, f := sharedHandler(t)
	_, body := get(t, h, "/api/v1/flows/create-order/runs?limit=3")
	got := decode[RunsJSON](t, body)
	if got.Flow != "create-order" || len(got.Runs) != 3 {
		t.Fatalf("%d runs of %q, want 3", len(got.Runs), got.Flow)
	}
	newest := got.Runs[0]
	if !newest.Start.Equal(f.results["create-order"].Start) || newest.OK || newest.Reason != "insufficient_scope" ||
		newest.FailedStep != "create" || newest.NextStep == "" || newest.Summary == "" {
		t.Errorf("newest run %+v", newest)
	}
	if !got.Runs[1].Start.Before(newest.Start) {
		t.Error("runs not newest first")
	}
	if len(newest.Steps) != 2 || newest.Steps[0].Step != "token" || newest.Steps[1].Step != "create" ||
		newest.Steps[1].Type != "step" || newest.Steps[1].Evidence == nil || len(newest.Steps[1].Evidence.Exchanges) == 0 {
		t.Fatalf("steps %+v", newest.Steps)
	}
	ex := newest.Steps[1].Evidence.Exchanges[0]
	if ex.Method != http.MethodPost || ex.Status != http.StatusForbidden || ex.RequestBody != "" {
		t.Errorf("exchange %+v", ex)
	}
	// The POST's body ({"item": "widget", ...}) is never served.
	if strings.Contains(body, "widget") || strings.Contains(body, "request_body") {
		t.Errorf("a request body is served:\n%s", body)
	}
	var raw struct {
		Runs []struct {
			Steps []map[string]any `json:"steps"`
		} `json:"runs"`
	}
	_ = json.Unmarshal([]byte(body), &raw)
	for _, k := range []string{"type", "flow", "step", "kind", "ok", "status", "reason", "layer", "summary", "next_step", "http_status", "duration_ms", "evidence"} {
		if _, ok := raw.Runs[0].Steps[1][k]; !ok {
			t.Errorf("step has no %q: %v", k, raw.Runs[0].Steps[1])
		}
	}

	_, body = get(t, h, "/api/v1/flows/create-order/runs")
	if n := len(decode[RunsJSON](t, body).Runs); n != 16 {
		t.Errorf("default limit: %d runs, want all 16", n)
	}
	for _, bad := range []string{"0", "-1", "1001", "x", "1.5"} {
		resp, body := get(t, h, "/api/v1/flows/create-order/runs?limit="+bad)
		if resp.StatusCode != http.StatusBadRequest || decode[errorJSON](t, body).Error == "" {
			t.Errorf("limit=%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

func TestAPIIncidents(t *testing.T) {
	h, _ := sharedHandler(t)
	_, body := get(t, h, "/api/v1/incidents")
	got := decode[IncidentsJSON](t, body)
	open := map[string]IncidentJSON{}
	for _, in := range got.Open {
		open[in.Flow+"/"+in.Kind] = in
	}
	for name, want := range demoWant {
		switch {
		case want == "":
			if _, ok := open[name+"/failure"]; ok {
				t.Errorf("%s passes but has an open incident", name)
			}
		case strings.HasPrefix(want, "warn:"):
			in, ok := open[name+"/warning"]
			if !ok || in.Reason != strings.TrimPrefix(want, "warn:") {
				t.Errorf("%s: warning incident %+v, want open with %s", name, in, want)
			}
		default:
			in, ok := open[name+"/failure"]
			if !ok || in.Reason != want || in.Summary == "" || in.Step == "" || in.OpenedAt.IsZero() || in.Notification != "notified" {
				t.Errorf("%s: incident %+v, want open with %s", name, in, want)
			}
		}
	}
	if len(got.Open) != 7 || len(got.Recent) != 0 {
		t.Errorf("%d open, %d recent; want 7, 0", len(got.Open), len(got.Recent))
	}
	for i := 1; i < len(got.Open); i++ {
		if got.Open[i].OpenedAt.After(got.Open[i-1].OpenedAt) {
			t.Error("open incidents not newest first")
		}
	}
	// The pager's notifications were delivered; the chat refused one and
	// the rest wait behind it.
	if len(got.Notifiers) != 1 || got.Notifiers[0].Name != notifierChat || got.Notifiers[0].Dead != 1 ||
		got.Notifiers[0].Pending == 0 || got.Notifiers[0].Status != "failing" {
		t.Errorf("notifiers %+v", got.Notifiers)
	}
}

func TestNotFound(t *testing.T) {
	h, _ := sharedHandler(t)
	for path, json := range map[string]bool{
		"/nope": false, "/flows/no-such-flow": false, "/flows/": false, "/assets/README.md": false, "/assets/": false,
		"/assets/vendor/uplot/README.md": false, "/assets/vendor/uplot/LICENSE": false, "/incidents/x": false,
		"/api/v1/nope": true, "/api/v1/flows/no-such-flow": true, "/api/v1/flows/no-such-flow/runs": true, "/api/v2/flows": true,
	} {
		resp, body := get(t, h, path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
			continue
		}
		checkSecurityHeaders(t, path, resp)
		if json {
			if decode[errorJSON](t, body).Error == "" {
				t.Errorf("GET %s: body %s", path, body)
			}
		}
	}
	if resp, _ := get(t, h, "/assets/../statuspage.go"); resp.StatusCode == http.StatusOK {
		t.Error("GET /assets/../statuspage.go: 200")
	}
	for _, path := range []string{"/api/v1/flows", "/", "/flows/create-order"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, rec.Code)
		}
	}
}

// hostileStore holds one run of a flow whose name, summary and evidence
// are markup, as a target could make them (a body, a header, a claim).
func hostileStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	st, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	name := `team/a <b>"x"</b> & y`
	const bad = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	steps := `[{"type":"step","flow":` + jsonString(name) + `,"step":"s","kind":"http","ok":false,"status":"fail","reason":"unexpected_status",` +
		`"summary":` + jsonString(bad) + `,"duration_ms":12,"evidence":{"facts":[{"name":"x","value":` + jsonString(bad) + `}],` +
		`"token":{"fingerprint":"sha256:ab","claims":{"sub":` + jsonString(bad) + `}},` +
		`"exchanges":[{"method":"GET","url":"https://h.example/?q=` + url.QueryEscape(bad) + `","status":500,` +
		`"request_body":"client_secret=hunter2-not-redacted","response_headers":{"X-Bad":[` + jsonString(bad) + `]},"body":` + jsonString(bad) + `}]}},` +
		`{"type":"flow","flow":` + jsonString(name) + `,"ok":false}]`
	_, err = st.RecordRun(context.Background(), store.Run{Flow: name, Start: time.Now().Add(-time.Minute), DurationMS: 12,
		Reason: "unexpected_status", Summary: bad, FailedStep: "s", Steps: json.RawMessage(steps)})
	if err != nil {
		t.Fatal(err)
	}
	return st, name
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestEverythingIsEscaped(t *testing.T) {
	st, name := hostileStore(t)
	h := New(st, Options{})
	for _, path := range []string{"/", "/flows/" + url.PathEscape(name), "/api/v1/flows/" + url.PathEscape(name) + "/runs"} {
		resp, body := get(t, h, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", `<b>"x"</b>`, "hunter2"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: unescaped %q", path, bad)
			}
		}
	}
	_, body := get(t, h, "/")
	if !strings.Contains(body, `href="/flows/team%2Fa%20%3Cb%3E%22x%22%3C%2Fb%3E%20&amp;%20y"`) {
		t.Errorf("the flow's link is not one escaped path segment:\n%s", body)
	}
	_, body = get(t, h, "/flows/"+url.PathEscape(name))
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile summary is not shown escaped")
	}
}

func TestFlowsFromTheStoreWithoutConfiguration(t *testing.T) {
	st, name := hostileStore(t)
	h := New(st, Options{}) // no Flows: every flow with a state
	_, body := get(t, h, "/api/v1/flows")
	got := decode[FlowsJSON](t, body)
	if len(got.Flows) != 1 || got.Flows[0].Name != name || got.Flows[0].State != StateFailing {
		t.Errorf("%+v", got.Flows)
	}
	// Configured flows without runs are unknown; paused ones paused.
	h = New(st, Options{Flows: func() []FlowInfo {
		return []FlowInfo{{Name: "new-flow", Schedule: "every 1m"}, {Name: name, Paused: true}}
	}})
	_, body = get(t, h, "/api/v1/flows")
	got = decode[FlowsJSON](t, body)
	if len(got.Flows) != 2 || got.Flows[0].State != StateUnknown || got.Flows[1].State != StatePaused || got.Flows[0].PassRate24h != nil {
		t.Errorf("%+v", got.Flows)
	}
	if resp, _ := get(t, h, "/flows/new-flow"); resp.StatusCode != 200 {
		t.Errorf("configured flow without runs: %d", resp.StatusCode)
	}
}

func TestStoreErrorsDoNotLeak(t *testing.T) {
	st, _ := hostileStore(t)
	st.Close() // every call fails now
	h := New(st, Options{})
	for _, path := range []string{"/", "/api/v1/flows", "/api/v1/incidents", "/incidents"} {
		resp, body := get(t, h, path)
		if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, "sql") || strings.Contains(body, "closed") {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
}
