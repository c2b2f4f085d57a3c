package pagerduty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
	"github.com/authwatch/authwatch/notify/pagerduty"
)

// pdEvent is the Events API v2 event as documented
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/);
// decoded with unknown fields refused, so a field PagerDuty does not know
// fails the test.
type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload"`
	Images      []any      `json:"images"`
	Links       []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
	Client    string `json:"client"`
	ClientURL string `json:"client_url"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component"`
	Group         string         `json:"group"`
	Class         string         `json:"class"`
	CustomDetails map[string]any `json:"custom_details"`
}

// checkSchema is what PagerDuty requires of an event.
func checkSchema(r notifytest.Request) error {
	if r.Method != "POST" || r.Path != "/v2/enqueue" {
		return fmt.Errorf("%s %s, want POST /v2/enqueue", r.Method, r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q", ct)
	}
	var ev pdEvent
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return err
	}
	switch {
	case ev.RoutingKey == "":
		return fmt.Errorf("routing_key missing")
	case !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, ev.EventAction):
		return fmt.Errorf("event_action %q", ev.EventAction)
	case len(ev.DedupKey) > 255:
		return fmt.Errorf("dedup_key is %d characters, at most 255", len(ev.DedupKey))
	case ev.EventAction != "trigger" && ev.DedupKey == "":
		return fmt.Errorf("%s without dedup_key", ev.EventAction)
	case ev.EventAction == "trigger":
		return checkPayload(ev.Payload)
	}
	return nil
}

func checkPayload(p *pdPayload) error {
	switch {
	case p == nil:
		return fmt.Errorf("trigger without payload")
	case p.Summary == "" || utf8.RuneCountInString(p.Summary) > 1024:
		return fmt.Errorf("payload.summary is %d characters, want 1..1024", utf8.RuneCountInString(p.Summary))
	case p.Source == "":
		return fmt.Errorf("payload.source missing")
	case !slices.Contains([]string{"critical", "error", "warning", "info"}, p.Severity):
		return fmt.Errorf("payload.severity %q", p.Severity)
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339, p.Timestamp); err != nil {
			return fmt.Errorf("payload.timestamp: %v", err)
		}
	}
	return nil
}

var env = map[string]string{"PD_ROUTING_KEY": notifytest.APIKey}

func newNotifier(t testing.TB, url string, mod ...func(*pagerduty.Config)) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	cfg := &pagerduty.Config{RoutingKey: conf.NewTemplate("${env:PD_ROUTING_KEY}"), URL: url}
	for _, m := range mod {
		m(cfg)
	}
	return notifytest.NewNotifier(t, cfg, env)
}

// send delivers ev to a fresh receiver that checks the schema, and returns
// the events PagerDuty got.
func send(t *testing.T, ev notify.Event, mod ...func(*pagerduty.Config)) []pdEvent {
	t.Helper()
	rcv := notifytest.NewReceiver(t)
	rcv.SetCheck(checkSchema)
	n, log := newNotifier(t, rcv.URL, mod...)
	if retry, err := n.Notify(context.Background(), ev); err != nil {
		t.Fatalf("Notify(%s) = (%v, %v)", ev.Type, retry, err)
	}
	var out []pdEvent
	for _, r := range rcv.Requests() {
		var e pdEvent
		if err := r.JSON(&e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
		notifytest.CheckNoSecret(t, bytes.ReplaceAll(r.Body, []byte(`"routing_key":"`+notifytest.APIKey+`"`), nil))
	}
	notifytest.CheckNoSecret(t, log.Bytes())
	return out
}

func TestTrigger(t *testing.T) {
	ev := notifytest.Event(notify.Opened)
	got := send(t, ev)
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	e, p := got[0], got[0].Payload
	if e.RoutingKey != notifytest.APIKey || e.EventAction != "trigger" || e.DedupKey != ev.IncidentKey {
		t.Errorf("routing_key/event_action/dedup_key = %q/%q/%q", e.RoutingKey, e.EventAction, e.DedupKey)
	}
	wantSummary := "FAILING okta-client-credentials: audience_mismatch — " + ev.Summary
	if p.Summary != wantSummary {
		t.Errorf("summary = %q\nwant      %q", p.Summary, wantSummary)
	}
	if p.Source != ev.Host || p.Severity != "critical" || p.Component != ev.Flow || p.Group != "identity" || p.Class != "audience_mismatch" {
		t.Errorf("source/severity/component/group/class = %q/%q/%q/%q/%q", p.Source, p.Severity, p.Component, p.Group, p.Class)
	}
	if p.Timestamp != "2026-03-14T09:26:53Z" {
		t.Errorf("timestamp = %q", p.Timestamp)
	}
	d := p.CustomDetails
	for _, k := range []string{"summary", "next_step", "evidence", "request_ids", "first_failure", "consecutive_failures", "reason", "layer", "step", "labels", "status_url"} {
		if _, ok := d[k]; !ok {
			t.Errorf("custom_details.%s missing", k)
		}
	}
	if d["next_step"] != ev.NextStep || d["first_failure"] != "2026-03-14T09:09:53Z" || d["consecutive_failures"] != float64(4) {
		t.Errorf("custom_details = %v", d)
	}
	if ev, _ := d["evidence"].(map[string]any); ev["aud"] != `["api://default"]` {
		t.Errorf("custom_details.evidence = %v", d["evidence"])
	}
	if len(e.Links) != 1 || e.Links[0].Href != ev.StatusURL || e.ClientURL != ev.StatusURL {
		t.Errorf("links = %+v, client_url = %q", e.Links, e.ClientURL)
	}
}

func TestEventActions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		typ     notify.EventType
		actions []string
		summary string // a substring of the trigger's summary
	}{
		{"updated amends the incident", notify.Updated, []string{"trigger"}, "UPDATED okta-client-credentials: audience_mismatch (was invalid_token) — "},
		{"reminder re-triggers", notify.Reminder, []string{"trigger"}, "REMINDER okta-client-credentials: audience_mismatch — "},
		{"resolved resolves", notify.Resolved, []string{"resolve"}, ""},
		{"test triggers and resolves at once", notify.Test, []string{"trigger", "resolve"}, "TEST authwatch notification (no action needed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := notifytest.Event(tc.typ)
			got := send(t, ev)
			var actions []string
			for _, e := range got {
				actions = append(actions, e.EventAction)
			}
			if !slices.Equal(actions, tc.actions) {
				t.Fatalf("actions = %v, want %v", actions, tc.actions)
			}
			wantKey := ev.IncidentKey
			if tc.typ == notify.Test {
				wantKey = "authwatch-test-" + ev.ID // never the incident's own alert
			}
			for _, e := range got {
				if e.DedupKey != wantKey {
					t.Errorf("%s dedup_key = %q, want %q", e.EventAction, e.DedupKey, wantKey)
				}
			}
			if tc.summary != "" && !strings.HasPrefix(got[0].Payload.Summary, tc.summary) {
				t.Errorf("summary = %q, want prefix %q", got[0].Payload.Summary, tc.summary)
			}
			if tc.typ == notify.Test && got[0].Payload.Severity != "info" {
				t.Errorf("a test is severity %q, want info", got[0].Payload.Severity)
			}
			if tc.typ == notify.Resolved && got[0].Payload != nil {
				t.Errorf("a resolve carries a payload: %+v", got[0].Payload)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	for _, typ := range notifytest.EventTypes {
		t.Run(string(typ), func(t *testing.T) {
			ev := notifytest.Hostile(typ)
			ev.IncidentKey = strings.Repeat("k", 400)
			for _, e := range send(t, ev) { // checkSchema enforces 1024 and 255
				if e.Payload != nil && !strings.HasSuffix(e.Payload.Summary, "…") && typ != notify.Test {
					t.Errorf("a 10,000-character summary was not cut: %d characters", len(e.Payload.Summary))
				}
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		event    notify.Severity
		override string
		want     string
	}{
		{notify.SeverityCritical, "", "critical"},
		{notify.SeverityWarning, "", "warning"},
		{notify.SeverityInfo, "", "info"},
		{"", "", "error"},
		{"bogus", "", "error"},
		{notify.SeverityInfo, "critical", "critical"},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.event, tc.override), func(t *testing.T) {
			ev := notifytest.Event(notify.Opened)
			ev.Severity = tc.event
			got := send(t, ev, func(c *pagerduty.Config) { c.Severity = tc.override })
			if s := got[0].Payload.Severity; s != tc.want {
				t.Errorf("severity = %q, want %q", s, tc.want)
			}
		})
	}
}

func TestStatusCodes(t *testing.T) {
	notifytest.CheckStatusCodes(t, func(url string) notify.Notifier {
		n, _ := newNotifier(t, url)
		return n
	})
}

func TestNoSecretInErrors(t *testing.T) {
	t.Run("echoed by the receiver", func(t *testing.T) {
		body := `{"status":"invalid event","message":"Event object is invalid","errors":["bad routing_key ` + notifytest.APIKey + `"]}`
		rcv := notifytest.NewReceiver(t, notifytest.Response{Status: 400, Body: body})
		n, log := newNotifier(t, rcv.URL)
		retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
		if err == nil || retry {
			t.Fatalf("Notify = (%v, %v), want (false, error)", retry, err)
		}
		if !strings.Contains(err.Error(), "Event object is invalid") {
			t.Errorf("the error drops PagerDuty's explanation: %v", err)
		}
		notifytest.CheckNoSecretInError(t, err)
		notifytest.CheckNoSecret(t, log.Bytes())
	})
	t.Run("secret missing", func(t *testing.T) {
		n, _ := notifytest.NewNotifier(t, &pagerduty.Config{RoutingKey: conf.NewTemplate("${env:NOT_SET}"), URL: "https://127.0.0.1:1"}, env)
		retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
		if err == nil || !retry || !strings.Contains(err.Error(), "NOT_SET") {
			t.Fatalf("Notify = (%v, %v), want (true: the secret may appear, an error naming NOT_SET)", retry, err)
		}
	})
}

func TestRoutingKeyReadOnEverySend(t *testing.T) {
	keys := map[string]string{"PD_ROUTING_KEY": "first-key"}
	rcv := notifytest.NewReceiver(t)
	n, _ := notifytest.NewNotifier(t, &pagerduty.Config{RoutingKey: conf.NewTemplate("${env:PD_ROUTING_KEY}"), URL: rcv.URL}, keys)
	for _, want := range []string{"first-key", "rotated-key"} {
		keys["PD_ROUTING_KEY"] = want
		if _, err := n.Notify(context.Background(), notifytest.Event(notify.Opened)); err != nil {
			t.Fatal(err)
		}
		var e pdEvent
		if err := rcv.Last(t).JSON(&e); err != nil || e.RoutingKey != want {
			t.Errorf("routing_key = %q (%v), want %q", e.RoutingKey, err, want)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error; none: valid
	}{
		{"documented example", "routing_key: ${credential:pagerduty_routing_key}\nseverity: critical\n", nil},
		{"url override on loopback", "routing_key: ${env:K}\nurl: http://127.0.0.1:8080\n", nil},
		{"literal key", "routing_key: R0123456789abcdef0123456789abcde\n", nil},
		{"missing key", "severity: info\n", []string{"routing_key: required"}},
		{"step output", "routing_key: ${steps.token.access_token}\n", []string{"routing_key: step outputs"}},
		{"malformed, not echoed", "routing_key: 'secretpart${oops'\n", []string{"routing_key: malformed reference"}},
		{"http elsewhere", "routing_key: ${env:K}\nurl: http://events.example.com\n", []string{"url: must use https"}},
		{"credentials in url", "routing_key: ${env:K}\nurl: https://u:p@events.example.com\n", []string{"url: must not carry credentials"}},
		{"not a url", "routing_key: ${env:K}\nurl: events.example.com\n", []string{"url: must be an absolute https URL"}},
		{"bad severity", "routing_key: ${env:K}\nseverity: high\n", []string{`severity: must be one of critical, error, warning, info, got "high"`}},
		{"all at once", "url: ftp://x\nseverity: P1\n", []string{"routing_key:", "url:", "severity:"}},
	} {
		t.Run(tc.name, func(t *testing.T) { notifytest.CheckConfig(t, &pagerduty.Config{}, tc.yaml, tc.want...) })
	}
}

func TestRegistered(t *testing.T) {
	k, ok := notify.Lookup("pagerduty")
	if !ok {
		t.Fatal("kind pagerduty not registered")
	}
	if _, ok := k.NewConfig().(*pagerduty.Config); !ok || k.Doc == "" {
		t.Errorf("kind = %+v", k)
	}
}
