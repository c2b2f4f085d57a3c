package daemon

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/testenv"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
	"github.com/authwatch/authwatch/notify/webhook"
)

// pgAM is a real Alertmanager (Debian's prometheus-alertmanager) on
// 127.0.0.1 whose one route sends every alert, and every resolution, to a
// webhook that records them.
type pgAM struct {
	URL string
	mu  sync.Mutex
	got []pgAMMsg
}

type pgAMAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type pgAMMsg struct {
	Alerts []pgAMAlert `json:"alerts"`
	raw    []byte
}

func (am *pgAM) alerts() []pgAMAlert {
	am.mu.Lock()
	defer am.mu.Unlock()
	var out []pgAMAlert
	for _, m := range am.got {
		out = append(out, m.Alerts...)
	}
	return out
}

func (am *pgAM) raw() string {
	am.mu.Lock()
	defer am.mu.Unlock()
	var b strings.Builder
	for _, m := range am.got {
		b.Write(m.raw)
	}
	return b.String()
}

// pgStartAlertmanager starts the real Alertmanager; without it the test
// fails in CI (CI=true) and is skipped elsewhere.
func pgStartAlertmanager(t *testing.T) *pgAM {
	t.Helper()
	bin := ""
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		const msg = "neither prometheus-alertmanager nor alertmanager is on PATH; install it with: apt-get install prometheus-alertmanager"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this is a failure, not a skip)")
		}
		t.Skip(msg)
	}
	am := &pgAM{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		var m pgAMMsg
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Errorf("alertmanager webhook: %v", err)
		}
		m.raw = buf.Bytes()
		am.mu.Lock()
		am.got = append(am.got, m)
		am.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`route:
  receiver: hook
  group_by: ['...']
  group_wait: 100ms
  group_interval: 200ms
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`, hook.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	var out e2eLog
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the process this test started, by its pid
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	am.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	e2eWaitFor(t, 20*time.Second, "alertmanager ready", func() bool {
		resp, err := e2eClient.Get(am.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return am
}

// pgTestRouting routes four flows that fail for real reasons by their
// labels, through the real binary, to four receivers:
//
//	orders-export    team=orders,   severity=page    auth_not_enforced (demo API)  → route orders   → pagerduty
//	billing-audience team=billing,  severity=page    audience_mismatch (demo IdP)  → route billing  → slack
//	billing-canary   team=billing,  severity=page    invalid_client (echoing IdP)  → route billing  → slack
//	platform-legacy  team=platform, severity=ticket  token_expired (demo IdP)      → route warnings (severity: warning) → alertmanager
//	every flow                                                                      → route audit (flow: "~.*") → webhook
//
// PagerDuty is a notifytest receiver acting as the Events API v2 (kind
// pagerduty, url: pointing at it), Slack a notifytest HTTPS receiver (its
// certificate given to the daemon through SSL_CERT_FILE, as a private CA
// would be), Alertmanager the real Debian prometheus-alertmanager. Each gets
// exactly the events its route matches, with the reason code and the
// summary; PagerDuty's trigger and resolve share the dedup_key.
//
// The secret canary: the webhook's HMAC key and bearer header, PagerDuty's
// routing key, the Slack URL's token, Alertmanager's bearer token and the
// flows' client secrets are random (or demo) values, and the PagerDuty and
// Slack receivers first answer 503/500 with an error page echoing their
// secret, as some do. None may appear in any receiver's payload or headers
// (but the one header or field that is meant to carry it), Alertmanager's
// alerts, the daemon's log (at debug), /metrics or /healthz.
func pgTestRouting(t *testing.T, bin string) {
	am := pgStartAlertmanager(t)
	env := pgDemo(t)
	dir := t.TempDir()

	var (
		hmacKey      = e2eRandom("hmac-canary-")
		botToken     = e2eRandom("bot-canary-")
		pdKey        = e2eRandom("pdkey-canary-")
		slackToken   = e2eRandom("slacktoken-canary-")
		amToken      = e2eRandom("amtoken-canary-")
		clientSecret = e2eRandom("cs-canary-")
	)
	canaryIdP := &e2eCanaryIdP{clientID: "canary-client", secret: e2eRandom("cs-real-"), valid: map[string]bool{}}
	idpSrv := httptest.NewServer(canaryIdP)
	t.Cleanup(idpSrv.Close)

	pd := notifytest.NewReceiver(t, notifytest.Response{Status: http.StatusServiceUnavailable, RetryAfter: "1",
		Body: `{"status":"throttled","message":"routing key ` + pdKey + ` is throttled"}`})
	slack := notifytest.NewReceiver(t, notifytest.Response{Status: http.StatusInternalServerError,
		Body: "no_service: token " + slackToken + " is unknown"})
	bot := pgNewHook(t)
	caFile := filepath.Join(dir, "receivers-ca.pem")
	if err := os.WriteFile(caFile, pgPEMOf(t, strings.TrimPrefix(slack.URL, "https://")), 0o644); err != nil {
		t.Fatal(err)
	}
	keyFile := pgWriteSecret(t, dir, "webhook.key", hmacKey)
	slackPath := "/services/T0CANARY/B0CANARY/" + slackToken

	cfgBody := fmt.Sprintf(`status_url: https://authwatch.example.com/status
notifiers:
  pd:
    kind: pagerduty
    routing_key: ${env:PD_ROUTING_KEY}
    url: %s
  slack:
    kind: slack
    url: ${env:SLACK_URL}
  am:
    kind: alertmanager
    url: %s
    bearer: ${env:AM_TOKEN}
  bot:
    kind: webhook
    url: %s/bot
    allow_http: true
    hmac_secret: ${file:%s}
    headers:
      Authorization: Bearer ${env:BOT_TOKEN}
routes:
  - {name: orders, match: {team: orders}, notifiers: [pd]}
  - {name: billing, match: {team: billing}, notifiers: [slack]}
  - {name: warnings, match: {severity: warning}, notifiers: [am]}
  - {name: audit, match: {flow: "~.*"}, notifiers: [bot]}
policy: {open_after: 2, resolve_after: 1}
`, pd.URL, am.URL, bot.URL, keyFile)
	ccFlow := func(name, labels, issuer, tokenURL, client, secretRef, extra string) string {
		src := fmt.Sprintf("name: %s\nevery: 1s\ntimeout: 10s\nlabels: %s\nsteps:\n  - id: token\n    kind: client_credentials\n", name, labels)
		if issuer != "" {
			src += fmt.Sprintf("    issuer: %q\n", issuer)
		}
		if tokenURL != "" {
			src += fmt.Sprintf("    token_url: %q\n", tokenURL)
		}
		return src + fmt.Sprintf("    client_id: %s\n    client_secret: %s\n", client, secretRef) + extra
	}
	files := map[string]string{
		"orders.yaml": strings.Replace(pgAdminExportFlow("orders-export", env.API.URL(), 401), "{team: orders, severity: page}", "{team: orders, severity: page}", 1),
		"billing.yaml": ccFlow("billing-audience", "{team: billing, severity: page}", env.IdP.Issuer(), "", idp.BillingClientID, "${env:DEMO_BILLING_CLIENT_SECRET}",
			fmt.Sprintf("  - id: list_orders\n    kind: http\n    url: %q\n    auth: {bearer: \"${steps.token.access_token}\", audience: api://orders}\n", env.API.URL()+"/orders")),
		"canary.yaml": ccFlow("billing-canary", "{team: billing, severity: page}", "", idpSrv.URL+"/token", "canary-client", "${env:CANARY_CLIENT_SECRET}", ""),
		"legacy.yaml": ccFlow("platform-legacy", "{team: platform, severity: ticket}", env.IdP.Issuer(), "", idp.LegacyClientID, "${env:DEMO_LEGACY_CLIENT_SECRET}",
			"    scopes: [orders.read]\n"),
	}
	cfg, flowsDir := pgSetup(t, dir, cfgBody, files)
	p := pgStartProc(t, bin, cfg, map[string]string{
		"PD_ROUTING_KEY": pdKey, "SLACK_URL": slack.URL + slackPath, "AM_TOKEN": amToken, "BOT_TOKEN": botToken,
		"CANARY_CLIENT_SECRET": clientSecret, "DEMO_BILLING_CLIENT_SECRET": idp.BillingClientSecret,
		"DEMO_LEGACY_CLIENT_SECRET": idp.LegacyClientSecret, "SSL_CERT_FILE": caFile,
	})

	botFlows := func() map[string]bool {
		out := map[string]bool{}
		for _, d := range bot.Deliveries(t, "") {
			if d.Event.Type == notify.Opened {
				out[d.Event.Flow] = true
			}
		}
		return out
	}
	e2eWaitFor(t, 30*time.Second, "an Opened of every flow at the audit webhook", func() bool { return len(botFlows()) == 4 })
	e2eWaitFor(t, 30*time.Second, "the PagerDuty trigger", func() bool { return len(pdMessages(t, pd, "trigger")) >= 1 })
	e2eWaitFor(t, 30*time.Second, "both billing flows in Slack", func() bool { return len(slackOK(slack)) >= 2 })
	e2eWaitFor(t, 30*time.Second, "the alert delivered by Alertmanager", func() bool { return len(am.alerts()) >= 1 })

	// The orders flow passes: PagerDuty's alert resolves.
	e2eWrite(t, flowsDir, "orders.yaml", pgAdminExportFlow("orders-export", env.API.URL(), 200))
	p.signal(syscall.SIGHUP)
	e2eWaitFor(t, 30*time.Second, "the PagerDuty resolve", func() bool { return len(pdMessages(t, pd, "resolve")) >= 1 })
	e2eWaitFor(t, 30*time.Second, "the Resolved at the audit webhook", func() bool {
		for _, d := range bot.Deliveries(t, "orders-export") {
			if d.Event.Type == notify.Resolved {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second) // let anything else in flight arrive
	_, metrics := p.get("/metrics")
	_, health := p.get("/healthz")
	amAPI := pgGetBody(t, am.URL+"/api/v2/alerts")
	p.signal(syscall.SIGTERM)
	out := p.out.String()

	t.Run("routing", func(t *testing.T) {
		// The audit webhook: every flow, reason and summary in each payload.
		wantReason := map[string]string{"orders-export": "auth_not_enforced", "billing-audience": "audience_mismatch",
			"billing-canary": "invalid_client", "platform-legacy": "token_expired"}
		summaries := map[string]string{}
		for _, d := range bot.Deliveries(t, "") {
			if d.Event.Type == notify.Opened {
				if d.Event.Reason != wantReason[d.Event.Flow] || d.Event.Summary == "" {
					t.Errorf("webhook: %s opened with reason %q summary %q, want %s and a summary", d.Event.Flow, d.Event.Reason, d.Event.Summary, wantReason[d.Event.Flow])
				}
				summaries[d.Event.Flow] = d.Event.Summary
			}
		}
		if len(summaries) != 4 {
			t.Fatalf("the audit webhook got Opened for %v, want all 4 flows", slices.Sorted(maps.Keys(summaries)))
		}
		if sev := botSeverity(t, bot, "platform-legacy"); sev != notify.SeverityWarning {
			t.Errorf("platform-legacy (severity: ticket) has event severity %q, want warning", sev)
		}

		// PagerDuty: only orders-export; trigger then resolve, one dedup_key.
		var actions []string
		var keys []string
		for _, m := range pdMessages(t, pd, "") {
			actions = append(actions, m.EventAction)
			keys = append(keys, m.DedupKey)
			if m.EventAction == "trigger" {
				if m.Payload.Component != "orders-export" || m.Payload.Class != "auth_not_enforced" ||
					!strings.Contains(m.Payload.Summary, "auth_not_enforced") || !strings.Contains(m.Payload.Summary, summaries["orders-export"]) ||
					m.Payload.CustomDetails["reason"] != "auth_not_enforced" || m.Payload.CustomDetails["summary"] != summaries["orders-export"] {
					t.Errorf("pagerduty trigger: %+v; want orders-export with its reason and summary", m.Payload)
				}
			}
		}
		if len(actions) < 2 || actions[0] != "trigger" || actions[len(actions)-1] != "resolve" {
			t.Errorf("pagerduty actions %v, want trigger ... resolve", actions)
		}
		for _, k := range keys {
			if k != keys[0] || !strings.HasPrefix(k, "authwatch/orders-export/") {
				t.Errorf("pagerduty dedup_keys %v: trigger and resolve must share the orders-export incident's key", keys)
				break
			}
		}
		if open := botKey(t, bot, "orders-export"); len(keys) > 0 && keys[0] != open {
			t.Errorf("pagerduty dedup_key %q, the incident key is %q", keys[0], open)
		}

		// Slack: the two billing flows only, reason and summary shown.
		slackSet := map[string]bool{}
		for _, r := range slackOK(slack) {
			text := pgAllStrings(t, r.Body)
			flow := ""
			for _, f := range []string{"orders-export", "billing-audience", "billing-canary", "platform-legacy"} {
				if strings.Contains(text, f) {
					flow = f
				}
			}
			slackSet[flow] = true
			if flow == "" {
				t.Errorf("a Slack message names no flow: %s", r.Body)
				continue
			}
			if !strings.Contains(text, wantReason[flow]) || !strings.Contains(text, pgSlackEscape(firstRunes(summaries[flow], 60))) {
				t.Errorf("the Slack message of %s lacks its reason %q or summary %q:\n%s", flow, wantReason[flow], summaries[flow], text)
			}
		}
		if slackFlows := slices.Sorted(maps.Keys(slackSet)); fmt.Sprint(slackFlows) != "[billing-audience billing-canary]" {
			t.Errorf("Slack got messages for %v, want [billing-audience billing-canary]", slackFlows)
		}

		// Alertmanager: the warning only, with its reason and summary.
		for _, a := range am.alerts() {
			if a.Labels["alertname"] != "AuthwatchFlowFailing" || a.Labels["flow"] != "platform-legacy" {
				t.Errorf("Alertmanager delivered %v; only platform-legacy matches the warnings route", a.Labels)
				continue
			}
			if a.Labels["reason"] != "token_expired" || a.Labels["severity"] != "warning" || a.Labels["team"] != "platform" ||
				!strings.Contains(a.Annotations["summary"], "token_expired") || !strings.Contains(a.Annotations["description"], firstRunes(summaries["platform-legacy"], 60)) {
				t.Errorf("Alertmanager alert %v %v; want reason token_expired, severity warning, the summary", a.Labels, a.Annotations)
			}
		}
		if !strings.Contains(amAPI, `"flow":"platform-legacy"`) || strings.Contains(amAPI, "orders-export") || strings.Contains(amAPI, "billing-") {
			t.Errorf("Alertmanager's active alerts: %s; want platform-legacy only", amAPI)
		}
	})

	t.Run("secret canary", func(t *testing.T) {
		secrets := map[string]string{"hmac_secret": hmacKey, "webhook bearer": botToken, "pagerduty routing_key": pdKey,
			"slack url token": slackToken, "alertmanager bearer": amToken, "client secret": clientSecret,
			"demo billing secret": idp.BillingClientSecret, "demo legacy secret": idp.LegacyClientSecret}
		check := func(where, text string) {
			t.Helper()
			for name, s := range secrets {
				for _, form := range []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)),
					base64.StdEncoding.EncodeToString([]byte("canary-client:" + s))} {
					if i := strings.Index(text, form); i >= 0 {
						t.Errorf("%s carries the %s: ...%s...", where, name, text[max(0, i-80):min(len(text), i+len(form)+20)])
					}
				}
			}
		}
		// The webhook: signed, its bearer in Authorization only.
		for i, r := range bot.Requests() {
			if got := r.Header.Get("Authorization"); got != "Bearer "+botToken {
				t.Errorf("webhook request %d: Authorization %q, want the configured bearer", i, got)
			}
			if err := webhook.Verify([]byte(hmacKey), r.Header, r.Body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("webhook request %d: %v", i, err)
			}
			h := r.Header.Clone()
			h.Del("Authorization")
			check(fmt.Sprintf("webhook request %d", i), r.Path+fmt.Sprint(h)+string(r.Body))
		}
		// PagerDuty: the routing key in the body's routing_key only.
		for i, r := range pd.Requests() {
			var m map[string]any
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Errorf("pagerduty request %d: %v", i, err)
				continue
			}
			if m["routing_key"] != pdKey {
				t.Errorf("pagerduty request %d: routing_key is not the configured one", i)
			}
			delete(m, "routing_key")
			rest, _ := json.Marshal(m)
			check(fmt.Sprintf("pagerduty request %d", i), r.URI+fmt.Sprint(r.Header)+string(rest))
		}
		// Slack: the token in the URL path only.
		for i, r := range slack.Requests() {
			if r.Path != slackPath {
				t.Errorf("slack request %d went to another path", i)
			}
			check(fmt.Sprintf("slack request %d", i), fmt.Sprint(r.Header)+string(r.Body))
		}
		check("what Alertmanager delivered", am.raw())
		check("Alertmanager's alerts", amAPI)
		check("/metrics", metrics)
		check("/healthz", health)
		check("the daemon's log", out)
		// The receivers that echoed their secret were retried: the echo
		// reached the log's error, scrubbed.
		if pgCount(out, "notification delivery failed; will retry", "notifier=pd") == 0 || pgCount(out, "notification delivery failed; will retry", "notifier=slack") == 0 {
			t.Errorf("the first, echoing answers of PagerDuty and Slack were not logged as failed attempts; is the check looking at the right thing?")
		}
		if !strings.Contains(out, "flow=billing-canary") || !strings.Contains(out, "invalid_client") {
			t.Errorf("the log does not show the canary flow failing; is the check looking at the right thing?")
		}
	})
	if t.Failed() {
		t.Logf("pagerduty got %d requests, slack %d, the webhook %d; Alertmanager delivered %+v", len(pd.Requests()), len(slack.Requests()), len(bot.Requests()), am.alerts())
		t.Logf("daemon output:\n%s", out)
	}
}

// pdMessage is one Events API v2 message.
type pdMessage struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     struct {
		Summary       string         `json:"summary"`
		Severity      string         `json:"severity"`
		Component     string         `json:"component"`
		Class         string         `json:"class"`
		CustomDetails map[string]any `json:"custom_details"`
	} `json:"payload"`
}

// pdMessages returns the accepted messages (every request after the first,
// which the receiver refused) with the given action ("" for all).
func pdMessages(t *testing.T, pd *notifytest.Receiver, action string) []pdMessage {
	t.Helper()
	var out []pdMessage
	for i, r := range pd.Requests() {
		if i == 0 {
			continue // answered 503
		}
		if r.Path != "/v2/enqueue" {
			t.Errorf("pagerduty request to %s, want /v2/enqueue", r.Path)
		}
		var m pdMessage
		if err := r.JSON(&m); err != nil {
			t.Errorf("pagerduty request: %v", err)
			continue
		}
		if action == "" || m.EventAction == action {
			out = append(out, m)
		}
	}
	return out
}

// slackOK returns the Slack requests after the first (refused) one.
func slackOK(r *notifytest.Receiver) []notifytest.Request {
	reqs := r.Requests()
	if len(reqs) <= 1 {
		return nil
	}
	return reqs[1:]
}

func botSeverity(t *testing.T, bot *pgHook, flow string) notify.Severity {
	for _, d := range bot.Deliveries(t, flow) {
		return d.Event.Severity
	}
	return ""
}

func botKey(t *testing.T, bot *pgHook, flow string) string {
	for _, d := range bot.Deliveries(t, flow) {
		return d.Event.IncidentKey
	}
	return ""
}

// pgAllStrings joins every string value of a JSON document.
func pgAllStrings(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("not JSON: %v: %s", err, body)
		return ""
	}
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x)
			b.WriteByte('\n')
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

// pgSlackEscape is Slack's text escaping (&, <, >).
func pgSlackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func firstRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

func pgGetBody(t *testing.T, u string) string {
	t.Helper()
	resp, err := e2eClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}
