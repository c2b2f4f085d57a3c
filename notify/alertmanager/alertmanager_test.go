package alertmanager_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/alertmanager"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// amAlert is a postableAlert of Alertmanager's API v2
// (api/v2/openapi.yaml); unknown fields are refused.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// checkSchema is what POST /api/v2/alerts requires.
func checkSchema(r notifytest.Request) error {
	if r.Method != "POST" || r.Path != "/api/v2/alerts" {
		return fmt.Errorf("%s %s, want POST /api/v2/alerts", r.Method, r.Path)
	}
	var alerts []amAlert
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&alerts); err != nil {
		return err
	}
	if len(alerts) == 0 {
		return fmt.Errorf("no alerts")
	}
	for i, a := range alerts {
		if a.Labels["alertname"] == "" {
			return fmt.Errorf("alert %d: no alertname", i)
		}
		for k, v := range a.Labels {
			if !labelName.MatchString(k) || strings.HasPrefix(k, "__") || v == "" {
				return fmt.Errorf("alert %d: label %q=%q", i, k, v)
			}
		}
		if !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
			return fmt.Errorf("alert %d: endsAt %s before startsAt %s", i, a.EndsAt, a.StartsAt)
		}
	}
	return nil
}

var env = map[string]string{"AM_TOKEN": notifytest.BearerToken, "AM_USER": "authwatch", "AM_PASSWORD": notifytest.APIKey}

func newNotifier(t testing.TB, cfg *alertmanager.Config) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	return notifytest.NewNotifier(t, cfg, env)
}

// send posts ev to a fresh receiver that checks the schema and returns the
// alerts it got.
func send(t *testing.T, ev notify.Event, mod ...func(*alertmanager.Config)) ([]amAlert, notifytest.Request) {
	t.Helper()
	rcv := notifytest.NewReceiver(t)
	rcv.SetCheck(checkSchema)
	cfg := &alertmanager.Config{URL: rcv.URL, Bearer: conf.NewTemplate("${env:AM_TOKEN}")}
	for _, m := range mod {
		m(cfg)
	}
	n, log := newNotifier(t, cfg)
	if retry, err := n.Notify(context.Background(), ev); err != nil {
		t.Fatalf("Notify(%s) = (%v, %v)", ev.Type, retry, err)
	}
	r := rcv.Last(t)
	var alerts []amAlert
	if err := r.JSON(&alerts); err != nil {
		t.Fatal(err)
	}
	notifytest.CheckNoSecret(t, r.Body)
	notifytest.CheckNoSecret(t, log.Bytes())
	return alerts, r
}

func TestFiring(t *testing.T) {
	ev := notifytest.Event(notify.Opened)
	alerts, r := send(t, ev)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+notifytest.BearerToken {
		t.Errorf("Authorization %q", got)
	}
	a := alerts[0]
	want := map[string]string{"alertname": "AuthwatchFlowFailing", "flow": ev.Flow, "reason": "audience_mismatch", "layer": "token",
		"severity": "critical", "team": "identity", "env": "prod", "region": "eu-west-1"}
	if !equalMaps(a.Labels, want) {
		t.Errorf("labels = %v\nwant     %v", a.Labels, want)
	}
	if a.Annotations["summary"] != "FAILING okta-client-credentials: audience_mismatch" ||
		a.Annotations["description"] != ev.Summary+"\n\nNext step: "+ev.NextStep ||
		a.Annotations["next_step"] != ev.NextStep || a.Annotations["status_url"] != ev.StatusURL ||
		!strings.Contains(a.Annotations["evidence"], "aud: [\"api://default\"]") ||
		!strings.Contains(a.Annotations["request_ids"], "x-request-id: 7d9c2b1e") ||
		a.Annotations["consecutive_failures"] != "4" || a.Annotations["first_failure"] != "2026-03-14T09:09:53Z" {
		t.Errorf("annotations = %v", a.Annotations)
	}
	if !a.StartsAt.Equal(ev.FirstFailure) || !a.EndsAt.Equal(notifytest.Now.Add(24*time.Hour)) || a.GeneratorURL != ev.StatusURL {
		t.Errorf("startsAt/endsAt/generatorURL = %s/%s/%s", a.StartsAt, a.EndsAt, a.GeneratorURL)
	}
}

func TestUpdatedResolvesThePreviousReason(t *testing.T) {
	alerts, _ := send(t, notifytest.Event(notify.Updated))
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want the new one and the previous one resolved", len(alerts))
	}
	cur, prev := alerts[0], alerts[1]
	if cur.Labels["reason"] != "audience_mismatch" || !cur.EndsAt.After(notifytest.Now) {
		t.Errorf("current: %v ends %s", cur.Labels, cur.EndsAt)
	}
	if prev.Labels["reason"] != "invalid_token" || prev.Labels["layer"] != "app" || !prev.EndsAt.Equal(notifytest.Now) {
		t.Errorf("previous: %v ends %s; want reason invalid_token, layer app (the reason table's), ended now", prev.Labels, prev.EndsAt)
	}
	for k, v := range cur.Labels {
		if k != "reason" && k != "layer" && prev.Labels[k] != v {
			t.Errorf("label %s differs: %q vs %q (the previous alert would not match)", k, v, prev.Labels[k])
		}
	}
}

func TestReminderAndResolved(t *testing.T) {
	alerts, _ := send(t, notifytest.Event(notify.Reminder), func(c *alertmanager.Config) { c.AlertTTL = conf.Dur(6 * time.Hour) })
	if len(alerts) != 1 || !alerts[0].EndsAt.Equal(notifytest.Now.Add(6*time.Hour)) {
		t.Errorf("reminder: %+v, want one alert ending at now + alert_ttl", alerts)
	}
	firing := alerts[0].Labels
	alerts, _ = send(t, notifytest.Event(notify.Resolved))
	if len(alerts) != 1 || !alerts[0].EndsAt.Equal(notifytest.Now) || !equalMaps(alerts[0].Labels, firing) {
		t.Errorf("resolved: %+v, want the firing labels %v ended now", alerts, firing)
	}
}

func TestTestEvent(t *testing.T) {
	ev := notifytest.Event(notify.Test)
	alerts, _ := send(t, ev)
	if len(alerts) != 1 || alerts[0].Labels["alertname"] != "AuthwatchTest" || alerts[0].Annotations["summary"] != ev.Title() ||
		!alerts[0].EndsAt.Equal(notifytest.Now.Add(5*time.Minute)) {
		t.Errorf("test: %+v", alerts)
	}
}

func TestHostile(t *testing.T) {
	for _, typ := range notifytest.EventTypes {
		t.Run(string(typ), func(t *testing.T) {
			ev := notifytest.Hostile(typ)
			ev.Labels["app.kubernetes.io/name"] = "x"
			ev.Labels["__name__"] = "reserved"
			ev.Labels["reason"] = "a flow label must not override the reason"
			alerts, _ := send(t, ev) // checkSchema checks label names
			if r := alerts[0].Labels["reason"]; typ != notify.Test && r != ev.Reason {
				t.Errorf("reason label = %q", r)
			}
		})
	}
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"team": "team", "app.kubernetes.io/name": "app_kubernetes_io_name", "1st": "_1st",
		"über": "_ber", "__name__": "", "": "", "a-b": "a_b", "_x": "_x", "-.x": "_x", "日本": "_",
	} {
		if got := alertmanager.LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLabelClashIsStable(t *testing.T) {
	ev := notifytest.Event(notify.Opened)
	ev.Labels = map[string]string{"a-b": "dash", "a.b": "dot", "a_b": "exact", "c-d": "dash", "c.d": "dot"}
	for range 5 {
		alerts, _ := send(t, ev)
		if l := alerts[0].Labels; l["a_b"] != "exact" || l["c_d"] != "dash" {
			t.Fatalf("labels = %v: the exact name wins, else the first in order", l)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	_, r := send(t, notifytest.Event(notify.Opened), func(c *alertmanager.Config) {
		c.Bearer = conf.Template{}
		c.BasicAuth = &alertmanager.BasicAuth{Username: conf.NewTemplate("${env:AM_USER}"), Password: conf.NewTemplate("${env:AM_PASSWORD}")}
	})
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("authwatch:"+notifytest.APIKey))
	if got := r.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization %q, want %q", got, want)
	}
}

func TestStatusCodes(t *testing.T) {
	notifytest.CheckStatusCodes(t, func(url string) notify.Notifier {
		n, _ := newNotifier(t, &alertmanager.Config{URL: url, Bearer: conf.NewTemplate("${env:AM_TOKEN}")})
		return n
	})
}

func TestNoSecretInErrors(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte("authwatch:" + notifytest.APIKey))
	rcv := notifytest.NewReceiver(t, notifytest.Response{Status: 400, Body: "bad request from Basic " + basic + " pw " + notifytest.APIKey})
	n, log := newNotifier(t, &alertmanager.Config{URL: rcv.URL,
		BasicAuth: &alertmanager.BasicAuth{Username: conf.NewTemplate("${env:AM_USER}"), Password: conf.NewTemplate("${env:AM_PASSWORD}")}})
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if err == nil || retry {
		t.Fatalf("Notify = (%v, %v)", retry, err)
	}
	notifytest.CheckNoSecretInError(t, err, notifytest.APIKey, basic)
	notifytest.CheckNoSecret(t, log.Bytes(), notifytest.APIKey, basic)
}

func TestHASet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int
		wantErr   bool
		wantRetry bool
	}{
		{"one accepts", []int{503, 200}, false, false},
		{"all refuse, one may later", []int{400, 503}, true, true},
		{"all refuse for good", []int{400, 422}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var urls []string
			for _, s := range tc.statuses {
				urls = append(urls, notifytest.NewReceiver(t, notifytest.Response{Status: s, Body: "no"}).URL)
			}
			n, log := newNotifier(t, &alertmanager.Config{URLs: urls})
			retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
			if (err != nil) != tc.wantErr || retry != tc.wantRetry {
				t.Fatalf("Notify = (%v, %v), want error %v, retry %v", retry, err, tc.wantErr, tc.wantRetry)
			}
			if !tc.wantErr && !strings.Contains(log.String(), "503") {
				t.Errorf("the refusal of the other Alertmanager was not logged: %s", log)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"documented example", "url: http://alertmanager:9093\nalert_ttl: 24h\n", nil},
		{"HA with bearer", "urls: [https://am-1:9093, https://am-2:9093]\nbearer: ${credential:alertmanager_token}\n", nil},
		{"basic auth on loopback http", "url: http://127.0.0.1:9093\nbasic_auth: {username: authwatch, password: '${env:AM_PASSWORD}'}\n", nil},
		{"no url", "alert_ttl: 1h\n", []string{"url: required"}},
		{"api path", "url: http://am:9093/api/v2/alerts\n", []string{"url: give the base URL"}},
		{"credentials in clear", "url: http://am:9093\nbearer: ${env:T}\n", []string{"url: must use https when basic_auth or bearer is set"}},
		{"credentials in url", "url: https://u:p@am:9093\n", []string{"url: must not carry credentials: use basic_auth"}},
		{"both auths", "url: https://am\nbearer: ${env:T}\nbasic_auth: {username: a, password: b}\n", []string{"bearer: give bearer or basic_auth, not both"}},
		{"basic without password", "url: https://am\nbasic_auth: {username: a}\n", []string{"basic_auth.password: required"}},
		{"bad urls entry", "urls: [https://am, 'am-2:9093']\n", []string{"urls[1]: must be an absolute http or https URL"}},
		{"bad ttl", "url: https://am\nalert_ttl: 5 minutes\n", []string{"alert_ttl: bad duration"}},
		{"short ttl", "url: https://am\nalert_ttl: 10s\n", []string{"alert_ttl: must be at least 1m"}},
		{"ttl in days", "url: https://am\nalert_ttl: 2d\n", nil},
		{"malformed bearer, not echoed", "url: https://am\nbearer: 'secretpart${x'\n", []string{"bearer: malformed reference"}},
	} {
		t.Run(tc.name, func(t *testing.T) { notifytest.CheckConfig(t, &alertmanager.Config{}, tc.yaml, tc.want...) })
	}
}

func TestRegistered(t *testing.T) {
	if k, ok := notify.Lookup("alertmanager"); !ok || k.Doc == "" {
		t.Fatal("kind alertmanager not registered")
	}
}
