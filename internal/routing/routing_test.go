package routing

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/notify"
)

var routes = []Route{
	{Name: "iam-pages", Match: incident.Matchers{"team": "iam", "severity": "critical"}, Notifiers: []string{"pagerduty-iam", "slack-iam"}},
	{Name: "warnings", Match: incident.Matchers{"severity": "warning"}, Notifiers: []string{"slack-iam"}},
	{Name: "idp-layer", Match: incident.Matchers{"layer": "idp", "event": "~opened|resolved"}, Notifiers: []string{"slack-idp", "slack-iam"}},
	{Name: "key-rotation", Match: incident.Matchers{"reason": "~signing_key_not_found|jwks_.*", "flow": "~okta-.*"}, Notifiers: []string{"email-security"}},
	{Name: "everything", Match: incident.Matchers{"env": "prod"}, Notifiers: []string{"log"}},
	{Name: "fallback", Default: true, Notifiers: []string{"slack-oncall"}},
	{Name: "fallback-tests", Default: true, Match: incident.Matchers{"event": "test"}, Notifiers: []string{"log"}},
}

func TestResolve(t *testing.T) {
	ev := func(typ notify.EventType, sev notify.Severity, flow, reason, layer string, labels map[string]string) notify.Event {
		return notify.Event{Type: typ, Severity: sev, Flow: flow, Reason: reason, Layer: layer, Labels: labels}
	}
	iam := map[string]string{"team": "iam"}
	tests := []struct {
		name string
		ev   notify.Event
		want []string
	}{
		{"several routes match, names once, in order",
			ev(notify.Opened, notify.SeverityCritical, "okta-login", "signing_key_not_found", "idp", map[string]string{"team": "iam", "env": "prod"}),
			[]string{"pagerduty-iam", "slack-iam", "slack-idp", "email-security", "log"}},
		{"event type: the idp route takes no reminders",
			ev(notify.Reminder, notify.SeverityCritical, "okta-login", "invalid_client", "idp", iam),
			[]string{"pagerduty-iam", "slack-iam"}},
		{"event type: resolved reaches the idp route",
			ev(notify.Resolved, notify.SeverityCritical, "azure-login", "invalid_client", "idp", nil),
			[]string{"slack-idp", "slack-iam"}},
		{"warnings route apart from pages",
			ev(notify.Opened, notify.SeverityWarning, "okta-login", "tls_certificate_expiring", "network", iam),
			[]string{"slack-iam"}},
		{"the flow pseudo-label",
			ev(notify.Updated, notify.SeverityInfo, "okta-api", "jwks_unavailable", "idp", nil),
			[]string{"email-security"}},
		{"nothing matched: the default route",
			ev(notify.Opened, notify.SeverityCritical, "web", "timeout", "network", map[string]string{"team": "web"}),
			[]string{"slack-oncall"}},
		{"several default routes, each with its matchers",
			ev(notify.Test, notify.SeverityInfo, "web", "", "", nil),
			[]string{"slack-oncall", "log"}},
		{"a pseudo-label wins over a flow label of the same name",
			ev(notify.Opened, notify.SeverityCritical, "web", "timeout", "network", map[string]string{"severity": "warning"}),
			[]string{"slack-oncall"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Resolve(routes, tc.ev); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Resolve = %v, want %v", got, tc.want)
			}
		})
	}
	if got := Resolve(nil, tests[0].ev); got != nil {
		t.Errorf("no routes: %v", got)
	}
	if got := Resolve(routes[:1], tests[5].ev); got != nil {
		t.Errorf("no match and no default: %v", got)
	}
}

func TestMatched(t *testing.T) {
	ev := notify.Event{Type: notify.Opened, Severity: notify.SeverityWarning, Flow: "x", Labels: map[string]string{"env": "prod"}}
	if got, want := Matched(routes, ev), []string{"warnings", "everything"}; !slices.Equal(got, want) {
		t.Errorf("Matched = %v, want %v", got, want)
	}
	ev.Severity, ev.Labels = notify.SeverityCritical, nil
	if got, want := Matched(routes, ev), []string{"fallback"}; !slices.Equal(got, want) {
		t.Errorf("Matched = %v, want %v", got, want)
	}
}

// Resolve and Matched agree.
func TestResolveIsMatchedRoutesNotifiers(t *testing.T) {
	for _, typ := range []notify.EventType{notify.Opened, notify.Updated, notify.Reminder, notify.Resolved, notify.Test} {
		for _, sev := range []notify.Severity{notify.SeverityCritical, notify.SeverityWarning, notify.SeverityInfo} {
			for _, labels := range []map[string]string{nil, {"team": "iam"}, {"env": "prod"}} {
				ev := notify.Event{Type: typ, Severity: sev, Flow: "okta-x", Reason: "jwks_unavailable", Layer: "idp", Labels: labels}
				var want []string
				for _, name := range Matched(routes, ev) {
					i := slices.IndexFunc(routes, func(r Route) bool { return r.Name == name })
					for _, n := range routes[i].Notifiers {
						if !slices.Contains(want, n) {
							want = append(want, n)
						}
					}
				}
				if got := Resolve(routes, ev); !slices.Equal(got, want) {
					t.Errorf("%s %s %v: Resolve %v, routes give %v", typ, sev, labels, got, want)
				}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	known := func(n string) bool { return !strings.HasPrefix(n, "missing") }
	if err := Validate(routes, known); err != nil {
		t.Fatalf("valid routes: %v", err)
	}
	bad := []Route{
		{Name: "a", Notifiers: []string{"slack", "missing-pd"}},
		{Name: "a", Match: incident.Matchers{"event": "open", "severity": "warnings", "reason": "~token_("}},
		{Match: incident.Matchers{"event": "~open|resolved", "severity": "info"}, Notifiers: []string{"log"}},
	}
	want := strings.Join([]string{
		`routes[0].notifiers[1]: unknown notifier "missing-pd"`,
		`routes[1].match.event: must be one of opened, updated, reminder, resolved, test (or ~regexp), got "open"`,
		"routes[1].match.reason: bad regular expression after ~: error parsing regexp: missing closing ): `token_(`",
		`routes[1].match.severity: must be one of critical, warning, info (or ~regexp), got "warnings"`,
		`routes[1].notifiers: must name at least one notifier`,
		`routes[1].name: "a" is already the name of routes[0]`,
		"routes[2].name: must be set (`authwatch notify test NAME` and logs use it)",
	}, "\n")
	err := Validate(bad, known)
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	if err := Validate(bad[:1], nil); err != nil {
		t.Errorf("nil known checks no names: %v", err)
	}
}
