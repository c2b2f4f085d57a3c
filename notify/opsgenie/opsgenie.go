package opsgenie

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/fit"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// Alert API v2 limits (https://docs.opsgenie.com/docs/alert-api).
const (
	maxMessage     = 130
	maxAlias       = 512
	maxDescription = 15000
	maxTags        = 20
	maxTagLen      = 50
	maxDetails     = 8000 // characters of all keys and values together
	maxEntity      = 512
	maxSource      = 100
	maxNote        = 25000
)

// Notifier sends events to one Opsgenie API integration.
type Notifier struct {
	cfg  Config
	send httpsend.Sender
}

var _ notify.Notifier = (*Notifier)(nil)

func newNotifier(c Config, d notify.Deps) *Notifier {
	return &Notifier{cfg: c, send: httpsend.NewSender(d)}
}

// createAlert is the body of POST /v2/alerts.
type createAlert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	User        string            `json:"user,omitempty"`
}

// actionBody is the body of the close and add-note actions.
type actionBody struct {
	User   string `json:"user,omitempty"`
	Source string `json:"source,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Notify creates (opened), annotates (updated, reminder) or closes
// (resolved) the alert whose alias is the incident key. A test event creates
// a P5 alert tagged "test" and leaves it open: Opsgenie processes requests
// asynchronously, so a close sent right after the create may be handled
// first and fail, and the open alert is what proves the route reaches people.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	path, body, err := n.request(ev)
	if err != nil {
		return false, fmt.Errorf("opsgenie: %w", err)
	}
	key, err := httpsend.ResolveSecret("opsgenie", "api_key", n.cfg.APIKey, n.send.Secrets)
	if err != nil {
		return true, err // the secret file may be mid-rotation: retry, do not drop the page
	}
	if retry, err := n.post(ctx, path, body, key); err != nil {
		return retry, fmt.Errorf("opsgenie: %s: %w", ev.Type, err)
	}
	return false, nil
}

// post sends body to the API path, authenticated with key: the secret to
// scrub.
func (n *Notifier) post(ctx context.Context, path string, body any, key string) (bool, error) {
	hdr := http.Header{"Authorization": {"GenieKey " + key}}
	return n.send.PostJSON(ctx, strings.TrimSuffix(n.cfg.URL, "/")+path, hdr, body, key)
}

// request is the API path and body for an event.
func (n *Notifier) request(ev notify.Event) (string, any, error) {
	alias := aliasOf(ev.IncidentKey)
	action := "/v2/alerts/" + url.PathEscape(alias)
	switch ev.Type {
	case notify.Opened:
		return "/v2/alerts", n.create(ev, alias), nil
	case notify.Updated, notify.Reminder:
		return action + "/notes?identifierType=alias", n.action(ev), nil
	case notify.Resolved:
		return action + "/close?identifierType=alias", n.action(ev), nil
	case notify.Test:
		return "/v2/alerts", n.test(ev), nil
	}
	return "", nil, fmt.Errorf("unknown event type %q", ev.Type)
}

func (n *Notifier) create(ev notify.Event, alias string) createAlert {
	return createAlert{
		Message:     fit.Runes(ev.Title(), maxMessage),
		Alias:       alias,
		Description: fit.Runes(description(ev), maxDescription),
		Tags:        tags(ev),
		Details:     details(ev),
		Entity:      fit.Runes(ev.Flow, maxEntity),
		Source:      fit.Runes(source(ev), maxSource),
		Priority:    n.priority(ev.Severity),
		User:        "authwatch",
	}
}

func (n *Notifier) test(ev notify.Event) createAlert {
	alias := "authwatch-test"
	if id := cmp.Or(ev.ID, ev.IncidentKey); id != "" {
		alias = aliasOf(alias + "-" + id)
	}
	return createAlert{
		Message:     fit.Runes(ev.Title(), maxMessage),
		Alias:       alias,
		Description: "Sent by `authwatch notify test` to check that this route reaches people. No action needed: close this alert.",
		Tags:        []string{"authwatch", "test"},
		Source:      fit.Runes(source(ev), maxSource),
		Priority:    "P5",
		User:        "authwatch",
	}
}

func (n *Notifier) action(ev notify.Event) actionBody {
	return actionBody{
		User:   "authwatch",
		Source: fit.Runes(source(ev), maxSource),
		Note:   fit.Runes(note(ev), maxNote),
	}
}

// note is what an update, reminder or resolution adds to the alert.
func note(ev notify.Event) string {
	h := ev.Title()
	switch ev.Type {
	case notify.Updated:
		if ev.PreviousReason != "" {
			h += " (was " + ev.PreviousReason + ")"
		}
	case notify.Resolved:
		return h + ": the flow passes again."
	}
	return h + "\n\n" + description(ev)
}

// priority maps severity to P1..P5; a configured priority wins.
func (n *Notifier) priority(s notify.Severity) string {
	if n.cfg.Priority != "" {
		return n.cfg.Priority
	}
	switch s {
	case notify.SeverityCritical:
		return "P1"
	case notify.SeverityWarning:
		return "P3"
	case notify.SeverityInfo:
		return "P5"
	}
	return "P3"
}

func source(ev notify.Event) string { return cmp.Or(ev.Host, "authwatch") }

// aliasOf is the incident key, hashed when it exceeds Opsgenie's limit.
func aliasOf(k string) string { return fit.Key(k, maxAlias) }

// description is the alert's body: why, what to do, and the evidence.
func description(ev notify.Event) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	if ev.Summary != "" {
		b.WriteString(ev.Summary + "\n\n")
	}
	line("Next step", ev.NextStep)
	line("Flow", ev.Flow)
	line("Step", ev.Step)
	line("Reason", ev.Reason)
	line("Layer", ev.Layer)
	if !ev.FirstFailure.IsZero() {
		line("Failing since", ev.FirstFailure.UTC().Format(time.RFC3339))
	}
	if ev.Failures > 0 {
		line("Consecutive failures", strconv.Itoa(ev.Failures))
	}
	for _, f := range ev.Evidence {
		line("Evidence "+f.Name, f.Value)
	}
	for _, k := range slices.Sorted(maps.Keys(ev.RequestIDs)) {
		line("Request id "+k, ev.RequestIDs[k])
	}
	line("Status", ev.StatusURL)
	return strings.TrimSpace(b.String())
}

// tags name the flow, reason and layer, then the flow's labels as k:v; at
// most 20, each at most 50 characters.
func tags(ev notify.Event) []string {
	out := []string{"authwatch"}
	add := func(k, v string) {
		if v != "" && len(out) < maxTags {
			out = append(out, fit.Runes(k+":"+v, maxTagLen))
		}
	}
	add("flow", ev.Flow)
	add("reason", ev.Reason)
	add("layer", ev.Layer)
	add("severity", string(ev.Severity))
	for _, k := range slices.Sorted(maps.Keys(ev.Labels)) {
		add(k, ev.Labels[k])
	}
	return out
}

// details are the alert's custom properties, within Opsgenie's 8000
// characters: the most useful first, the rest dropped when over.
func details(ev notify.Event) map[string]string {
	var kv [][2]string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, [2]string{k, v})
		}
	}
	add("flow", ev.Flow)
	add("step", ev.Step)
	add("reason", ev.Reason)
	add("layer", ev.Layer)
	add("next_step", ev.NextStep)
	add("status_url", ev.StatusURL)
	if !ev.FirstFailure.IsZero() {
		add("first_failure", ev.FirstFailure.UTC().Format(time.RFC3339))
	}
	if ev.Failures > 0 {
		add("consecutive_failures", strconv.Itoa(ev.Failures))
	}
	for _, k := range slices.Sorted(maps.Keys(ev.RequestIDs)) {
		add("request_id."+k, ev.RequestIDs[k])
	}
	for _, f := range ev.Evidence {
		add("evidence."+f.Name, f.Value)
	}
	add("summary", ev.Summary)
	return budget(kv, maxDetails)
}

func budget(kv [][2]string, limit int) map[string]string {
	m := make(map[string]string, len(kv))
	used := 0
	for _, p := range kv {
		size := len([]rune(p[0])) + len([]rune(p[1]))
		if _, dup := m[p[0]]; dup || used+size > limit {
			continue
		}
		m[p[0]] = p[1]
		used += size
	}
	return m
}
