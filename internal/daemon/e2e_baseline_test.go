package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
	"github.com/authwatch/authwatch/notify"
)

// TestE2EBaselineChangedPagesOnceAndAcceptSilences: a flow learns its
// baseline from 3 passing runs; then its API drops Cache-Control: no-store.
// The runs keep passing, each warned baseline_changed with before and
// after; the warning incident opens once (one webhook Opened, severity
// warning) however many runs show the change; an accept recorded in the
// store beside the running daemon (what `authwatch baseline accept` does)
// makes the next run clean, and the incident resolves. The baseline and
// its accept, with who, are in the store.
func TestE2EBaselineChangedPagesOnceAndAcceptSilences(t *testing.T) {
	t.Parallel()
	var cacheControl atomic.Value
	cacheControl.Store("no-store")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", cacheControl.Load().(string))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(api.Close)
	hook := pgNewHook(t)
	const flow = "drift"
	d := pgStartInProcess(t, fmt.Sprintf(`notifiers:
  hook: {kind: webhook, url: %s/hook, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
`, hook.URL), map[string]string{"drift.yaml": fmt.Sprintf(`name: %s
every: 1s
timeout: 10s
labels: {severity: ticket}
baseline: {learn: 3, latency: false}
steps:
  - id: call
    kind: http
    url: %q
    expect: {status: 200}
`, flow, api.URL)})

	db := d.m.db.(store.Baselines)
	learned := func() *baseline.Baseline {
		rec, found, err := db.LoadBaseline(context.Background(), flow)
		if err != nil || !found {
			return nil
		}
		var b baseline.Baseline
		if err := json.Unmarshal(rec.Data, &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	e2eWaitFor(t, 60*time.Second, "the baseline learned", func() bool { b := learned(); return b != nil && !b.Learning() })
	if n := len(hook.Deliveries(t, flow)); n != 0 {
		t.Fatalf("%d deliveries while learning and passing", n)
	}

	cacheControl.Store("public, max-age=600")
	warned := func() []store.Run {
		var out []store.Run
		for _, r := range d.runs(flow) {
			if r.Warnings > 0 {
				out = append(out, r)
			}
		}
		return out
	}
	e2eWaitFor(t, 60*time.Second, "three warned runs", func() bool { return len(warned()) >= 3 })
	steps := string(warned()[0].Steps)
	for _, want := range []string{`"reason":"baseline_changed"`, "Cache-Control no-store → public, max-age=600 since",
		`"name":"call.header.GET ` + strings.TrimPrefix(api.URL, "http://") + `/.cache-control.before","value":"no-store"`} {
		if !strings.Contains(steps, want) {
			t.Errorf("the warned run's steps lack %s:\n%s", want, steps)
		}
	}
	// The stored baseline follows within a flush (baselineFlushEvery).
	var code int
	var body string
	e2eWaitFor(t, 30*time.Second, "the drift in the stored baseline", func() bool {
		code, body = d.get("/api/v1/flows/" + flow + "/baseline")
		return code == 200 && strings.Contains(body, `"before": "no-store"`) && strings.Contains(body, `"after": "public, max-age=600"`)
	})
	if code, page := d.get("/flows/" + flow); code != 200 || !strings.Contains(page, `id="baseline-changed"`) {
		t.Errorf("the daemon's flow page shows no change: %d", code)
	}
	e2eWaitFor(t, 30*time.Second, "the warning's Opened", func() bool { return len(hook.Deliveries(t, flow)) >= 1 })
	opened := hook.Deliveries(t, flow)[0].Event
	if opened.Type != notify.Opened || opened.Severity != notify.SeverityWarning || opened.Reason != "baseline_changed" ||
		!strings.Contains(opened.Summary, "no-store → public, max-age=600") {
		t.Errorf("delivery %s %s %s %q; want an Opened warning baseline_changed naming before and after", opened.Type, opened.Severity, opened.Reason, opened.Summary)
	}

	// Accept beside the running daemon, as the CLI does.
	cli, err := sqlite.OpenWith(filepath.Join(d.stateDir, "authwatch.db"), sqlite.Options{Check: sqlite.CheckNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AcceptBaseline(context.Background(), store.BaselineAccept{Flow: flow, By: "alice", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	e2eWaitFor(t, 60*time.Second, "the warning's Resolved", func() bool {
		ds := hook.Deliveries(t, flow)
		return len(ds) >= 2 && ds[len(ds)-1].Event.Type == notify.Resolved
	})
	unique, _ := pgDedupe(hook.Deliveries(t, flow))
	if types := pgTypes(unique); len(types) != 2 || types[0] != notify.Opened || types[1] != notify.Resolved {
		t.Errorf("deliveries %v; want one Opened and one Resolved", types)
	}
	e2eWaitFor(t, 30*time.Second, "the accept in the stored baseline", func() bool {
		b := learned()
		return b != nil && len(b.Accepts) == 1 && b.Accepts[0].By == "alice" && len(b.Drifts) == 0
	})
	if runs := d.runs(flow); runs[0].Warnings != 0 {
		t.Errorf("the latest run after the accept is warned: %s", runs[0].Steps)
	}
}
