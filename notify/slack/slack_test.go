package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/version"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// hookPath is a Slack webhook path holding the canary token.
const hookPath = "/services/T0AAAAAAA/B0BBBBBBB/" + notifytest.WebhookToken

func newSlack(t testing.TB, c Config, base string) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	if c.URL.IsZero() {
		c.URL = conf.NewTemplate("${env:SLACK_WEBHOOK_URL}")
	}
	return notifytest.NewNotifier(t, &c, map[string]string{"SLACK_WEBHOOK_URL": base + hookPath})
}

// slackReceiver checks every payload as Slack would.
func slackReceiver(t *testing.T) *notifytest.Receiver {
	rcv := notifytest.NewReceiver(t)
	rcv.SetCheck(func(r notifytest.Request) error { return checkBlockKit(r.Body) })
	return rcv
}

func send(t *testing.T, n notify.Notifier, ev notify.Event) {
	t.Helper()
	if retry, err := n.Notify(context.Background(), ev); err != nil || retry {
		t.Fatalf("Notify(%s) = (%v, %v)", ev.Type, retry, err)
	}
}

func TestSlackStatusCodes(t *testing.T) {
	var logs []*notifytest.Log
	notifytest.CheckStatusCodes(t, func(base string) notify.Notifier {
		n, log := newSlack(t, Config{}, base)
		logs = append(logs, log)
		return n
	})
	for _, l := range logs {
		notifytest.CheckNoSecret(t, l.Bytes())
	}
}

// TestSlackPayloads sends every event, plain and hostile, through a
// receiver that checks Block Kit's limits and escaping.
func TestSlackPayloads(t *testing.T) {
	rcv := slackReceiver(t)
	n, log := newSlack(t, Config{Channel: "#identity-alerts", Username: "authwatch"}, rcv.URL)
	for _, typ := range notifytest.EventTypes {
		send(t, n, notifytest.Event(typ))
		send(t, n, notifytest.Hostile(typ))
	}
	for _, r := range rcv.Requests() {
		if r.URI != hookPath || r.Header.Get("Content-Type") != "application/json; charset=utf-8" || r.Header.Get("User-Agent") != version.UserAgent() {
			t.Errorf("request %s %v", r.URI, r.Header)
		}
		notifytest.CheckNoSecret(t, r.Body)
		if strings.Contains(string(r.Body), "<!channel>") || strings.Contains(string(r.Body), "<@U123>") {
			t.Error("an event's text formed a mention")
		}
	}
	notifytest.CheckNoSecret(t, log.Bytes())
}

// texts returns the message's blocks as "type: text | field | ..." lines.
func texts(t *testing.T, body []byte) (message, []string) {
	t.Helper()
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, b := range m.Blocks {
		var parts []string
		if b.Text != nil {
			parts = append(parts, b.Text.Text)
		}
		for _, f := range append(b.Fields, b.Elements...) {
			parts = append(parts, f.Text)
		}
		lines = append(lines, b.Type+": "+strings.Join(parts, " | "))
	}
	return m, lines
}

func render1(t *testing.T, ev notify.Event) (message, string) {
	t.Helper()
	body, err := json.Marshal(render(ev, Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBlockKit(body); err != nil {
		t.Fatalf("%s: %v", ev.Type, err)
	}
	m, lines := texts(t, body)
	return m, strings.Join(lines, "\n")
}

func TestSlackOpened(t *testing.T) {
	m, got := render1(t, notifytest.Event(notify.Opened))
	for _, want := range []string{
		"header: :rotating_light: FAILING okta-client-credentials: audience_mismatch",
		"section: *audience_mismatch*\nthe access token's aud is [\"api://default\"] but the orders API expects",
		"*Flow*\nokta-client-credentials | *Step*\ncall_orders_api | *Layer*\ntoken | *Severity*\ncritical",
		fmt.Sprintf("*Failing since*\n<!date^%d^{date_short_pretty} {time}|2026-03-14 09:09 UTC> (17m)", notifytest.Now.Add(-17*time.Minute).Unix()),
		"*Streak*\n4 consecutive failures",
		"section: *Next step*\nRequest the token for the API's audience",
		"context: Request ids: x-okta-request-id `ZfHc2x3kQ9aWmT7vLp0sEgAAA8c`, x-request-id `7d9c2b1e-4f3a-4e8b-9c1d-2a3b4c5d6e7f`",
		"<https://authwatch.example.com/flows/okta-client-credentials|Status page>",
		"authwatch on authwatch-1.eu-west-1.internal (eu-west-1)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(m.Text, "FAILING okta-client-credentials: audience_mismatch — the access token") {
		t.Errorf("fallback text %q", m.Text)
	}
	if len(m.Blocks) != 5 {
		t.Errorf("%d blocks", len(m.Blocks))
	}
}

func TestSlackUpdatedReminder(t *testing.T) {
	_, got := render1(t, notifytest.Event(notify.Updated))
	if !strings.Contains(got, ":arrows_counterclockwise: UPDATED okta-client-credentials: audience_mismatch") ||
		!strings.Contains(got, "*audience_mismatch* (was invalid_token)") {
		t.Errorf("updated:\n%s", got)
	}
	_, got = render1(t, notifytest.Event(notify.Reminder))
	if !strings.Contains(got, ":alarm_clock: REMINDER") || !strings.Contains(got, "40 consecutive failures") {
		t.Errorf("reminder:\n%s", got)
	}
}

func TestSlackResolvedShort(t *testing.T) {
	m, got := render1(t, notifytest.Event(notify.Resolved))
	if len(m.Blocks) > 3 || strings.Contains(got, "Next step") || strings.Contains(got, "Request ids") {
		t.Errorf("resolved is not short:\n%s", got)
	}
	for _, want := range []string{":white_check_mark: RESOLVED okta-client-credentials", "passes again after 4 consecutive failures", "Status page"} {
		if !strings.Contains(got, want) {
			t.Errorf("resolved lacks %q:\n%s", want, got)
		}
	}
}

func TestSlackTest(t *testing.T) {
	m, got := render1(t, notifytest.Event(notify.Test))
	for _, want := range []string{"header: :test_tube: TEST authwatch notification (no action needed)", "*This is a test notification: no action needed.*"} {
		if !strings.Contains(got, want) {
			t.Errorf("test lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Failing since") || strings.Contains(got, "Next step") || !strings.HasPrefix(m.Text, "TEST ") {
		t.Errorf("test looks like a page:\n%s\n%s", got, m.Text)
	}
}

func TestSlackHostile(t *testing.T) {
	for _, typ := range notifytest.EventTypes {
		_, got := render1(t, notifytest.Hostile(typ)) // render1 checks the limits and escaping
		if typ == notify.Opened && !strings.Contains(got, "&lt;!channel&gt; &lt;@U123&gt; *bold*") {
			t.Errorf("markup not escaped as expected:\n%.400s", got)
		}
	}
	if link := statusLink(notifytest.Hostile(notify.Opened).StatusURL); link != "<https://authwatch.example.com/flows/flow%20%3C%26%3E?x=1&amp;y=%7C%3E|Status page>" {
		t.Errorf("status link %q", link)
	}
	if link := statusLink("javascript:alert(1)"); link != "" {
		t.Errorf("status link %q", link)
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a & b", 9, "a &amp; b"},
		{"a & b", 8, "a &amp;…"},
		{"a & b", 7, "a …"}, // never half an entity
		{"abcdefghijk", 10, "abcdefghi…"},
		{"🚨🚨🚨", 5, "🚨🚨…"}, // two UTF-16 units each
		{"x", 0, ""},
	}
	for _, tt := range tests {
		if got := mrkdwn(tt.in, tt.limit); got != tt.want || width(got) > tt.limit {
			t.Errorf("mrkdwn(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
	if got := plain("a\n  b\tc", 150); got != "a b c" {
		t.Errorf("plain = %q", got)
	}
}

func TestSince(t *testing.T) {
	ev := notifytest.Event(notify.Opened)
	for d, want := range map[string]string{"30s": "under a minute", "17m": "17m", "3h5m": "3h 5m", "52h": "2d 4h"} {
		dur, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := since(ev.Time, ev.Time.Add(-dur)); got != want {
			t.Errorf("since %s = %q, want %q", d, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		yaml string
		want string // "" = valid
	}{
		{"url: ${env:SLACK_WEBHOOK_URL}", ""},
		{"url: https://hooks.slack.com/services/${credential:slack_path}\nchannel: \"#identity-alerts\"\nusername: authwatch", ""},
		{"url: ${env:U}\nchannel: C0123ABCD", ""},
		{"url: ${env:U}\nchannel: \"@oncall\"", ""},
		{"channel: \"#x\"", "url: required"},
		{"url: http://hooks.slack.com/services/x", "url: must use https"},
		{"url: ${steps.a.b}", "url: step outputs"},
		{"url: ${env:U}\nchannel: \"#Has Spaces\"", "channel: must be #channel-name"},
		{"url: ${env:U}\nusername: \"" + strings.Repeat("n", 81) + "\"", "username: must be one line"},
		{"url: ${env:U}\nicon_emoji: \":x:\"", "icon_emoji"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, err := notifytest.DecodeConfig(t, "slack", tt.yaml)
			notifytest.CheckConfigError(t, err, tt.want)
		})
	}
}

func TestSlackRefusalShowsSlackError(t *testing.T) {
	rcv := notifytest.NewReceiver(t, notifytest.Response{Status: 404, Body: "no_service"})
	n, _ := newSlack(t, Config{}, rcv.URL)
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if retry || err == nil || err.Error() != `slack: POST `+rcv.URL+`/…: 404 Not Found: "no_service"` {
		t.Errorf("Notify = (%v, %v)", retry, err)
	}
}

func FuzzSlackLimits(f *testing.F) {
	f.Add("okta", "audience_mismatch", "aud <x> & y", "next", "https://s.example/x?a=1&b=2")
	f.Add(strings.Repeat("🚨", 100), "r", strings.Repeat("&", 4000), strings.Repeat("<", 3000), "|>")
	f.Fuzz(func(t *testing.T, flow, reason, summary, next, statusURL string) {
		for _, typ := range notifytest.EventTypes {
			ev := notifytest.Event(typ)
			ev.Flow, ev.Reason, ev.Summary, ev.StatusURL = flow, reason, summary, statusURL
			if ev.NextStep != "" {
				ev.NextStep = next
			}
			ev.RequestIDs["fuzz"] = summary
			body, err := json.Marshal(render(ev, Config{}))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkBlockKit(body); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	})
}
