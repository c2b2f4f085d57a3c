package metrics_test

// The operators' dashboard (deploy/grafana/authwatch.json) and alerting
// rules (deploy/prometheus/rules.yaml) name metrics this package exports:
// a renamed metric must not leave them graphing nothing.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/authwatch/authwatch/internal/metrics"
)

type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct{ X, Y, W, H int }
	Targets []struct{ Expr, RefID string }
	Panels  []grafanaPanel        `json:"panels"` // a collapsed row's
	DataSrc *struct{ UID string } `json:"datasource"`
}

type grafanaDashboard struct {
	Title      string         `json:"title"`
	UID        string         `json:"uid"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct{ Name, Type string } `json:"list"`
	} `json:"templating"`
}

// knownMetrics are the names a live registry exports (histograms with
// their _bucket, _sum and _count series), the Go and process collectors'
// and Prometheus's own up.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	known := map[string]bool{"up": true}
	for _, n := range m.Names() {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			known[n+suffix] = true
		}
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		known[f.GetName()] = true
	}
	return known
}

var metricName = regexp.MustCompile(`\b(authwatch_[a-z0-9_]+|process_[a-z0-9_]+|go_[a-z0-9_]+|up)\b\s*(\{|\[|\)|$|\s|==|>|<|\*)`)

// exprMetrics lists the metric names an expression reads.
func exprMetrics(expr string) []string {
	var out []string
	for _, m := range metricName.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

func readDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "authwatch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("deploy/grafana/authwatch.json: %v", err)
	}
	return d
}

// TestGrafanaDashboard: the dashboard parses; panel ids are unique and
// fit the 24-column grid; every panel but a row queries the
// ${datasource} variable with expressions that each name metrics this
// package exports (or Prometheus's up), and every $variable is defined;
// the panels the issue asks for are there.
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	known := knownMetrics(t)
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if d.UID == "" || d.Title == "" || !vars["datasource"] {
		t.Errorf("dashboard uid %q, title %q, datasource variable %v", d.UID, d.Title, vars["datasource"])
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	var panels []grafanaPanel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	variable := regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	for _, p := range panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("%s: gridPos %+v off the 24-column grid", where, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.DataSrc == nil || p.DataSrc.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("%s: no query of ${datasource}", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			names := exprMetrics(q.Expr)
			if len(names) == 0 || refs[q.RefID] || q.RefID == "" {
				t.Errorf("%s: target %q (refId %q) names no metric or repeats a refId", where, q.Expr, q.RefID)
			}
			refs[q.RefID] = true
			for _, n := range names {
				used[n] = true
				if !known[n] {
					t.Errorf("%s: %s is not a metric authwatch exports (expr %s)", where, n, q.Expr)
				}
			}
			for _, v := range variable.FindAllStringSubmatch(q.Expr, -1) {
				if !vars[v[1]] {
					t.Errorf("%s: $%s is not a dashboard variable (expr %s)", where, v[1], q.Expr)
				}
			}
		}
	}
	for _, want := range []string{"authwatch_flow_up", "authwatch_flow_info", "authwatch_flow_runs_total", "authwatch_step_duration_seconds_bucket",
		"authwatch_token_lifetime_seconds", "authwatch_clock_offset_seconds", "authwatch_tls_cert_not_after_timestamp_seconds",
		"authwatch_notification_backlog", "authwatch_state_store_up", "authwatch_heartbeats_total", "authwatch_flow_last_success_timestamp_seconds",
		"authwatch_flow_run_duration_seconds", "authwatch_step_kind_duration_seconds_bucket"} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	t.Logf("%d panels, %d metrics used", len(panels), len(used))
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertingRulesNameExportedMetrics: every alerting rule's expression
// reads metrics this package exports (promtool checks the syntax and
// rules_test.yaml the behaviour, in CI).
func TestAlertingRulesNameExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	known := knownMetrics(t)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			names := exprMetrics(r.Expr)
			if len(names) == 0 {
				t.Errorf("%s: names no metric: %s", r.Alert, r.Expr)
			}
			for _, name := range names {
				if !known[name] {
					t.Errorf("%s: %s is not a metric authwatch exports", r.Alert, name)
				}
			}
		}
	}
	if n < 8 {
		t.Errorf("%d rules, want the 8 or more of deploy/prometheus", n)
	}
}

// TestGrafanaQueriesParse: every panel's expression, with the dashboard's
// variables filled in, is valid PromQL: promtool parses them as the
// expressions of recording rules. Needs promtool (Debian package
// prometheus): skipped without it, a failure under CI.
func TestGrafanaQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool missing: apt-get install prometheus")
		}
		t.Skip("promtool missing: apt-get install prometheus")
	}
	fill := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$group", "team",
		"$job", ".*", "$instance", ".*", "$flow", ".*", "${datasource}", "prom")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, p := range readDashboard(t).Panels {
		for _, q := range p.Targets {
			rules = append(rules, rule{Record: fmt.Sprintf("panel_%d_%s", p.ID, strings.ToLower(q.RefID)), Expr: fill.Replace(q.Expr)})
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules of the dashboard's %d queries: %v\n%s", len(rules), err, res)
	} else if !slices.ContainsFunc(strings.Split(string(res), "\n"), func(l string) bool { return strings.Contains(l, "SUCCESS") }) {
		t.Errorf("promtool: %s", res)
	}
}
