package teams

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// hookPath is a Workflows trigger path whose sig parameter is the canary.
const hookPath = "/workflows/5f0c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + notifytest.SigToken

func newTeams(t testing.TB, base string) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	c := &Config{URL: conf.NewTemplate("${env:TEAMS_WORKFLOW_URL}")}
	return notifytest.NewNotifier(t, c, map[string]string{"TEAMS_WORKFLOW_URL": base + hookPath})
}

func TestTeamsStatusCodes(t *testing.T) {
	var logs []*notifytest.Log
	notifytest.CheckStatusCodes(t, func(base string) notify.Notifier {
		n, log := newTeams(t, base)
		logs = append(logs, log)
		return n
	})
	for _, l := range logs {
		notifytest.CheckNoSecret(t, l.Bytes())
	}
}

// TestTeamsPayloads sends every event, plain and hostile, through a
// receiver that validates the Workflows message and its Adaptive Card.
func TestTeamsPayloads(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	rcv.SetCheck(func(r notifytest.Request) error { return checkWorkflowCard(r.Body) })
	n, log := newTeams(t, rcv.URL)
	for _, typ := range notifytest.EventTypes {
		for _, ev := range []notify.Event{notifytest.Event(typ), notifytest.Hostile(typ)} {
			if retry, err := n.Notify(context.Background(), ev); err != nil || retry {
				t.Fatalf("Notify(%s) = (%v, %v)", typ, retry, err)
			}
		}
	}
	for _, r := range rcv.Requests() {
		if r.URI != hookPath || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("request %s %v", r.URI, r.Header)
		}
		notifytest.CheckNoSecret(t, r.Body)
	}
	notifytest.CheckNoSecret(t, log.Bytes())
}

// cardText renders ev and returns the card and its texts, one a line
// ("TextBlock: ...", "Fact: title = value", "Action: title -> url").
func cardText(t *testing.T, ev notify.Event) (card, string) {
	t.Helper()
	body, err := json.Marshal(render(ev))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWorkflowCard(body); err != nil {
		t.Fatalf("%s: %v", ev.Type, err)
	}
	c := render(ev).Attachments[0].Content
	var lines []string
	for _, e := range c.Body {
		if e.Type == "TextBlock" {
			lines = append(lines, "TextBlock: "+e.Text)
		}
		for _, f := range e.Facts {
			lines = append(lines, "Fact: "+f.Title+" = "+f.Value)
		}
	}
	for _, a := range c.Actions {
		lines = append(lines, "Action: "+a.Title+" -> "+a.URL)
	}
	return c, strings.Join(lines, "\n")
}

func TestTeamsOpened(t *testing.T) {
	c, got := cardText(t, notifytest.Event(notify.Opened))
	want := strings.Join([]string{
		"TextBlock: FAILING okta-client-credentials: audience_mismatch",
		"TextBlock: **audience_mismatch**",
		`TextBlock: the access token's aud is ["api://default"] but the orders API expects "https://orders.example.com"; the API answered 401 with error="invalid_token"`,
		"Fact: Flow = okta-client-credentials",
		"Fact: Step = call_orders_api",
		"Fact: Layer = token",
		"Fact: Severity = critical",
		"Fact: Failing since = 2026-03-14 09:09 UTC (17m)",
		"Fact: Streak = 4 consecutive failures",
		`TextBlock: **Next step:** Request the token for the API's audience: set the authorization server's Audience to "https://orders.example.com", or point the flow at the authorization server that issues tokens for it.`,
		"TextBlock: Request ids: x-okta-request-id: ZfHc2x3kQ9aWmT7vLp0sEgAAA8c, x-request-id: 7d9c2b1e-4f3a-4e8b-9c1d-2a3b4c5d6e7f",
		"TextBlock: authwatch on authwatch-1.eu-west-1.internal (eu-west-1)",
		"Action: Open status page -> https://authwatch.example.com/flows/okta-client-credentials",
	}, "\n")
	if got != want {
		t.Errorf("card:\n%s\nwant:\n%s", got, want)
	}
	if c.Body[0].Color != "Attention" || c.Version != "1.4" {
		t.Errorf("title color %q version %q", c.Body[0].Color, c.Version)
	}
}

func TestTeamsUpdated(t *testing.T) {
	c, got := cardText(t, notifytest.Event(notify.Updated))
	if !strings.Contains(got, "TextBlock: UPDATED okta-client-credentials: audience_mismatch") || !strings.Contains(got, "**audience_mismatch** (was invalid_token)") {
		t.Errorf("updated:\n%s", got)
	}
	ev := notifytest.Event(notify.Reminder)
	ev.Severity = notify.SeverityWarning
	c, _ = cardText(t, ev)
	if c.Body[0].Color != "Warning" {
		t.Errorf("warning color %q", c.Body[0].Color)
	}
}

func TestTeamsResolvedShort(t *testing.T) {
	c, got := cardText(t, notifytest.Event(notify.Resolved))
	want := strings.Join([]string{
		"TextBlock: RESOLVED okta-client-credentials",
		"TextBlock: okta-client-credentials passes again after 4 consecutive failures over 17m (was: audience_mismatch)",
		"TextBlock: Failing since 2026-03-14 09:09 UTC (17m)",
		"TextBlock: authwatch on authwatch-1.eu-west-1.internal (eu-west-1)",
		"Action: Open status page -> https://authwatch.example.com/flows/okta-client-credentials",
	}, "\n")
	if got != want || c.Body[0].Color != "Good" {
		t.Errorf("resolved (%s):\n%s\nwant:\n%s", c.Body[0].Color, got, want)
	}
}

func TestTeamsTest(t *testing.T) {
	c, got := cardText(t, notifytest.Event(notify.Test))
	want := strings.Join([]string{
		"TextBlock: TEST authwatch notification (no action needed)",
		"TextBlock: **This is a test notification: no action needed.**",
		"TextBlock: Sent by `authwatch notify test`: this route works. No action needed.",
		"TextBlock: authwatch on authwatch-1.eu-west-1.internal (eu-west-1)",
	}, "\n")
	if got != want || c.Body[0].Color != "Accent" {
		t.Errorf("test (%s):\n%s\nwant:\n%s", c.Body[0].Color, got, want)
	}
}

func TestTeamsHostile(t *testing.T) {
	for _, typ := range notifytest.EventTypes {
		c, _ := cardText(t, notifytest.Hostile(typ)) // checks size, links, mentions
		for _, e := range c.Body {
			if n := len([]rune(e.Text)); n > maxSummary {
				t.Errorf("%s: a text of %d runes", typ, n)
			}
		}
	}
	if got := clean("see [here](https://evil.example) <at>all</at>", 100); strings.Contains(got, "](") || strings.Contains(got, "<at>") {
		t.Errorf("clean = %q", got)
	}
	if got := clean(strings.Repeat("x", 10), 5); got != "xxxx…" {
		t.Errorf("clean = %q", got)
	}
	if u := statusURL("javascript:alert(1)"); u != "" {
		t.Errorf("statusURL = %q", u)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		yaml string
		want string // "" = valid
	}{
		{"url: ${credential:teams_workflow_url}", ""},
		{"url: https://prod-12.westus.logic.azure.com:443/workflows/x/triggers/manual/paths/invoke?sig=${env:SIG}", ""},
		{"{}", "url: required"},
		{"url: http://prod-12.westus.logic.azure.com/workflows/x", "url: must use https"},
		{"url: ${steps.a.b}", "url: step outputs"},
		{"url: ${env:U}\nchannel: x", "channel"},
	}
	if k, ok := notify.Lookup("teams"); !ok || k.Doc == "" {
		t.Fatal("kind teams is not registered")
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, err := notifytest.DecodeConfig(t, "teams", tt.yaml)
			notifytest.CheckConfigError(t, err, tt.want)
		})
	}
}

func TestTeamsAccepted(t *testing.T) {
	rcv := notifytest.NewReceiver(t, notifytest.Response{Status: 202})
	n, _ := newTeams(t, rcv.URL)
	if retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened)); retry || err != nil {
		t.Errorf("202: Notify = (%v, %v)", retry, err)
	}
}

func FuzzTeamsCard(f *testing.F) {
	f.Add("okta", "audience_mismatch", "see [x](https://e) <at>y</at>", "next", "https://s.example/x")
	f.Add(strings.Repeat("]", 300), "r", strings.Repeat("](", 3000), strings.Repeat("<at>", 500), "::")
	f.Fuzz(func(t *testing.T, flow, reason, summary, next, statusURL string) {
		for _, typ := range notifytest.EventTypes {
			ev := notifytest.Event(typ)
			ev.Flow, ev.Reason, ev.Summary, ev.StatusURL = flow, reason, summary, statusURL
			if ev.NextStep != "" {
				ev.NextStep = next
			}
			ev.RequestIDs["fuzz"] = summary
			body, err := json.Marshal(render(ev))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkWorkflowCard(body); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	})
}
