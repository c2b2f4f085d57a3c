package alertmanager

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// Alert names.
const (
	AlertName     = "AuthwatchFlowFailing"
	TestAlertName = "AuthwatchTest"
	// testTTL is how long a test alert fires: long enough to pass
	// group_wait and reach the receiver, short enough to need no cleanup.
	testTTL = 5 * time.Minute
)

// Notifier posts events to one Alertmanager (or an HA set).
type Notifier struct {
	cfg         Config
	send        httpsend.Sender
	reasonLayer func(reason string) string // notify.Deps.ReasonLayer
}

var _ notify.Notifier = (*Notifier)(nil)

func newNotifier(c Config, d notify.Deps) *Notifier {
	return &Notifier{cfg: c, send: httpsend.NewSender(d), reasonLayer: d.ReasonLayer}
}

// postableAlert is one element of POST /api/v2/alerts
// (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notify posts the event's alert to every configured Alertmanager and
// succeeds when one of them accepted it (an HA cluster gossips it on).
//
// Opened, updated and reminder post a firing alert whose endsAt is now +
// alert_ttl, so each reminder keeps it firing. Updated also resolves the
// previous reason's alert (its labels differ). Resolved posts the alert
// with endsAt = now. A test event fires an AuthwatchTest alert for 5m.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	alerts, err := n.alerts(ev)
	if err != nil {
		return false, fmt.Errorf("alertmanager: %w", err)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return false, fmt.Errorf("alertmanager: encoding the alerts: %w", err)
	}
	hdr, secrets, err := n.auth()
	if err != nil {
		return true, err // the secret file may be mid-rotation: retry, do not drop the page
	}
	return n.postAll(ctx, httpsend.Request{Header: hdr, Body: body, Secrets: secrets})
}

// postAll posts r to each Alertmanager in turn until one accepts it; retry
// is true when any refusal may pass on another attempt.
func (n *Notifier) postAll(ctx context.Context, r httpsend.Request) (bool, error) {
	var errs []error
	retry := false
	for _, base := range n.cfg.endpoints() {
		r.URL = strings.TrimSuffix(base, "/") + "/api/v2/alerts"
		again, err := n.send.Post(ctx, r)
		if err == nil {
			n.logPartial(errs)
			return false, nil
		}
		retry = retry || again
		errs = append(errs, fmt.Errorf("%s: %w", base, err))
	}
	return retry, fmt.Errorf("alertmanager: %w", errors.Join(errs...))
}

// logPartial notes the Alertmanagers that refused an alert another one
// accepted: not an error of this call, but worth knowing.
func (n *Notifier) logPartial(errs []error) {
	for _, err := range errs {
		n.send.Log.Warn("an Alertmanager refused an alert another one accepted", "error", err)
	}
}

// auth is the Authorization header and the secret values to scrub.
func (n *Notifier) auth() (http.Header, []string, error) {
	switch {
	case n.cfg.BasicAuth != nil:
		return n.basicAuth()
	case !n.cfg.Bearer.IsZero():
		tok, err := httpsend.ResolveSecret("alertmanager", "bearer", n.cfg.Bearer, n.send.Secrets)
		if err != nil {
			return nil, nil, err
		}
		return http.Header{"Authorization": {"Bearer " + tok}}, []string{tok}, nil
	}
	return nil, nil, nil
}

// basicAuth is auth with basic_auth: the encoded pair is a secret too.
func (n *Notifier) basicAuth() (http.Header, []string, error) {
	user, err := httpsend.ResolveSecret("alertmanager", "basic_auth.username", n.cfg.BasicAuth.Username, n.send.Secrets)
	if err != nil {
		return nil, nil, err
	}
	pass, err := httpsend.ResolveSecret("alertmanager", "basic_auth.password", n.cfg.BasicAuth.Password, n.send.Secrets)
	if err != nil {
		return nil, nil, err
	}
	cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return http.Header{"Authorization": {"Basic " + cred}}, []string{cred, pass}, nil
}

func (n *Notifier) alerts(ev notify.Event) ([]postableAlert, error) {
	now := n.send.Now()
	switch ev.Type {
	case notify.Opened, notify.Reminder:
		return []postableAlert{n.alert(ev, ev.Reason, now.Add(n.cfg.AlertTTL.Or(DefaultAlertTTL)))}, nil
	case notify.Updated:
		out := []postableAlert{n.alert(ev, ev.Reason, now.Add(n.cfg.AlertTTL.Or(DefaultAlertTTL)))}
		if ev.PreviousReason != "" && ev.PreviousReason != ev.Reason {
			out = append(out, n.alert(ev, ev.PreviousReason, now))
		}
		return out, nil
	case notify.Resolved:
		return []postableAlert{n.alert(ev, ev.Reason, now)}, nil
	case notify.Test:
		return []postableAlert{testAlert(ev, now)}, nil
	}
	return nil, fmt.Errorf("unknown event type %q", ev.Type)
}

// alert is the incident's alert for reason, ending at endsAt (in the future
// while firing, now when resolved).
func (n *Notifier) alert(ev notify.Event, reason string, endsAt time.Time) postableAlert {
	start := ev.FirstFailure
	if start.IsZero() {
		start = ev.Time
	}
	if start.IsZero() || start.After(endsAt) {
		start = endsAt
	}
	return postableAlert{
		Labels:       n.labels(ev, reason),
		Annotations:  annotations(ev),
		StartsAt:     start.UTC(),
		EndsAt:       endsAt.UTC(),
		GeneratorURL: ev.StatusURL,
	}
}

func testAlert(ev notify.Event, now time.Time) postableAlert {
	return postableAlert{
		Labels: map[string]string{"alertname": TestAlertName, "severity": "info", "test": "true"},
		Annotations: map[string]string{
			"summary":     ev.Title(),
			"description": "Sent by `authwatch notify test` to check that this route reaches people. No action needed: it resolves by itself in 5 minutes.",
		},
		StartsAt: now.UTC(),
		EndsAt:   now.Add(testTTL).UTC(),
	}
}

// labels identify the alert: Alertmanager tells alerts apart by their whole
// label set, so every label must be the same on each post of one incident.
// A flow label never overrides alertname, flow, reason, layer or severity.
func (n *Notifier) labels(ev notify.Event, reason string) map[string]string {
	l := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(ev.Labels)) { // sorted: the same label set on every post
		name, v := LabelName(k), ev.Labels[k]
		if _, dup := l[name]; (!dup || name == k) && name != "" && v != "" {
			l[name] = v // a name that needed no renaming wins a clash
		}
	}
	set := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	set("alertname", AlertName)
	set("flow", ev.Flow)
	set("reason", reason)
	set("layer", n.layerOf(reason, ev))
	set("severity", string(ev.Severity))
	return l
}

// layerOf is the reason's layer: the event's own for its reason, else the
// reason table's (the previous reason of an update), else the event's.
func (n *Notifier) layerOf(reason string, ev notify.Event) string {
	if reason == ev.Reason && ev.Layer != "" {
		return ev.Layer
	}
	if n.reasonLayer != nil {
		if layer := n.reasonLayer(reason); layer != "" {
			return layer
		}
	}
	return ev.Layer
}

// LabelName turns a flow label name into a Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*): every other character becomes "_" and a leading
// digit gets a "_" prefix. Names starting with "__" are reserved for
// Prometheus and Alertmanager internals: LabelName returns "" for them, and
// never makes one by renaming.
func LabelName(s string) string {
	if s == "" || strings.HasPrefix(s, "__") {
		return ""
	}
	out := strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
	if out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	if strings.HasPrefix(out, "__") {
		out = "_" + strings.TrimLeft(out, "_")
	}
	return out
}

// annotations carry what a person reads: the headline, why, what to do.
func annotations(ev notify.Event) map[string]string {
	a := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set("summary", headline(ev))
	set("description", description(ev))
	set("next_step", ev.NextStep)
	set("step", ev.Step)
	set("previous_reason", ev.PreviousReason)
	set("status_url", ev.StatusURL)
	set("evidence", facts(ev.Evidence))
	set("request_ids", requestIDs(ev.RequestIDs))
	if !ev.FirstFailure.IsZero() {
		set("first_failure", ev.FirstFailure.UTC().Format(time.RFC3339))
	}
	if ev.Failures > 0 {
		set("consecutive_failures", strconv.Itoa(ev.Failures))
	}
	set("monitor_host", ev.Host)
	return a
}

func headline(ev notify.Event) string {
	h := ev.Title()
	if ev.Type == notify.Updated && ev.PreviousReason != "" {
		h += " (was " + ev.PreviousReason + ")"
	}
	return h
}

// description is the summary and the next step, as one text.
func description(ev notify.Event) string {
	var parts []string
	if ev.Summary != "" {
		parts = append(parts, ev.Summary)
	}
	if ev.NextStep != "" {
		parts = append(parts, "Next step: "+ev.NextStep)
	}
	return strings.Join(parts, "\n\n")
}

func facts(fs []notify.Fact) string {
	lines := make([]string, 0, len(fs))
	for _, f := range fs {
		lines = append(lines, f.Name+": "+f.Value)
	}
	return strings.Join(lines, "\n")
}

func requestIDs(ids map[string]string) string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(ids)) {
		lines = append(lines, k+": "+ids[k])
	}
	return strings.Join(lines, "\n")
}
