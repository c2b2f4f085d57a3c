package config_test

// The configuration file's alerting sections (notifiers, routes, policy,
// silences, maintenance windows) as `authwatch run` and `authwatch notify`
// load them: every problem is reported at file:line:column with the path of
// the offending key, and a complete file loads.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/notify"
	_ "github.com/authwatch/authwatch/notify/all" // every notifier kind, as cmd/authwatch registers them
)

// want is one problem Load must report.
type want struct {
	line, col int    // col 0: any column
	path      string // the problem's path, exactly
	msg       string // a part of its message
}

// load writes content to a temporary authwatch.yaml and loads it.
func load(t *testing.T, content string) (string, *config.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authwatch.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, true)
	return path, c, err
}

func checkProblems(t *testing.T, file string, err error, wants []want) {
	t.Helper()
	var problems conf.Problems
	if !errors.As(err, &problems) {
		t.Fatalf("Load: %v (%T), want conf.Problems", err, err)
	}
	for _, w := range wants {
		found := false
		for _, p := range problems {
			if p.Path != w.path || !strings.Contains(p.Message, w.msg) {
				continue
			}
			found = true
			if p.Pos.File != file || p.Pos.Line != w.line || (w.col != 0 && p.Pos.Column != w.col) {
				t.Errorf("%s: %s at %s, want %s:%d:%d", w.path, w.msg, p.Pos, file, w.line, w.col)
			}
			if !strings.HasPrefix(p.Error(), p.Pos.String()+": "+w.path+": ") {
				t.Errorf("the problem reads %q; want file:line:col: path: message", p.Error())
			}
		}
		if !found {
			t.Errorf("no problem %s: ...%s... in:\n%v", w.path, w.msg, err)
		}
	}
}

func TestLoadReportsPositionedProblems(t *testing.T) {
	cases := []struct {
		name    string
		content string
		wants   []want
	}{
		{
			name: "unknown notifier kind lists the kinds",
			content: `notifiers:
  pager:
    kind: pagerdooty
    routing_key: ${env:PD_KEY}
routes:
  - {name: all, default: true, notifiers: [pager]}
`,
			wants: []want{{3, 11, "notifiers.pager.kind", `unknown notifier kind "pagerdooty"; valid kinds: ` + notify.KindNames()}},
		},
		{
			name: "unknown setting of a notifier: did you mean",
			content: `notifiers:
  hook:
    kind: webhook
    url: https://hooks.example.com/authwatch
    hmac_secert: ${env:WEBHOOK_HMAC}
  pd:
    kind: pagerduty
    routing_key: ${env:PD_KEY}
    severty: critical
routes:
  - {name: all, default: true, notifiers: [hook, pd]}
`,
			// The line of the misspelled key; flow files point at the key
			// itself (column 5 here), notifier settings at its value.
			wants: []want{
				{5, 0, "notifiers.hook.hmac_secert", `unknown field "hmac_secert"; did you mean "hmac_secret"?`},
				{9, 0, "notifiers.pd.severty", `unknown field "severty"; did you mean "severity"?`},
			},
		},
		{
			name: "a route naming an unknown notifier",
			content: `notifiers:
  hook:
    kind: webhook
    url: https://hooks.example.com/authwatch
routes:
  - name: orders
    match: {team: orders}
    notifiers: [hook, pagr]
`,
			wants: []want{{8, 23, "routes[0].notifiers[1]", `unknown notifier "pagr"`}},
		},
		{
			name: "a bad matcher regular expression",
			content: `notifiers:
  hook:
    kind: webhook
    url: https://hooks.example.com/authwatch
routes:
  - name: tokens
    match:
      reason: "~token_(.*"
    notifiers: [hook]
  - name: typo
    match: {event: open}
    notifiers: [hook]
silences:
  - matchers: {flow: "~orders-[a-"}
    until: 2030-01-01T00:00:00Z
    comment: "bob: migration"
`,
			wants: []want{
				{8, 15, "routes[0].match.reason", "bad regular expression after ~"},
				{11, 20, "routes[1].match.event", `must be one of opened, updated, reminder, resolved, test (or ~regexp), got "open"`},
				{14, 22, "silences[0].matchers.flow", "bad regular expression after ~"},
			},
		},
		{
			name: "bad policy values",
			content: `policy:
  open_after: 0
  resolve_after: 2
  remind_every: 10s
  flap: {changes: 1, runs: 10}
  open_window: {failures: 6, runs: 5}
`,
			wants: []want{
				{2, 15, "policy.open_after", "must be 1..1000, got 0"},
				{4, 17, "policy.remind_every", "must be at least 1m (or 0 for never), got 10s"},
				{5, 19, "policy.flap.changes", "must be at least 2"},
				{6, 27, "policy.open_window.failures", "must be at most runs (5), got 6"},
			},
		},
		{
			name: "a duration that is not one, in the policy",
			content: `policy:
  remind_every: soon
`,
			wants: []want{{2, 17, "policy.remind_every", "soon"}},
		},
		{
			name: "a duration that is not one, in a maintenance window",
			content: `maintenance_windows:
  - matchers: {team: billing}
    cron: "0 2 * * SUN"
    duration: all night
`,
			wants: []want{{4, 15, "maintenance_windows[0].duration", "all night"}},
		},
		{
			name: "a silence's end that is not a time",
			content: `silences:
  - matchers: {team: billing}
    until: tomorrow
    comment: "bob: migration"
`,
			// Positioned; the value is not echoed and the message says
			// "must be set" although it was set (to something unparsable).
			wants: []want{{3, 12, "silences[0].until", "RFC 3339"}},
		},
		{
			name: "a secret template with a step reference",
			content: `notifiers:
  chat:
    kind: slack
    url: ${steps.token.access_token}
  pd:
    kind: pagerduty
    routing_key: "key-${steps.login.id_token}"
routes:
  - {name: all, default: true, notifiers: [chat, pd]}
`,
			wants: []want{
				{4, 10, "notifiers.chat.url", "step outputs (${steps.ID.NAME}) are not available in notifier settings"},
				{7, 18, "notifiers.pd.routing_key", "step outputs (${steps.ID.NAME}) are not available in notifier settings"},
			},
		},
		{
			name: "silences and maintenance windows",
			content: `silences:
  - matchers: {team: billing}
    until: 2030-01-01T00:00:00Z
    comment: ""
maintenance_windows:
  - matchers: {team: billing}
    cron: "@every 1h"
    duration: 2h
`,
			wants: []want{
				{4, 14, "silences[0].comment", "must say who silenced what and why"},
				{7, 11, "maintenance_windows[0].cron", "has no calendar start"},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file, _, err := load(t, c.content)
			checkProblems(t, file, err, c.wants)
			for _, p := range err.(conf.Problems) {
				if p.Pos.Line == 0 {
					t.Errorf("a problem without a line: %v", p)
				}
			}
		})
	}
}

// TestLoadFullConfig: testdata/full.yaml, every section and every notifier
// kind with its settings (the examples of docs/notifications.md), loads;
// each notifier is built; the policy, routes and mutes are what the file
// says.
func TestLoadFullConfig(t *testing.T) {
	c, err := config.Load(filepath.Join("testdata", "full.yaml"), true)
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	kinds := map[string]bool{}
	for name, spec := range c.Notifiers {
		if spec.Config == nil {
			t.Errorf("notifier %s: no decoded configuration", name)
		}
		kinds[spec.Kind] = true
	}
	if got, want := strings.Join(slices.Sorted(maps.Keys(kinds)), ", "), notify.KindNames(); got != want {
		t.Errorf("full.yaml has notifiers of kinds %s; want one of every kind: %s", got, want)
	}
	ns, err := c.NewNotifiers(notify.Deps{})
	if err != nil || len(ns) != len(c.Notifiers) {
		t.Errorf("NewNotifiers: %d of %d, %v", len(ns), len(c.Notifiers), err)
	}
	var names []string
	for _, r := range c.Routes {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "orders warnings tokens everything-else" || !c.Routes[3].Default {
		t.Errorf("routes %q (last default: %v)", got, c.Routes[len(c.Routes)-1].Default)
	}
	p := c.AlertPolicy()
	if p.OpenAfter != 3 || p.ResolveAfter != 2 || p.RemindEvery != 2*time.Hour || p.OpenWindow.Failures != 3 ||
		p.OpenWindow.Runs != 5 || p.Flap.Changes != 4 || p.Flap.Runs != 10 || !p.Warnings {
		t.Errorf("policy %s", p)
	}
	if len(c.Silences) != 1 || !c.Silences[0].Until.Equal(time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)) ||
		len(c.MaintenanceWindows) != 1 || c.MaintenanceWindows[0].Duration.Std() != 2*time.Hour {
		t.Errorf("silences %+v, maintenance windows %+v", c.Silences, c.MaintenanceWindows)
	}
	sunday2am := time.Date(2026, 3, 15, 2, 30, 0, 0, time.Local)
	if muted, by := c.Mutes().Muted(map[string]string{"flow": "x"}, sunday2am); !muted || !strings.Contains(by, "maintenance_windows[0]") {
		t.Errorf("Sunday 02:30: muted %v by %q; want the maintenance window", muted, by)
	}
	if c.StatusURL != "https://authwatch.example.com" {
		t.Errorf("status_url %q", c.StatusURL)
	}
}

// TestLoadDefaultPolicy: without a policy section the documented defaults
// apply.
func TestLoadDefaultPolicy(t *testing.T) {
	_, c, err := load(t, "state_dir: /tmp/authwatch-test\n")
	if err != nil {
		t.Fatal(err)
	}
	p := c.AlertPolicy()
	if p.OpenAfter != 2 || p.ResolveAfter != 1 || p.RemindEvery != 4*time.Hour || p.Flap.Changes != 4 || p.Flap.Runs != 10 ||
		!p.Warnings || p.OpenWindow.Failures != 0 {
		t.Errorf("default policy %s", p)
	}
}

// TestLoadNotifiersWithoutRoutes: notifiers nobody routes to are a mistake.
func TestLoadNotifiersWithoutRoutes(t *testing.T) {
	file, _, err := load(t, `notifiers:
  journal: {kind: log}
`)
	checkProblems(t, file, err, []want{{1, 0, "routes", "notifiers are configured but no route uses them"}})
}

// TestSampleConfig: the sample shipped in systemd/ loads, and the listener
// and store settings it shows are the defaults.
func TestSampleConfig(t *testing.T) {
	c, err := config.Load("../../systemd/authwatch.yaml", true)
	if err != nil {
		t.Fatal(err)
	}
	d := config.Default()
	std := func(h config.HTTPConfig) string {
		return fmt.Sprint(h.MaxConnections, h.ReadHeaderTimeout.Std(), h.ReadTimeout.Std(), h.WriteTimeout.Std(), h.IdleTimeout.Std())
	}
	if c.StoreCheck != d.StoreCheck || std(c.HTTP) != std(d.HTTP) || c.Heartbeat != nil || c.StatusPage.Auth != nil {
		t.Errorf("the sample's store_check/http differ from the defaults: %q %+v, want %q %+v", c.StoreCheck, c.HTTP, d.StoreCheck, d.HTTP)
	}
}

func TestHardeningSections(t *testing.T) {
	_, c, err := load(t, "http: {max_connections: 10}\nstore_check: full\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.MaxConnections != 10 || c.HTTP.IdleTimeout != config.Default().HTTP.IdleTimeout || c.StoreCheck != "full" {
		t.Errorf("a partial http section must keep the other defaults: %+v %q", c.HTTP, c.StoreCheck)
	}
	file, _, err := load(t, "store_check: fast\nhttp:\n  max_connections: 0\n  idle_timeout: 0s\nheartbeat:\n  url: ftp://x/y\nstatus_page:\n  metrics_auth: off\n")
	checkProblems(t, file, err, []want{
		{1, 14, "store_check", "must be quick, full or none"},
		{3, 20, "http.max_connections", "must be 1..100000"},
		{4, 17, "http.idle_timeout", "must be more than 0"},
		{6, 8, "heartbeat.url", "must be an http(s) URL"},
		{8, 17, "status_page.metrics_auth", `must be "required" or "none"`},
	})
}

// TestPProfNeedsAuth: http.pprof is refused without status_page.auth, at
// its line; with it, and metrics.step_histograms, the file loads.
func TestPProfNeedsAuth(t *testing.T) {
	file, _, err := load(t, "http:\n  pprof: true\n")
	checkProblems(t, file, err, []want{{2, 10, "http.pprof", "needs status_page.auth"}})
	_, c, err := load(t, "http: {pprof: true}\nmetrics: {step_histograms: true}\nstatus_page:\n  auth: {bearer: \"${env:SP_TOKEN}\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.HTTP.PProf || !c.Metrics.StepHistograms || config.Default().HTTP.PProf || config.Default().Metrics.StepHistograms {
		t.Errorf("pprof %v, step_histograms %v; defaults must be off", c.HTTP.PProf, c.Metrics.StepHistograms)
	}
}
