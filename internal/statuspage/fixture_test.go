package statuspage

// The test fixture: real runs of the demo's flows (internal/demo: the IdP
// and the orders API with deliberately broken endpoints, on 127.0.0.1),
// recorded in a real SQLite store the way the daemon records them, with
// incident states and outbox items from the real incident policy.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/report"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
	"github.com/authwatch/authwatch/notify"
)

// demoWant is the outcome of every demo flow (internal/demo/flows.yaml)
// plus extraFlows: "" passes, "warn:" passes with that warning.
var demoWant = map[string]string{
	"orders-api":                  "",
	"orders-api-key-auth":         "",
	"orders-api-dpop":             "",
	"orders-requires-auth":        "",
	"orders-token-lifetime-drift": "",
	"user-login":                  "",
	"user-login-stale-password":   "login_rejected",
	"billing-token-on-orders":     "audience_mismatch",
	"create-order":                "insufficient_scope",
	"legacy-client-token":         "token_expired",
	"admin-export-requires-auth":  "auth_not_enforced",
	"rotated-secret":              "invalid_client",
	"orders-token-lifetime":       "warn:token_lifetime_short",
}

// extraFlows adds a flow that passes with a warning (the demo has none).
const extraFlows = `
flows:
  - name: orders-token-lifetime
    every: 1m
    labels: {team: orders, severity: ticket}
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: orders-client
        client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
        scopes: [orders.read]
        expect:
          access_token: {min_lifetime: 48h}
`

// Notifiers the fixture's events are routed to.
const (
	notifierPager = "pagerduty"
	notifierChat  = "slack"
)

type fixture struct {
	env     *demo.Env
	flows   []*flows.Flow
	runner  *flows.Runner
	capture *capture
	// results holds the first real run of each flow.
	results map[string]*flows.Result
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func TestMain(m *testing.M) {
	// The demo IdP logs every refused request through the default logger.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	code := m.Run()
	if shared.st != nil {
		_ = shared.st.Close()
		_ = os.RemoveAll(shared.dir)
	}
	if fix != nil {
		_ = fix.env.Close()
	}
	if store30d != nil {
		_ = store30d.Close()
	}
	if store30dDir != "" {
		_ = os.RemoveAll(store30dDir)
	}
	os.Exit(code)
}

// getFixture starts the demo once for the test binary and runs every flow.
func getFixture(t *testing.T) *fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = startFixture() })
	if fixErr != nil {
		t.Fatalf("fixture: %v", fixErr)
	}
	return fix
}

func startFixture() (*fixture, error) {
	env, err := demo.Start(context.Background())
	if err != nil {
		return nil, err
	}
	fill := strings.NewReplacer("{{issuer}}", env.IdP.Issuer(), "{{api}}", env.API.URL())
	opts := flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: demo.LookupEnv}}
	set, err := flows.LoadBytes(opts, demo.FlowsFile, env.Flows())
	if err != nil {
		env.Close()
		return nil, err
	}
	extra, err := flows.LoadBytes(opts, "extra.yaml", []byte(fill.Replace(extraFlows)))
	if err != nil {
		env.Close()
		return nil, err
	}
	f := &fixture{env: env, flows: append(set.Flows, extra.Flows...), capture: &capture{base: flows.NewTransport(), seen: map[string]bool{}}}
	f.runner = flows.NewRunner()
	f.runner.Secrets.LookupEnv = demo.LookupEnv
	f.runner.Transport = f.capture
	f.results = f.runAll(context.Background())
	for name, want := range demoWant {
		res := f.results[name]
		if res == nil {
			env.Close()
			return nil, fmt.Errorf("no flow %s in the demo", name)
		}
		if got := outcome(res); got != want {
			env.Close()
			return nil, fmt.Errorf("flow %s: outcome %q, want %q", name, got, want)
		}
	}
	return f, nil
}

func outcome(r *flows.Result) string {
	if f := r.Failure(); f != nil {
		return string(f.Reason)
	}
	for _, fd := range r.Findings() {
		if fd.Reason.Info().Warning {
			return "warn:" + string(fd.Reason)
		}
	}
	return ""
}

// runAll runs every flow once, concurrently.
func (f *fixture) runAll(ctx context.Context) map[string]*flows.Result {
	out := map[string]*flows.Result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, fl := range f.flows {
		wg.Go(func() {
			res := f.runner.Run(ctx, fl)
			mu.Lock()
			out[fl.Name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (f *fixture) flow(name string) *flows.Flow {
	for _, fl := range f.flows {
		if fl.Name == name {
			return fl
		}
	}
	return nil
}

// infos is what the daemon would pass as Options.Flows.
func (f *fixture) infos() []FlowInfo { return FlowInfos(f.flows) }

// secrets are values that must never appear on a page or in the API: the
// demo's client secrets in every form a request carries them, and every
// credential and token that went over the wire during the flows' runs.
func (f *fixture) secrets() []string {
	out := []string{idp.UserPassword, "demo-only-secret-before-rotation"}
	for id, s := range map[string]string{idp.OrdersClientID: idp.OrdersClientSecret, idp.BillingClientID: idp.BillingClientSecret,
		idp.ReaderClientID: idp.ReaderClientSecret, idp.LegacyClientID: idp.LegacyClientSecret, idp.WebClientID: idp.WebClientSecret,
		idp.DriftClientID: idp.DriftClientSecret} {
		out = append(out, s,
			base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(s))),
			base64.StdEncoding.EncodeToString([]byte(id+":"+s)))
	}
	out = append(out, idp.PrivateKeyLines()...) // the key clients' private keys
	return append(out, f.capture.values()...)
}

// jwtPattern matches the start of a compact JWT.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.`)

func assertNoSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Errorf("secret %q… appears in %s near: …%s…", s[:min(6, len(s))], where,
				strings.ReplaceAll(text[max(i-120, 0):min(i+len(s)+40, len(text))], s, "<<SECRET>>"))
		}
	}
	if m := jwtPattern.FindString(text); m != "" {
		t.Errorf("a JWT (%s…) appears in %s", m[:12], where)
	}
}

// capture records every credential the flows send and every token they
// receive, for the leak checks.
type capture struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen map[string]bool
}

func (c *capture) add(v string) {
	if len(v) < 8 {
		return
	}
	c.mu.Lock()
	c.seen[v] = true
	c.mu.Unlock()
}

func (c *capture) values() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.seen))
	for v := range c.seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func (c *capture) RoundTrip(req *http.Request) (*http.Response, error) {
	if a := req.Header.Get("Authorization"); a != "" {
		c.add(a)
		if _, cred, ok := strings.Cut(a, " "); ok {
			c.add(cred)
		}
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil || resp.Body == nil || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return resp, nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		for _, k := range []string{"access_token", "id_token", "refresh_token"} {
			if s, ok := m[k].(string); ok {
				c.add(s)
			}
		}
	}
	return resp, nil
}

// toRun is internal/daemon's conversion of a result into a history record
// (daemon.toRun, unexported there): the steps are the redacted JSON lines
// of `authwatch check --json`.
func toRun(r *flows.Result) store.Run {
	var steps bytes.Buffer
	_ = report.JSON(&steps, r)
	lines := bytes.Split(bytes.TrimSpace(steps.Bytes()), []byte("\n"))
	arr, _ := json.Marshal(lines)
	if len(lines) > 0 {
		arr = append([]byte("["), bytes.Join(lines, []byte(","))...)
		arr = append(arr, ']')
	}
	run := store.Run{Flow: r.Flow, Start: r.Start, DurationMS: float64(r.Duration.Microseconds()) / 1000,
		WaitedMS: float64(r.Waited().Microseconds()) / 1000, OK: r.OK, Cancelled: r.Cancelled, Steps: arr}
	for _, s := range r.Steps {
		if s.Status == flows.StepWarned {
			run.Warnings++
		}
		if f := s.Failure; f != nil && run.FailedStep == "" {
			run.FailedStep, run.Reason, run.Layer, run.Summary = s.ID, string(f.Reason), string(f.Reason.Layer()), f.Summary
		}
	}
	return run
}

// recorder records results like the daemon's onResult and alerting.observe.
type recorder struct {
	st     *sqlite.Store
	policy incident.Policy
	inc    map[string]incident.State
}

func (rc *recorder) record(t *testing.T, res *flows.Result) store.Run {
	t.Helper()
	ctx := context.Background()
	run := toRun(res)
	if _, err := rc.st.RecordRun(ctx, run); err != nil {
		t.Fatalf("RecordRun: %v", err)
	}
	next, events := incident.Step(rc.policy, rc.inc[res.Flow], incident.FromResult(res, nil, res.Start), res.Start, nil)
	rc.inc[res.Flow] = next
	state, err := json.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	var items []store.OutboxItem
	for _, ev := range events {
		body, _ := json.Marshal(ev)
		for _, n := range notifiersFor(ev) {
			items = append(items, store.OutboxItem{Notifier: n, IncidentKey: ev.IncidentKey, EventID: ev.ID, Event: body,
				Created: ev.Time, NextAttempt: ev.Time})
		}
	}
	if err := rc.st.CommitIncident(ctx, res.Flow, state, items); err != nil {
		t.Fatalf("CommitIncident: %v", err)
	}
	return run
}

func notifiersFor(ev notify.Event) []string {
	if ev.Severity == notify.SeverityCritical {
		return []string{notifierPager, notifierChat}
	}
	return []string{notifierChat}
}

// shifted is a copy of r that started at start and took scale times as long.
func shifted(r *flows.Result, start time.Time, scale float64) *flows.Result {
	c := *r
	c.Start = start
	c.Duration = time.Duration(float64(r.Duration) * scale)
	c.Steps = slices.Clone(r.Steps)
	for i := range c.Steps {
		c.Steps[i].Duration = time.Duration(float64(c.Steps[i].Duration) * scale)
	}
	return &c
}

// newStore makes a store holding, for every flow, a history of copies of
// its real run (every `every` over `span` before its real start, with
// varied durations), then the real run itself. It delivers the pager's
// notifications and leaves the chat's pending, one of them refused.
func (f *fixture) newStore(t *testing.T, every, span time.Duration) (*sqlite.Store, *recorder) {
	t.Helper()
	st, rc := f.buildStore(t, t.TempDir(), every, span)
	t.Cleanup(func() { st.Close() })
	return st, rc
}

func (f *fixture) buildStore(t *testing.T, dir string, every, span time.Duration) (*sqlite.Store, *recorder) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	rc := &recorder{st: st, policy: incident.DefaultPolicy(), inc: map[string]incident.State{}}
	names := make([]string, 0, len(f.results))
	for name := range f.results {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		res := f.results[name]
		if every > 0 {
			n := int(span / every)
			for k := n; k >= 1; k-- {
				scale := 0.6 + float64((k*7+i*3)%10)/10 // 0.6 to 1.5
				rc.record(t, shifted(res, res.Start.Add(-time.Duration(k)*every), scale))
			}
		}
		rc.record(t, res)
	}
	ctx := context.Background()
	refused := false
	for range 100 {
		due, err := st.Due(ctx, time.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		progressed := false
		for _, it := range due {
			switch {
			case it.Notifier == notifierPager:
				err = st.Delivered(ctx, it.ID, time.Now())
				progressed = true
			case !refused:
				err = st.Dead(ctx, it.ID, time.Now(), "400 Bad Request: invalid_payload")
				refused, progressed = true, true
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !progressed {
			break
		}
	}
	return st, rc
}
