package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/statuspage"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
	"github.com/authwatch/authwatch/notify"
)

// locationFlow is the flow of TestE2EClusterLocations: every second,
// against the target of the node's location.
func locationFlow(target string) string {
	return fmt.Sprintf(`name: login
every: 1s
timeout: 5s
locations: [eu-west, us-east]
steps:
  - id: call
    kind: http
    url: %q
    expect: {status: 200}
`, target+"/login")
}

// TestE2EClusterLocations: three real `authwatch run` processes on one
// PostgreSQL, two in eu-west and one in us-east, each location calling its
// own target (a port that can refuse connections), the pages going to a
// webhook receiver. eu-west's target refusing gives one
// location_disagreement warning naming both locations, and no page, over
// several runs of each location; both refusing gives exactly one page; both
// back resolves the page and the warning.
// proves: location_disagreement
func TestE2EClusterLocations(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "locations")
	targets := map[string]*pgHook{"eu-west": pgNewHook(t), "us-east": pgNewHook(t)}
	receiver := pgNewHook(t)
	bin := pgBuild(t, t.TempDir())
	nodes := map[string]*pgProc{}
	start := func(name, location string) {
		cfgBody := fmt.Sprintf(`store:
  postgres: {dsn: %q}
cluster: {enabled: true, location: %s}
notifiers:
  hook: {kind: webhook, url: %s/hook, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy:
  open_after: 2
  resolve_after: 1
`, dsn, location, receiver.URL)
		cfg, _ := pgSetup(t, t.TempDir(), cfgBody, map[string]string{"login.yaml": locationFlow(targets[location].URL)})
		nodes[name] = pgStartProc(t, bin, cfg, nil)
	}
	start("eu1", "eu-west")
	start("eu2", "eu-west")
	start("us1", "us-east")
	view, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = view.Close() })
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				for n, p := range nodes {
					t.Logf("node %s log:\n%s", n, p.out.String())
				}
				t.Fatalf("not within %s: %s", limit, what)
			}
			time.Sleep(100 * time.Millisecond) // polling real processes
		}
	}
	// runs counts the recorded runs of the flow per location.
	runs := func() map[string]int64 {
		states, err := view.LocationStates(context.Background(), "login")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, st := range states {
			out[st.Location] = st.Runs
		}
		return out
	}
	// moreRuns waits until each location recorded n runs more than now:
	// the incident was stepped that often since, from each.
	moreRuns := func(what string, n int64) {
		t.Helper()
		before := runs()
		waitFor(fmt.Sprintf("%d more runs from each location (%s)", n, what), 60*time.Second, func() bool {
			now := runs()
			return now["eu-west"] >= before["eu-west"]+n && now["us-east"] >= before["us-east"]+n
		})
	}
	events := func() []notify.Event {
		var out []notify.Event
		for _, r := range receiver.Accepted() {
			out = append(out, r.Payload(t).Event)
		}
		return out
	}
	count := func(typ notify.EventType, warning bool) (n int, last notify.Event) {
		for _, ev := range events() {
			if ev.Type == typ && (ev.Reason == incident.ReasonLocationDisagreement) == warning {
				n, last = n+1, ev
			}
		}
		return n, last
	}

	waitFor("both locations ran the flow", 60*time.Second, func() bool {
		r := runs()
		return r["eu-west"] >= 3 && r["us-east"] >= 3
	})

	targets["eu-west"].Down()
	waitFor("a location_disagreement warning", 60*time.Second, func() bool { n, _ := count(notify.Opened, true); return n > 0 })
	moreRuns("eu-west refusing", 4)
	if n, w := count(notify.Opened, true); n != 1 || !strings.Contains(w.Summary, "failing from eu-west (connection_failed), passing from us-east") {
		t.Errorf("%d location_disagreement warnings, the last saying %q; want 1 naming eu-west failing and us-east passing", n, w.Summary)
	}
	if n, ev := count(notify.Opened, false); n != 0 {
		t.Errorf("one location refusing paged %d times (%s: %s)", n, ev.Reason, ev.Summary)
	}
	checkViews(t, nodes["us1"])

	targets["us-east"].Down()
	waitFor("a page", 60*time.Second, func() bool { n, _ := count(notify.Opened, false); return n > 0 })
	moreRuns("both refusing", 4)
	if n, ev := count(notify.Opened, false); n != 1 || ev.Reason != "connection_failed" || ev.Severity != notify.SeverityCritical {
		t.Errorf("both locations refusing: %d pages, the last %s %s; want exactly 1, connection_failed, critical", n, ev.Reason, ev.Severity)
	}
	if n, _ := count(notify.Opened, true); n != 1 {
		t.Errorf("%d location_disagreement warnings; want still 1", n)
	}

	targets["eu-west"].Answer(200, "")
	targets["us-east"].Answer(200, "")
	waitFor("the page and the warning resolved", 60*time.Second, func() bool {
		pages, _ := count(notify.Resolved, false)
		warnings, _ := count(notify.Resolved, true)
		return pages == 1 && warnings == 1
	})
	keys := map[string]int{}
	for _, ev := range events() {
		keys[ev.IncidentKey+" "+string(ev.Type)]++
	}
	for k, n := range keys {
		if n > 1 && !strings.HasSuffix(k, " "+string(notify.Reminder)) {
			t.Errorf("event %s delivered %d times", k, n)
		}
	}
	t.Logf("events at the receiver: %v", keys)
}

// checkViews: while eu-west fails and us-east passes, a us-east node's API
// and flow page show the flow per location, its overview the worst
// location, and its /metrics label the series it exports with us-east.
func checkViews(t *testing.T, p *pgProc) {
	t.Helper()
	code, body := p.get("/api/v1/flows/login")
	var d statuspage.FlowDetailJSON
	if code != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil {
		t.Fatalf("/api/v1/flows/login: %d %s", code, body)
	}
	got := map[string]string{}
	for _, l := range d.Locations {
		got[l.Location] = l.State + " " + l.Reason
	}
	if got["eu-west"] != "failing connection_failed" || got["us-east"] != "passing " {
		t.Errorf("/api/v1/flows/login locations = %v; want eu-west failing (connection_failed), us-east passing", got)
	}
	// The node's own run shows its own state until the incident step
	// that follows it (milliseconds) shows the worst: polled.
	worst := d.Flow.State
	for i := 0; i < 50 && worst != statuspage.StateFailing; i++ {
		time.Sleep(100 * time.Millisecond) // polling a real process
		_, body := p.get("/api/v1/flows/login")
		var again statuspage.FlowDetailJSON
		if json.Unmarshal([]byte(body), &again) == nil {
			worst = again.Flow.State
		}
	}
	if worst != statuspage.StateFailing {
		t.Errorf("the flow shows %s on a us-east node; want failing, the worst of its locations", worst)
	}
	if _, page := p.get("/flows/login"); !strings.Contains(page, `id="locations"`) || !strings.Contains(page, "eu-west") {
		t.Error("the flow page shows no locations table naming eu-west")
	}
	_, metrics := p.get("/metrics")
	if !regexp.MustCompile(`(?m)^authwatch_flow_up\{flow="login",location="us-east"\} 1$`).MatchString(metrics) {
		t.Errorf("/metrics of a us-east node has no authwatch_flow_up{flow=\"login\",location=\"us-east\"} 1")
	}
}
