package alertmanager_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/testenv"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/alertmanager"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// The Debian package prometheus-alertmanager installs the binary under the
// package's name; upstream tarballs call it alertmanager.
var alertmanagerBinaries = []string{"prometheus-alertmanager", "alertmanager"}

// realAM is a real Alertmanager on 127.0.0.1 that routes every alert to a
// webhook receiver recording what it delivers.
type realAM struct {
	URL  string
	hook *webhook
}

func startAlertmanager(t *testing.T) *realAM {
	t.Helper()
	bin := ""
	for _, name := range alertmanagerBinaries {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		// testenv.Require's table does not know this tool's package yet.
		const msg = "neither prometheus-alertmanager nor alertmanager is on PATH; install it with: apt-get install prometheus-alertmanager"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this is a failure, not a skip)")
		}
		t.Skip(msg)
	}
	hook := newWebhook(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, cfg, fmt.Sprintf(amConfig, hook.URL))
	port := testenv.FreePort(t)
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
		"--cluster.listen-address=", // no clustering: no gossip port, no peers
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitFor(t, 20*time.Second, "alertmanager ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return &realAM{URL: base, hook: hook}
}

// amConfig routes everything to the webhook at once and sends resolutions.
const amConfig = `
route:
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
`

// gettableAlert is the part of GET /api/v2/alerts the tests read.
type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// alerts lists the active alerts named name (Alertmanager leaves resolved
// alerts out of this list).
func (am *realAM) alerts(t *testing.T, name string) []gettableAlert {
	t.Helper()
	q := url.Values{"filter": {`alertname="` + name + `"`}}
	resp, err := http.Get(am.URL + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatalf("GET /api/v2/alerts: %v", err)
	}
	defer resp.Body.Close()
	var out []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decoding /api/v2/alerts: %v", err)
	}
	return out
}

// webhook records Alertmanager's webhook notifications.
type webhook struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []webhookMsg
}

type webhookMsg struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhookMsg
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook: %v", err)
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// delivered reports whether the webhook got an alert with the given status
// and reason label.
func (h *webhook) delivered(status, reason string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		for _, a := range m.Alerts {
			if a.Status == status && a.Labels["reason"] == reason {
				return true
			}
		}
	}
	return false
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// realNotifier is a notifier for the real Alertmanager: real clock (the
// server compares endsAt with its own), plain loopback HTTP, the kit's
// reason layers (as the daemon passes the reason table's).
func realNotifier(t *testing.T, cfg *alertmanager.Config) notify.Notifier {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	n, err := cfg.New(notify.Deps{HTTP: &http.Client{Timeout: 10 * time.Second}, Now: time.Now, ReasonLayer: notifytest.ReasonLayer})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// liveEvent is notifytest's event on the real clock, with flow labels that
// need renaming to be valid Prometheus label names.
func liveEvent(typ notify.EventType, reason, layer string) notify.Event {
	ev := notifytest.Event(typ)
	now := time.Now()
	ev.Time, ev.FirstFailure = now, now.Add(-17*time.Minute)
	ev.Reason, ev.Layer = reason, layer
	ev.Labels["app.kubernetes.io/name"] = "orders"
	ev.Labels["1st-line"] = "yes"
	ev.Labels["__reserved"] = "dropped"
	return ev
}

func TestRealAlertmanagerIncidentLifecycle(t *testing.T) {
	am := startAlertmanager(t)
	n := realNotifier(t, &alertmanager.Config{URL: am.URL})
	ctx := context.Background()
	send := func(ev notify.Event) {
		t.Helper()
		if retry, err := n.Notify(ctx, ev); err != nil {
			t.Fatalf("Notify(%s): retry=%v err=%v", ev.Type, retry, err)
		}
	}

	// Opened: one firing alert with the reason and the flow's labels.
	opened := liveEvent(notify.Opened, "invalid_token", "app")
	send(opened)
	got := am.alerts(t, alertmanager.AlertName)
	if len(got) != 1 {
		t.Fatalf("after opened: %d active alerts, want 1: %+v", len(got), got)
	}
	a := got[0]
	wantLabels := map[string]string{
		"alertname": "AuthwatchFlowFailing", "flow": "okta-client-credentials",
		"reason": "invalid_token", "layer": "app", "severity": "critical",
		"team": "identity", "env": "prod", "region": "eu-west-1",
		"app_kubernetes_io_name": "orders", "_1st_line": "yes",
	}
	if !equalMaps(a.Labels, wantLabels) {
		t.Errorf("labels = %v\nwant     %v", a.Labels, wantLabels)
	}
	for _, k := range []string{"summary", "description", "next_step", "evidence", "request_ids", "status_url", "first_failure", "consecutive_failures"} {
		if a.Annotations[k] == "" {
			t.Errorf("annotation %s missing: %v", k, a.Annotations)
		}
	}
	if !strings.Contains(a.Annotations["description"], "Next step: ") || a.Annotations["summary"] != "FAILING okta-client-credentials: invalid_token" {
		t.Errorf("summary/description = %q / %q", a.Annotations["summary"], a.Annotations["description"])
	}
	if d := a.StartsAt.Sub(opened.FirstFailure); d < -time.Second || d > time.Second {
		t.Errorf("startsAt = %s, want the first failure %s", a.StartsAt, opened.FirstFailure)
	}
	if a.EndsAt.Before(time.Now().Add(23 * time.Hour)) {
		t.Errorf("endsAt = %s, want about now + 24h (alert_ttl)", a.EndsAt)
	}
	if a.GeneratorURL != opened.StatusURL || a.Status.State != "active" {
		t.Errorf("generatorURL = %q, state = %q", a.GeneratorURL, a.Status.State)
	}
	waitFor(t, 20*time.Second, "the webhook to get the firing alert", func() bool { return am.hook.delivered("firing", "invalid_token") })

	// Updated: the new reason fires, the previous reason's alert resolves.
	updated := liveEvent(notify.Updated, "audience_mismatch", "token") // previous: invalid_token
	send(updated)
	got = am.alerts(t, alertmanager.AlertName)
	if len(got) != 1 || got[0].Labels["reason"] != "audience_mismatch" || got[0].Labels["layer"] != "token" {
		t.Fatalf("after updated: want only the audience_mismatch alert, got %+v", got)
	}
	waitFor(t, 20*time.Second, "the webhook to get invalid_token resolved", func() bool { return am.hook.delivered("resolved", "invalid_token") })

	// Reminder: re-posted, still one alert.
	send(liveEvent(notify.Reminder, "audience_mismatch", "token"))
	if got = am.alerts(t, alertmanager.AlertName); len(got) != 1 {
		t.Fatalf("after reminder: %d active alerts, want 1", len(got))
	}

	// Resolved: nothing active, and the receiver hears of it.
	send(liveEvent(notify.Resolved, "audience_mismatch", "token"))
	if got = am.alerts(t, alertmanager.AlertName); len(got) != 0 {
		t.Fatalf("after resolved: %d active alerts, want 0: %+v", len(got), got)
	}
	waitFor(t, 20*time.Second, "the webhook to get audience_mismatch resolved", func() bool { return am.hook.delivered("resolved", "audience_mismatch") })
}

func TestRealAlertmanagerTestEvent(t *testing.T) {
	am := startAlertmanager(t)
	n := realNotifier(t, &alertmanager.Config{URL: am.URL})
	ev := notifytest.Event(notify.Test)
	if _, err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := am.alerts(t, alertmanager.TestAlertName)
	if len(got) != 1 || got[0].Labels["test"] != "true" || got[0].Annotations["summary"] != ev.Title() {
		t.Fatalf("test alert = %+v", got)
	}
	if ends := time.Until(got[0].EndsAt); ends < 4*time.Minute || ends > 6*time.Minute {
		t.Errorf("test alert ends in %s, want about 5m", ends)
	}
	if len(am.alerts(t, alertmanager.AlertName)) != 0 {
		t.Errorf("a test event must not fire %s", alertmanager.AlertName)
	}
}

func TestRealAlertmanagerHASet(t *testing.T) {
	am := startAlertmanager(t)
	dead := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	n := realNotifier(t, &alertmanager.Config{URL: dead, URLs: []string{am.URL}})
	if _, err := n.Notify(context.Background(), liveEvent(notify.Opened, "invalid_client", "idp")); err != nil {
		t.Fatalf("one of two Alertmanagers accepted the alert, yet: %v", err)
	}
	if got := am.alerts(t, alertmanager.AlertName); len(got) != 1 {
		t.Fatalf("%d active alerts, want 1", len(got))
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
