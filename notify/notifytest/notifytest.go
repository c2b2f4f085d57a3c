// Package notifytest is the test kit every notifier kind uses: a realistic
// event for each event type, canary secrets, a recording receiver on
// 127.0.0.1 that answers a scripted sequence of statuses, the whole
// status-code table of the Notifier contract (CheckStatusCodes), and checks
// that no secret reaches an error, a log line or a payload.
//
// A kind's test configures every secret setting (webhook URL token, API key,
// HMAC key, SMTP password) from Canaries through Deps' secret source, sends
// the events of Event, and asserts with CheckNoSecret and
// CheckNoSecretInError that none of the canaries shows up anywhere but where
// the receiver needs it.
//
// Everything here stays on the loopback interface: the client of Client and
// Deps refuses to dial any other address, so a kind with a hard-wired
// production URL fails its test instead of reaching the internet.
package notifytest

import (
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// Canary secrets: distinctive values a test configures as secrets. None of
// them appears in any event of Event or Hostile, so finding one in an error,
// a log line or a payload field that is not meant for it is a leak.
const (
	// WebhookToken is the secret path segment of an incoming-webhook URL
	// (Slack's https://hooks.slack.com/services/T…/B…/TOKEN).
	WebhookToken = "CANARYwebhookTOKEN7f3a9c2e1b5d8a4f"
	// SigToken is a secret query parameter (Teams Workflows' &sig=…).
	SigToken = "CANARYsigQ9d8e7f6a5b4c3d2e1f0a9b8"
	// APIKey is an API key or routing key (PagerDuty, Opsgenie).
	APIKey = "CANARYapikey0b1c2d3e4f5a6b7c8d9e"
	// BearerToken is a token sent in an Authorization header.
	BearerToken = "CANARYbearer4d5e6f7a8b9c0d1e2f3a"
	// HMACKey is a webhook signing key.
	HMACKey = "CANARYhmac5e6f7a8b9c0d1e2f3a4b5c"
	// SMTPPassword is a mail server password.
	SMTPPassword = "CANARYsmtp1a2b3c4d5e6f7a8b9c0d1e"
)

// Canaries lists every canary secret.
var Canaries = []string{WebhookToken, SigToken, APIKey, BearerToken, HMACKey, SMTPPassword}

// Now is the fixed clock of Deps, and the time of every event of Event.
var Now = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// EventTypes lists every event type, in the order an incident meets them
// (and the test event last).
var EventTypes = []notify.EventType{notify.Opened, notify.Updated, notify.Reminder, notify.Resolved, notify.Test}

// Event returns a realistic event of type typ: an Okta client-credentials
// flow whose access token has the wrong audience, with evidence, request
// ids, labels, first failure, streak and status URL. Updated events carry a
// previous reason; Resolved and Test events have no next step; Test events
// have severity info and say that no action is needed.
func Event(typ notify.EventType) notify.Event {
	ev := notify.Event{
		ID:          "01JPB6ZQ8K3N2W5X7Y9A" + strings.ToUpper(string(typ)),
		IncidentKey: "okta-client-credentials",
		Type:        typ,
		Severity:    notify.SeverityCritical,
		Time:        Now,
		Flow:        "okta-client-credentials",
		Step:        "call_orders_api",
		Labels:      map[string]string{"team": "identity", "severity": "critical", "env": "prod", "region": "eu-west-1"},
		Reason:      "audience_mismatch",
		Layer:       "token",
		Summary: `the access token's aud is ["api://default"] but the orders API expects "https://orders.example.com"; ` +
			`the API answered 401 with error="invalid_token"`,
		NextStep: `Request the token for the API's audience: set the authorization server's Audience to ` +
			`"https://orders.example.com", or point the flow at the authorization server that issues tokens for it.`,
		Evidence: []notify.Fact{
			{Name: "status", Value: "401"},
			{Name: "aud", Value: `["api://default"]`},
			{Name: "expected_aud", Value: "https://orders.example.com"},
			{Name: "iss", Value: "https://example.okta.com/oauth2/default"},
			{Name: "www_authenticate", Value: `Bearer error="invalid_token", error_description="The audience is invalid"`},
			{Name: "access_token", Value: "sha256:9f2c4e1a7b3d"},
		},
		RequestIDs: map[string]string{
			"x-request-id":      "7d9c2b1e-4f3a-4e8b-9c1d-2a3b4c5d6e7f",
			"x-okta-request-id": "ZfHc2x3kQ9aWmT7vLp0sEgAAA8c",
		},
		FirstFailure: Now.Add(-17 * time.Minute),
		Failures:     4,
		Host:         "authwatch-1.eu-west-1.internal",
		Region:       "eu-west-1",
		StatusURL:    "https://authwatch.example.com/flows/okta-client-credentials",
	}
	switch typ {
	case notify.Updated:
		ev.PreviousReason = "invalid_token"
		ev.Failures = 7
	case notify.Reminder:
		ev.Failures = 40
	case notify.Resolved:
		ev.Summary = "okta-client-credentials passes again after 4 consecutive failures over 17m (was: audience_mismatch)"
		ev.NextStep = ""
	case notify.Test:
		ev.Severity = notify.SeverityInfo
		ev.Summary = "Sent by `authwatch notify test`: this route works. No action needed."
		ev.NextStep = ""
	}
	return ev
}

// Events returns Event of every type, in EventTypes' order.
func Events() []notify.Event {
	out := make([]notify.Event, len(EventTypes))
	for i, typ := range EventTypes {
		out[i] = Event(typ)
	}
	return out
}

// Hostile returns Event(typ) with every text field at its worst for a
// renderer: markup of Slack mrkdwn, Markdown, HTML and JSON, newlines,
// non-ASCII text, a 10,000-character summary, 60 evidence facts, 30 labels
// and request ids, and a status URL needing escapes. Chat kinds must still
// fit their receivers' limits and show the text literally.
func Hostile(typ notify.EventType) notify.Event {
	ev := Event(typ)
	markup := "<!channel> <@U123> *bold* _it_ ~x~ `code` [md](https://x) <b>&amp;</b> {\"a\":1} | > quote\nline2 ü 日本 🚨"
	ev.Flow = "flow <&> *x* " + strings.Repeat("f", 200)
	ev.Step = "step\n*two*"
	ev.Summary = markup + " " + strings.Repeat("summary ", 1250)
	if ev.NextStep != "" {
		ev.NextStep = markup + " " + strings.Repeat("next ", 1000)
	}
	ev.Evidence = nil
	ev.Labels = map[string]string{}
	ev.RequestIDs = map[string]string{}
	for i := range 60 {
		ev.Evidence = append(ev.Evidence, notify.Fact{Name: "fact" + strconv.Itoa(i) + " <*>", Value: markup + strings.Repeat("v", 300)})
	}
	for i := range 30 {
		ev.Labels["label"+strconv.Itoa(i)] = markup
		ev.RequestIDs["x-id-"+strconv.Itoa(i)] = markup + strings.Repeat("r", 100)
	}
	ev.StatusURL = "https://authwatch.example.com/flows/flow%20%3C%26%3E?x=1&y=|>"
	return ev
}
