package opsgenie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
	"github.com/authwatch/authwatch/notify/opsgenie"
)

// ogCreate is the Create Alert request as documented
// (https://docs.opsgenie.com/docs/alert-api#create-alert); unknown fields
// are refused.
type ogCreate struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Responders  []any             `json:"responders"`
	VisibleTo   []any             `json:"visibleTo"`
	Actions     []string          `json:"actions"`
	Tags        []string          `json:"tags"`
	Details     map[string]string `json:"details"`
	Entity      string            `json:"entity"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
	User        string            `json:"user"`
	Note        string            `json:"note"`
}

// ogAction is the Close Alert and Add Note request.
type ogAction struct {
	User   string `json:"user"`
	Source string `json:"source"`
	Note   string `json:"note"`
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// checkSchema is what Opsgenie's Alert API requires.
func checkSchema(r notifytest.Request) error {
	if got := r.Header.Get("Authorization"); got != "GenieKey "+notifytest.APIKey {
		return fmt.Errorf("Authorization %q", got)
	}
	if r.Method != "POST" {
		return fmt.Errorf("method %s", r.Method)
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if r.Path == "/v2/alerts" {
		var c ogCreate
		if err := dec.Decode(&c); err != nil {
			return err
		}
		return checkCreate(c)
	}
	// The alias is one escaped path segment: read it from the request target.
	target, _, _ := strings.Cut(r.URI, "?")
	rest, ok := strings.CutPrefix(target, "/v2/alerts/")
	alias, action, _ := strings.Cut(rest, "/")
	if !ok || alias == "" || (action != "close" && action != "notes") || r.RawQuery != "identifierType=alias" {
		return fmt.Errorf("unexpected %s", r.URI)
	}
	var a ogAction
	if err := dec.Decode(&a); err != nil {
		return err
	}
	switch {
	case action == "notes" && a.Note == "":
		return fmt.Errorf("add note without note")
	case runes(a.Note) > 25000 || runes(a.User) > 100 || runes(a.Source) > 100:
		return fmt.Errorf("note/user/source too long: %d/%d/%d", runes(a.Note), runes(a.User), runes(a.Source))
	}
	return nil
}

func checkCreate(c ogCreate) error {
	details := 0
	for k, v := range c.Details {
		details += runes(k) + runes(v)
	}
	switch {
	case c.Message == "" || runes(c.Message) > 130:
		return fmt.Errorf("message is %d characters, want 1..130", runes(c.Message))
	case runes(c.Alias) > 512 || runes(c.Entity) > 512:
		return fmt.Errorf("alias/entity too long")
	case runes(c.Description) > 15000:
		return fmt.Errorf("description is %d characters, at most 15000", runes(c.Description))
	case len(c.Tags) > 20:
		return fmt.Errorf("%d tags, at most 20", len(c.Tags))
	case details > 8000:
		return fmt.Errorf("details are %d characters, at most 8000", details)
	case runes(c.Source) > 100 || runes(c.User) > 100:
		return fmt.Errorf("source/user too long")
	case c.Priority != "" && !slices.Contains([]string{"P1", "P2", "P3", "P4", "P5"}, c.Priority):
		return fmt.Errorf("priority %q", c.Priority)
	}
	for _, tag := range c.Tags {
		if runes(tag) > 50 {
			return fmt.Errorf("tag %q is over 50 characters", tag)
		}
	}
	return nil
}

var env = map[string]string{"OPSGENIE_API_KEY": notifytest.APIKey}

func newNotifier(t testing.TB, url string, mod ...func(*opsgenie.Config)) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	cfg := &opsgenie.Config{APIKey: conf.NewTemplate("${env:OPSGENIE_API_KEY}"), URL: url}
	for _, m := range mod {
		m(cfg)
	}
	return notifytest.NewNotifier(t, cfg, env)
}

// send delivers ev to a fresh receiver that checks the schema and returns
// the one request it got.
func send(t *testing.T, ev notify.Event, mod ...func(*opsgenie.Config)) notifytest.Request {
	t.Helper()
	rcv := notifytest.NewReceiver(t, notifytest.Response{Status: 202, Body: `{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}`})
	rcv.SetCheck(checkSchema)
	n, log := newNotifier(t, rcv.URL, mod...)
	if retry, err := n.Notify(context.Background(), ev); err != nil {
		t.Fatalf("Notify(%s) = (%v, %v)", ev.Type, retry, err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	notifytest.CheckNoSecret(t, reqs[0].Body)
	notifytest.CheckNoSecret(t, log.Bytes())
	return reqs[0]
}

func TestCreate(t *testing.T) {
	ev := notifytest.Event(notify.Opened)
	r := send(t, ev)
	if r.Path != "/v2/alerts" {
		t.Fatalf("path %s", r.Path)
	}
	var c ogCreate
	if err := r.JSON(&c); err != nil {
		t.Fatal(err)
	}
	if c.Message != "FAILING okta-client-credentials: audience_mismatch" || c.Alias != ev.IncidentKey || c.Priority != "P1" {
		t.Errorf("message/alias/priority = %q/%q/%q", c.Message, c.Alias, c.Priority)
	}
	if c.Entity != ev.Flow || c.Source != ev.Host || c.User != "authwatch" {
		t.Errorf("entity/source/user = %q/%q/%q", c.Entity, c.Source, c.User)
	}
	for _, want := range []string{ev.Summary, "Next step: " + ev.NextStep, "Evidence aud: [\"api://default\"]", "Request id x-request-id: ", "Failing since: 2026-03-14T09:09:53Z", "Consecutive failures: 4", "Status: " + ev.StatusURL} {
		if !strings.Contains(c.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, c.Description)
		}
	}
	wantTags := []string{"authwatch", "flow:okta-client-credentials", "reason:audience_mismatch", "layer:token", "severity:critical", "env:prod", "region:eu-west-1", "severity:critical", "team:identity"}
	if !slices.Equal(c.Tags, wantTags) {
		t.Errorf("tags = %q\nwant   %q", c.Tags, wantTags)
	}
	if c.Details["reason"] != "audience_mismatch" || c.Details["next_step"] != ev.NextStep || c.Details["evidence.status"] != "401" || c.Details["request_id.x-okta-request-id"] == "" {
		t.Errorf("details = %v", c.Details)
	}
}

func TestActions(t *testing.T) {
	for _, tc := range []struct {
		typ        notify.EventType
		path, note string
	}{
		{notify.Updated, "/v2/alerts/okta-client-credentials/notes", "UPDATED okta-client-credentials: audience_mismatch (was invalid_token)"},
		{notify.Reminder, "/v2/alerts/okta-client-credentials/notes", "REMINDER okta-client-credentials: audience_mismatch"},
		{notify.Resolved, "/v2/alerts/okta-client-credentials/close", "RESOLVED okta-client-credentials: the flow passes again."},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			r := send(t, notifytest.Event(tc.typ))
			if r.Path != tc.path || r.RawQuery != "identifierType=alias" {
				t.Fatalf("%s?%s, want %s?identifierType=alias", r.Path, r.RawQuery, tc.path)
			}
			var a ogAction
			if err := r.JSON(&a); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(a.Note, tc.note) {
				t.Errorf("note = %q, want prefix %q", a.Note, tc.note)
			}
		})
	}
}

func TestTestEvent(t *testing.T) {
	ev := notifytest.Event(notify.Test)
	r := send(t, ev)
	var c ogCreate
	if err := r.JSON(&c); err != nil {
		t.Fatal(err)
	}
	if r.Path != "/v2/alerts" || c.Message != ev.Title() || c.Priority != "P5" || !slices.Contains(c.Tags, "test") {
		t.Errorf("test alert: %s %+v", r.Path, c)
	}
	if c.Alias == ev.IncidentKey {
		t.Errorf("a test must not touch the incident's alert (alias %q)", c.Alias)
	}
}

func TestAliasEscapedAndBounded(t *testing.T) {
	ev := notifytest.Event(notify.Resolved)
	ev.IncidentKey = "team a/flow b?x=1#y"
	r := send(t, ev)
	if want := "/v2/alerts/team%20a%2Fflow%20b%3Fx=1%23y/close?identifierType=alias"; r.URI != want {
		t.Errorf("request target %q, want %q", r.URI, want)
	}
	ev.IncidentKey = strings.Repeat("k", 600)
	r = send(t, ev)
	if alias := strings.Split(r.URI, "/")[3]; len(alias) > 512 {
		t.Errorf("alias of %d characters", len(alias))
	}
}

func TestLimits(t *testing.T) {
	for _, typ := range notifytest.EventTypes {
		t.Run(string(typ), func(t *testing.T) { send(t, notifytest.Hostile(typ)) }) // checkSchema enforces the limits
	}
}

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		sev            notify.Severity
		override, want string
	}{
		{notify.SeverityCritical, "", "P1"},
		{notify.SeverityWarning, "", "P3"},
		{notify.SeverityInfo, "", "P5"},
		{"", "", "P3"},
		{notify.SeverityCritical, "P2", "P2"},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.sev, tc.override), func(t *testing.T) {
			ev := notifytest.Event(notify.Opened)
			ev.Severity = tc.sev
			var c ogCreate
			if err := send(t, ev, func(c *opsgenie.Config) { c.Priority = tc.override }).JSON(&c); err != nil {
				t.Fatal(err)
			}
			if c.Priority != tc.want {
				t.Errorf("priority = %q, want %q", c.Priority, tc.want)
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
	body := `{"message":"Key format is not valid! GenieKey ` + notifytest.APIKey + `","took":0.001,"requestId":"x"}`
	rcv := notifytest.NewReceiver(t, notifytest.Response{Status: 422, Body: body})
	n, log := newNotifier(t, rcv.URL)
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if err == nil || retry || !strings.Contains(err.Error(), "Key format is not valid") {
		t.Fatalf("Notify = (%v, %v), want (false, Opsgenie's message)", retry, err)
	}
	notifytest.CheckNoSecretInError(t, err)
	notifytest.CheckNoSecret(t, log.Bytes())
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"documented example", "api_key: ${credential:opsgenie_api_key}\nurl: https://api.eu.opsgenie.com\npriority: P2\n", nil},
		{"defaults", "api_key: ${env:OG}\n", nil},
		{"missing key", "priority: P1\n", []string{"api_key: required"}},
		{"step output", "api_key: ${steps.a.b}\n", []string{"api_key: step outputs"}},
		{"malformed, not echoed", "api_key: 'secretpart${x'\n", []string{"api_key: malformed reference"}},
		{"http elsewhere", "api_key: ${env:OG}\nurl: http://api.opsgenie.com\n", []string{"url: must use https"}},
		{"bad priority", "api_key: ${env:OG}\npriority: high\n", []string{`priority: must be one of P1, P2, P3, P4, P5, got "high"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &opsgenie.Config{}
			notifytest.CheckConfig(t, cfg, tc.yaml, tc.want...)
			if len(tc.want) == 0 && cfg.URL == "" {
				t.Error("no default URL")
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	if k, ok := notify.Lookup("opsgenie"); !ok || k.Doc == "" {
		t.Fatal("kind opsgenie not registered")
	}
}
