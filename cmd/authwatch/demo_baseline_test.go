package main

// The demo's drifting flow: its IdP shortens the drift client's tokens
// after a while (a minute in `authwatch demo`; here when the test moves the
// IdP's clock, right after the baseline learned), and the demo's loop warns
// baseline_changed, on its output and on its status page.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/statuspage"
)

// driftFlow is the demo flow whose IdP shortens its tokens.
const driftFlow = "orders-token-lifetime-drift"

// handClock is a clock the test moves by hand.
type handClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *handClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *handClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestDemoTokenLifetimeDriftWarnsBaselineChanged(t *testing.T) {
	t.Parallel()
	clock := &handClock{now: time.Now()}
	env, err := demo.StartWith(t.Context(), demo.Options{IdP: idp.Options{DriftClientShortensAfter: time.Minute, Now: clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: demo.LookupEnv}}, demo.FlowsFile, env.Flows())
	if err != nil {
		t.Fatal(err)
	}
	var drift *flows.Flow
	for _, f := range set.Flows {
		if f.Name == driftFlow {
			drift = f
		}
	}
	if drift == nil {
		t.Fatalf("no flow %s in the demo", driftFlow)
	}
	// Its every: 15s is for people watching the demo; the test's loop goes
	// round as fast as the runs allow.
	drift.Every = conf.Dur(50 * time.Millisecond)
	runner := flows.NewRunner()
	runner.Secrets.LookupEnv = demo.LookupEnv
	page, err := startDemoStatusPage(t.Context(), set.Flows, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- demoLoop(ctx, runner, []*flows.Flow{drift}, outputOptions{json: true, color: "never"}, false, page.record, &stdout, &stderr)
	}()
	baselineOf := func() (b statuspage.BaselineJSON, found bool) {
		found = pageJSON(t, page.URL+"api/v1/flows/"+driftFlow+"/baseline", &b)
		return b, found
	}
	rnWaitFor(t, 60*time.Second, "the baseline learned", func() bool { b, ok := baselineOf(); return ok && !b.Learning })
	clock.Advance(time.Minute)
	switched := time.Now()
	rnWaitFor(t, 60*time.Second, "a change in the baseline", func() bool { b, _ := baselineOf(); return len(b.Changed) > 0 })
	var runs statuspage.RunsJSON
	rnWaitFor(t, 60*time.Second, "a run recorded after the change", func() bool {
		pageJSON(t, page.URL+"api/v1/flows/"+driftFlow+"/runs?limit=100", &runs)
		return len(runs.Runs) > 0 && runs.Runs[0].Warnings > 0
	})
	stop()
	if code := <-done; code != exitOK {
		t.Errorf("demo loop exit %d; stderr:\n%s", code, stderr.String())
	}

	b, _ := baselineOf()
	if len(b.Changed) != 1 {
		t.Fatalf("%d changes, want one (the lifetime): %+v", len(b.Changed), b.Changed)
	}
	if c := b.Changed[0]; c.Key != "token.access_token.lifetime" || c.Step != "token" || c.Before != "300 s" || c.After != "120 s" ||
		c.Phrase != "access token lifetime 300 s → 120 s" {
		t.Errorf("change %+v, want the token step's access token lifetime 300 s → 120 s", c)
	}

	// The last run passed with one warning, baseline_changed, on its token
	// step; the runs before the switch had none.
	last := runs.Runs[0]
	if !last.OK || last.Warnings != 1 {
		t.Fatalf("last run ok=%v with %d warnings, want a pass with one", last.OK, last.Warnings)
	}
	var warned []string
	for _, s := range last.Steps {
		for _, f := range s.Findings {
			if f.Warning {
				warned = append(warned, s.Step+": "+string(f.Reason)+": "+f.Summary)
			}
		}
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], "token: baseline_changed: token: access token lifetime 300 s → 120 s since ") {
		t.Errorf("last run's warnings %q, want one baseline_changed naming 300 s → 120 s", warned)
	}
	for _, r := range runs.Runs {
		if r.Warnings > 0 && r.Start.Add(time.Duration(r.DurationMS*float64(time.Millisecond))).Before(switched) {
			t.Errorf("run %d (started %s) warned before the IdP's switch at %s", r.ID, r.Start, switched)
		}
	}

	// The flow's page shows the change.
	html := pageText(t, page.URL+"flows/"+driftFlow)
	for _, want := range []string{`id="baseline-changed"`, "access token lifetime 300 s → 120 s", "<td>300 s</td><td>120 s</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("the flow page lacks %q", want)
		}
	}

	// The loop's own output: every warned run names the change.
	warnedLines := 0
	for _, l := range jsonLines(t, stdout.String()) {
		if l["type"] == "flow" && l["status"] == "warn" {
			warnedLines++
			if l["reason"] != "baseline_changed" {
				t.Errorf("warned flow line with reason %v, want baseline_changed", l["reason"])
			}
		}
	}
	if warnedLines == 0 {
		t.Errorf("no warned flow line on the demo's output:\n%s", stdout.String())
	}
	assertNoSecrets(t, "demo stdout", stdout.String(), demoSecrets())
}

// pageJSON decodes u's JSON into v; false on 404.
func pageJSON(t *testing.T, u string, v any) bool {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return true
}

func pageText(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", u, resp.Status, err)
	}
	return string(b)
}
