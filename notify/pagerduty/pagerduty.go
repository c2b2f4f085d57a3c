package pagerduty

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/fit"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// Events API v2 limits (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
const (
	maxSummary  = 1024
	maxDedupKey = 255
)

// Notifier sends events to one PagerDuty integration.
type Notifier struct {
	cfg  Config
	send httpsend.Sender
}

var _ notify.Notifier = (*Notifier)(nil)

func newNotifier(c Config, d notify.Deps) *Notifier {
	return &Notifier{cfg: c, send: httpsend.NewSender(d)}
}

// message is one Events API v2 event.
type message struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger | acknowledge | resolve
	DedupKey    string   `json:"dedup_key,omitempty"`
	Payload     *payload `json:"payload,omitempty"` // trigger only
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []link   `json:"links,omitempty"`
}

type payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Notify triggers (opened, updated, reminder) or resolves (resolved) the
// incident's alert; a test event is triggered and resolved at once.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	msgs, err := n.messages(ev)
	if err != nil {
		return false, fmt.Errorf("pagerduty: %w", err)
	}
	key, err := httpsend.ResolveSecret("pagerduty", "routing_key", n.cfg.RoutingKey, n.send.Secrets)
	if err != nil {
		return true, err // the secret file may be mid-rotation: retry, do not drop the page
	}
	for _, m := range msgs {
		m.RoutingKey = key
		if retry, err := n.post(ctx, m); err != nil {
			return retry, fmt.Errorf("pagerduty: %s %s: %w", m.EventAction, m.DedupKey, err)
		}
	}
	return false, nil
}

// post sends one event; the routing key in it is the secret to scrub.
func (n *Notifier) post(ctx context.Context, m message) (bool, error) {
	return n.send.PostJSON(ctx, strings.TrimSuffix(n.cfg.URL, "/")+"/v2/enqueue", nil, m, m.RoutingKey)
}

func (n *Notifier) messages(ev notify.Event) ([]message, error) {
	switch ev.Type {
	case notify.Opened, notify.Updated, notify.Reminder:
		return []message{n.trigger(ev)}, nil
	case notify.Resolved:
		return []message{resolve(dedupKey(ev.IncidentKey))}, nil
	case notify.Test:
		t := n.testTrigger(ev)
		return []message{t, resolve(t.DedupKey)}, nil
	}
	return nil, fmt.Errorf("unknown event type %q", ev.Type)
}

func (n *Notifier) trigger(ev notify.Event) message {
	m := message{
		EventAction: "trigger",
		DedupKey:    dedupKey(ev.IncidentKey),
		Client:      "authwatch",
		ClientURL:   ev.StatusURL,
		Payload: &payload{
			Summary:       fit.Runes(headline(ev), maxSummary),
			Source:        source(ev),
			Severity:      n.severity(ev.Severity),
			Timestamp:     n.timestamp(ev),
			Component:     ev.Flow,
			Group:         ev.Labels["team"],
			Class:         ev.Reason,
			CustomDetails: details(ev),
		},
	}
	if ev.StatusURL != "" {
		m.Links = []link{{Href: ev.StatusURL, Text: "authwatch status of " + ev.Flow}}
	}
	return m
}

func (n *Notifier) testTrigger(ev notify.Event) message {
	key := "authwatch-test"
	if id := cmp.Or(ev.ID, ev.IncidentKey); id != "" {
		key += "-" + id
	}
	return message{
		EventAction: "trigger",
		DedupKey:    dedupKey(key),
		Client:      "authwatch",
		Payload: &payload{
			Summary:   ev.Title(),
			Source:    source(ev),
			Severity:  "info",
			Timestamp: n.timestamp(ev),
			Component: "authwatch",
			Class:     "test",
			CustomDetails: map[string]any{
				"test": "sent by `authwatch notify test`; resolved right after it was triggered",
			},
		},
	}
}

func resolve(key string) message {
	return message{EventAction: "resolve", DedupKey: key}
}

// headline is the alert's summary: what failed, why, and the evidence.
func headline(ev notify.Event) string {
	h := ev.Title()
	if ev.Type == notify.Updated && ev.PreviousReason != "" {
		h += " (was " + ev.PreviousReason + ")"
	}
	if ev.Summary != "" {
		h += " — " + ev.Summary
	}
	return h
}

// source is the monitor's host: where the page came from.
func source(ev notify.Event) string {
	return cmp.Or(ev.Host, "authwatch")
}

// severity maps the event's severity to PagerDuty's; a configured severity
// wins, and an unknown one is "error".
func (n *Notifier) severity(s notify.Severity) string {
	if n.cfg.Severity != "" {
		return n.cfg.Severity
	}
	switch s {
	case notify.SeverityCritical, notify.SeverityWarning, notify.SeverityInfo:
		return string(s)
	}
	return "error"
}

func (n *Notifier) timestamp(ev notify.Event) string {
	t := ev.Time
	if t.IsZero() {
		t = n.send.Now()
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// dedupKey is the incident key, hashed when it exceeds PagerDuty's limit.
func dedupKey(k string) string { return fit.Key(k, maxDedupKey) }

// details are the alert's custom_details: everything a responder needs.
func details(ev notify.Event) map[string]any {
	d := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	set("flow", ev.Flow)
	set("step", ev.Step)
	set("reason", ev.Reason)
	set("layer", ev.Layer)
	set("summary", ev.Summary)
	set("next_step", ev.NextStep)
	set("previous_reason", ev.PreviousReason)
	set("status_url", ev.StatusURL)
	set("monitor_host", ev.Host)
	set("region", ev.Region)
	set("event", string(ev.Type))
	if !ev.FirstFailure.IsZero() {
		d["first_failure"] = ev.FirstFailure.UTC().Format(time.RFC3339)
	}
	if ev.Failures > 0 {
		d["consecutive_failures"] = ev.Failures
	}
	if len(ev.Evidence) > 0 {
		d["evidence"] = evidence(ev.Evidence)
	}
	if len(ev.RequestIDs) > 0 {
		d["request_ids"] = ev.RequestIDs
	}
	if len(ev.Labels) > 0 {
		d["labels"] = ev.Labels
	}
	return d
}

// evidence is the facts as an object; a repeated name keeps every value.
func evidence(facts []notify.Fact) map[string]string {
	m := make(map[string]string, len(facts))
	for _, f := range facts {
		if prev, ok := m[f.Name]; ok {
			m[f.Name] = prev + "; " + f.Value
			continue
		}
		m[f.Name] = f.Value
	}
	return m
}
