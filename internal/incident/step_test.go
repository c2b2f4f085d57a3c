package incident

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

func TestStep(t *testing.T) {
	def := noFlap(DefaultPolicy())
	tests := []struct {
		name string
		p    Policy
		ops  []op
	}{
		{"opens after OpenAfter failures in a row", def, minutes(
			F("token_expired"),
			F("token_expired", "opened token_expired"),
			F("token_expired"),
		)},
		{"OpenAfter 3 needs three", def.Merge(Override{OpenAfter: ptr(3)}), minutes(
			F("token_expired"), F("token_expired"), F("token_expired", "opened token_expired"),
		)},
		{"a single failure never opens", def, minutes(
			F("timeout"), P(), F("timeout"), P(), F("timeout"), P(), P(),
		)},
		{"M of K window opens on scattered failures", def.Merge(Override{OpenAfter: ptr(3), OpenWindow: &Window{Failures: 3, Runs: 5}}), minutes(
			F("timeout"), P(), F("timeout"), P(), F("timeout", "opened timeout"), P("resolved timeout"),
		)},
		{"M of K window forgets old failures", def.Merge(Override{OpenAfter: ptr(3), OpenWindow: &Window{Failures: 3, Runs: 5}}), minutes(
			F("timeout"), P(), P(), P(), F("timeout"), P(), F("timeout"),
		)},
		{"either rule opens: consecutive", def.Merge(Override{OpenWindow: &Window{Failures: 4, Runs: 10}}), minutes(
			F("timeout"), F("timeout", "opened timeout"),
		)},
		{"a new reason updates once", def, minutes(
			F("token_expired"), F("token_expired", "opened token_expired"),
			F("signing_key_not_found", "updated signing_key_not_found (was token_expired)"),
			F("signing_key_not_found"),
			F("token_expired", "updated token_expired (was signing_key_not_found)"),
		)},
		{"a reason before opening is no update", def, minutes(
			F("timeout"), F("dns_failure", "opened dns_failure"), F("dns_failure"),
		)},
		{"resolves after one pass", def, minutes(
			F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"), P(),
		)},
		{"ResolveAfter 3 needs three passes in a row", def.Merge(Override{ResolveAfter: ptr(3)}), minutes(
			F("timeout"), F("timeout", "opened timeout"), P(), P(), F("timeout"), P(), P(), P("resolved timeout"),
		)},
		{"cancelled runs change nothing", def, minutes(
			F("timeout"), C(), F("timeout", "opened timeout"), C(), C(), P("resolved timeout"),
		)},
		{"re-open after resolve", def, minutes(
			F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"),
			F("invalid_client"), F("invalid_client", "opened invalid_client"),
		)},
		{"reminders every RemindEvery since the last notification", def, []op{
			{at: 0, obs: fail("timeout")},
			{at: time.Minute, obs: fail("timeout"), want: []string{"opened timeout"}},
			{at: 4 * time.Hour},
			{at: 4*time.Hour + time.Minute, want: []string{"reminder timeout"}},
			{at: 4*time.Hour + 2*time.Minute},
			{at: 5 * time.Hour, obs: fail("invalid_client"), want: []string{"updated invalid_client (was timeout)"}},
			{at: 8*time.Hour + time.Minute},
			{at: 9 * time.Hour, obs: fail("invalid_client"), want: []string{"reminder invalid_client"}},
			{at: 9*time.Hour + time.Minute, obs: pass(), want: []string{"resolved invalid_client"}},
			{at: 20 * time.Hour},
		}},
		{"no reminders with RemindEvery 0", def.Merge(Override{RemindEvery: ptr(conf.Dur(time.Duration(0)))}), []op{
			{at: 0, obs: fail("timeout")},
			{at: time.Minute, obs: fail("timeout"), want: []string{"opened timeout"}},
			{at: 100 * time.Hour},
		}},
		{"a silence withholds Opened until it ends", def, []op{
			{at: 0, obs: fail("timeout"), muted: true},
			{at: time.Minute, obs: fail("timeout"), muted: true},
			{at: 2 * time.Minute, obs: fail("invalid_client"), muted: true},
			{at: 3 * time.Minute, muted: true},
			{at: 4 * time.Minute, want: []string{"opened invalid_client"}},
			{at: 5 * time.Minute},
			{at: 6 * time.Minute, obs: pass(), want: []string{"resolved invalid_client"}},
		}},
		{"resolved during a silence sends nothing", def, []op{
			{at: 0, obs: fail("timeout"), muted: true},
			{at: time.Minute, obs: fail("timeout"), muted: true},
			{at: 2 * time.Minute, obs: pass(), muted: true},
			{at: 3 * time.Minute},
			{at: 4 * time.Minute, obs: pass()},
			{at: 5 * time.Hour},
		}},
		{"a silence after Opened withholds updates and reminders, not the resolve", def, []op{
			{at: 0, obs: fail("timeout")},
			{at: time.Minute, obs: fail("timeout"), want: []string{"opened timeout"}},
			{at: 2 * time.Minute, obs: fail("invalid_client"), muted: true},
			{at: 5 * time.Hour, muted: true},
			{at: 5*time.Hour + time.Minute, want: []string{"updated invalid_client (was timeout)"}},
			{at: 6 * time.Hour, muted: true, obs: pass(), want: []string{"resolved invalid_client"}},
		}},
		{"an overdue reminder goes out when the silence ends", def, []op{
			{at: 0, obs: fail("timeout")},
			{at: time.Minute, obs: fail("timeout"), want: []string{"opened timeout"}},
			{at: 5 * time.Hour, muted: true},
			{at: 6 * time.Hour, want: []string{"reminder timeout"}},
			{at: 7 * time.Hour},
		}},
		{"a silence that ends by a new run sends Opened with the run", def, []op{
			{at: 0, obs: fail("timeout"), muted: true},
			{at: time.Minute, obs: fail("timeout"), muted: true},
			{at: 2 * time.Minute, obs: fail("timeout"), want: []string{"opened timeout"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { play(t, tc.p, State{}, tc.ops) })
	}
}

func TestFlapping(t *testing.T) {
	p := DefaultPolicy() // Flap {4, 10}
	t.Run("flapping while closed: the next Opened says so, then resolve is held", func(t *testing.T) {
		st, evs := play(t, p, State{}, minutes(
			F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"),
			F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"),
			F("timeout"), // 4th change: flapping, nothing open
			F("timeout", "opened timeout"),
			P(), F("timeout"), P(), F("timeout"), P(), // held open, silent
			P(), P(), P(), P(), P(), P(), P(), P(), // 9 passes in a row: still flapping
			P("resolved timeout"), // 10 in a row: stable
			P(),
		))
		if st.Flapping {
			t.Error("still flapping after 10 passes")
		}
		if opened := evs[4]; !strings.HasPrefix(opened.Summary, "flapping: 4 pass/fail changes in the last 10 runs") {
			t.Errorf("Opened while flapping: summary %q", opened.Summary)
		}
	})
	t.Run("flapping while open: one Updated, no churn, reasons wait", func(t *testing.T) {
		p := p.Merge(Override{ResolveAfter: ptr(3)})
		st, evs := play(t, p, State{}, minutes(
			F("timeout"), F("timeout", "opened timeout"), F("timeout"),
			P(), F("timeout"), P(),
			F("timeout", "updated timeout"), // 4th change
			P(), F("dns_failure"), P(), P(), P(), F("timeout"), F("dns_failure"), P(), P(), P(),
			F("dns_failure"), F("dns_failure"), F("dns_failure"), F("dns_failure"), F("dns_failure"),
			F("dns_failure"), F("dns_failure"), F("dns_failure"), F("dns_failure"),
			// 10 failures in a row: stable again, the held reason goes out
			F("dns_failure", "updated dns_failure (was timeout)"),
			P(), P(), P("resolved dns_failure"),
		))
		if st.Flapping || st.Open {
			t.Errorf("flapping=%t open=%t", st.Flapping, st.Open)
		}
		if got := evs[1].Summary; !strings.HasPrefix(got, "flapping: 4 pass/fail changes") || !strings.Contains(got, "timeout seen") {
			t.Errorf("flap notice summary %q", got)
		}
	})
	t.Run("reminders continue while flapping", func(t *testing.T) {
		ops := minutes(F("timeout"), F("timeout", "opened timeout"), F("timeout"), P(), F("timeout"), P(), F("timeout", "updated timeout"))
		ops = append(ops, op{at: 5 * time.Hour, want: []string{"reminder timeout"}})
		_, evs := play(t, p.Merge(Override{ResolveAfter: ptr(3)}), State{}, ops)
		if !strings.HasPrefix(evs[2].Summary, "flapping") {
			t.Errorf("reminder summary %q", evs[2].Summary)
		}
	})
	t.Run("without flap detection the same runs churn", func(t *testing.T) {
		play(t, noFlap(p), State{}, minutes(
			F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"),
			F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"),
			F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"),
		))
	})
}

func TestWarnings(t *testing.T) {
	p := noFlap(DefaultPolicy())
	const short, tls = "token_lifetime_short", "tls_certificate_expiring"
	t.Run("lifecycle", func(t *testing.T) {
		st, evs := play(t, p, State{}, minutes(
			W([]string{short}, "opened/warning "+short),
			W([]string{short}),
			W([]string{tls, short}, "updated/warning "+tls+" (was "+short+")"),
			F("timeout"), // a failure says nothing about warnings
			F("timeout", "opened timeout"),
			W([]string{tls}, "resolved timeout"),
			P("resolved/warning "+tls),
			W([]string{short}, "opened/warning "+short),
		))
		if evs[0].IncidentKey == evs[len(evs)-1].IncidentKey {
			t.Error("a re-opened warning incident kept its key")
		}
		if !strings.Contains(evs[0].IncidentKey, "/warning/") || evs[0].IncidentKey == evs[3].IncidentKey {
			t.Errorf("warning key %q, failure key %q", evs[0].IncidentKey, evs[3].IncidentKey)
		}
		if ev := evs[1]; ev.Summary != tls+" soon" || len(ev.Evidence) != 2 {
			t.Errorf("warning event summary %q evidence %v", ev.Summary, ev.Evidence)
		}
		if !st.Warning.Open {
			t.Error("warning incident not open")
		}
	})
	t.Run("off", func(t *testing.T) {
		play(t, p.Merge(Override{Warnings: ptr(false)}), State{}, minutes(W([]string{short}), P()))
	})
	t.Run("turned off while open resolves it", func(t *testing.T) {
		st, _ := play(t, p, State{}, minutes(W([]string{short}, "opened/warning "+short)))
		play(t, p.Merge(Override{Warnings: ptr(false)}), st, []op{{at: time.Hour, obs: warn(short), want: []string{"resolved/warning " + short}}})
	})
	t.Run("muted warning opens when the silence ends, or never if it cleared", func(t *testing.T) {
		play(t, p, State{}, []op{
			{at: 0, obs: warn(short), muted: true},
			{at: time.Minute, want: []string{"opened/warning " + short}},
		})
		play(t, p, State{}, []op{
			{at: 0, obs: warn(short), muted: true},
			{at: time.Minute, obs: pass(), muted: true},
			{at: 2 * time.Minute},
		})
	})
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		label string
		want  notify.Severity
	}{
		{"", notify.SeverityCritical},
		{"page", notify.SeverityCritical},
		{"critical", notify.SeverityCritical},
		{"ticket", notify.SeverityWarning},
		{"warning", notify.SeverityWarning},
		{"Warning ", notify.SeverityWarning},
		{"info", notify.SeverityInfo},
		{"whatever", notify.SeverityCritical},
	}
	p := noFlap(DefaultPolicy())
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			var st State
			var evs []notify.Event
			for i := range 2 {
				obs := *fail("timeout")
				if tc.label != "" {
					obs.Labels = map[string]string{"severity": tc.label, "team": "iam"}
				}
				st, evs = Step(p, st, obs, t0.Add(time.Duration(i)*time.Minute), nil)
			}
			if len(evs) != 1 || evs[0].Severity != tc.want {
				t.Fatalf("events %v, want one with severity %s", evs, tc.want)
			}
			if tc.label != "" && evs[0].Labels["team"] != "iam" {
				t.Errorf("labels %v", evs[0].Labels)
			}
		})
	}
}

func TestKeysAndIDs(t *testing.T) {
	p := noFlap(DefaultPolicy())
	ops := minutes(
		F("timeout"), F("timeout", "opened timeout"), F("dns_failure", "updated dns_failure (was timeout)"),
		P("resolved dns_failure"), F("timeout"), F("timeout", "opened timeout"), P("resolved timeout"),
	)
	_, evs := play(t, p, State{}, ops)
	first, second := evs[0].IncidentKey, evs[3].IncidentKey
	if want := "authwatch/login/" + strconv.FormatInt(t0.Add(2*time.Minute).Unix(), 10); first != want {
		t.Errorf("key %q, want %q", first, want)
	}
	if evs[1].IncidentKey != first || evs[2].IncidentKey != first {
		t.Errorf("keys changed within an incident: %q %q %q", first, evs[1].IncidentKey, evs[2].IncidentKey)
	}
	if second == first || evs[4].IncidentKey != second {
		t.Errorf("re-opened incident: keys %q then %q, resolved %q", first, second, evs[4].IncidentKey)
	}
	ids := map[string]bool{}
	for _, ev := range evs {
		if ids[ev.ID] || len(ev.ID) != 32 {
			t.Errorf("id %q repeated or malformed", ev.ID)
		}
		ids[ev.ID] = true
	}
	_, again := play(t, p, State{}, ops)
	if !reflect.DeepEqual(evs, again) {
		t.Error("a replay produced other events")
	}

	t.Run("re-open within the same second gets a new key", func(t *testing.T) {
		p := p.Merge(Override{OpenAfter: ptr(1)})
		var st State
		var keys []string
		for _, obs := range []*Observation{fail("timeout"), pass(), fail("timeout"), pass(), fail("timeout")} {
			var evs []notify.Event
			st, evs = Step(p, st, *obs, t0, nil)
			if len(evs) == 1 && evs[0].Type == notify.Opened {
				keys = append(keys, evs[0].IncidentKey)
			}
		}
		n := t0.Unix()
		want := []string{"authwatch/login/" + strconv.FormatInt(n, 10), "authwatch/login/" + strconv.FormatInt(n+1, 10),
			"authwatch/login/" + strconv.FormatInt(n+2, 10)}
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("keys %v, want %v", keys, want)
		}
	})
}

func TestEventContent(t *testing.T) {
	p := noFlap(DefaultPolicy())
	obs := *fail("signing_key_not_found")
	obs.Labels = map[string]string{"region": "eu-west-1", "team": "iam"}
	obs.NextStep = "check the JWKS"
	st, _ := Step(p, State{}, withTime(obs, t0), t0, nil)
	st, evs := Step(p, st, withTime(obs, t0.Add(time.Minute)), t0.Add(time.Minute), nil)
	want := notify.Event{
		ID: evs[0].ID, IncidentKey: "authwatch/login/" + strconv.FormatInt(t0.Add(time.Minute).Unix(), 10),
		Type: notify.Opened, Severity: notify.SeverityCritical, Time: t0.Add(time.Minute),
		Flow: "login", Step: "token", Labels: obs.Labels, Reason: "signing_key_not_found", Layer: "token",
		Summary: "signing_key_not_found seen", NextStep: "check the JWKS",
		Evidence: []notify.Fact{{Name: "kid", Value: "k1"}}, RequestIDs: map[string]string{"x-request-id": "r1"},
		FirstFailure: t0, Failures: 2, Region: "eu-west-1",
	}
	if !reflect.DeepEqual(evs, []notify.Event{want}) {
		t.Fatalf("got  %+v\nwant %+v", evs, want)
	}
	_, evs = Step(p, st, withTime(*pass(), t0.Add(2*time.Minute)), t0.Add(2*time.Minute), nil)
	if ev := evs[0]; ev.Type != notify.Resolved || ev.IncidentKey != want.IncidentKey || ev.Evidence != nil ||
		ev.Summary != "passing again (1 in a row); it failed with signing_key_not_found" {
		t.Errorf("resolved event %+v", ev)
	}
}

func withTime(o Observation, at time.Time) Observation { o.Time = at; return o }

func TestStepDoesNotModifyItsInput(t *testing.T) {
	p := DefaultPolicy()
	st, _ := play(t, p, State{}, minutes(F("timeout"), F("timeout", "opened timeout"), W([]string{"token_lifetime_short"},
		"resolved timeout", "opened/warning token_lifetime_short")))
	before, _ := json.Marshal(st)
	Step(p, st, withTime(*fail("dns_failure"), t0.Add(time.Hour)), t0.Add(time.Hour), nil)
	Step(p, st, withTime(*pass(), t0.Add(time.Hour)), t0.Add(time.Hour), nil)
	Tick(p, st, t0.Add(10*time.Hour), nil)
	after, _ := json.Marshal(st)
	if string(before) != string(after) {
		t.Errorf("state changed:\n%s\n%s", before, after)
	}
}

func TestStateJSONRoundTrip(t *testing.T) {
	p := DefaultPolicy().Merge(Override{ResolveAfter: ptr(2)})
	obs := fail("timeout")
	obs.Labels = map[string]string{"team": "iam"}
	st, _ := play(t, p, State{}, []op{
		{at: 0, obs: warn("token_lifetime_short"), want: []string{"opened/warning token_lifetime_short"}},
		{at: time.Minute, obs: obs, muted: true},
		{at: 2 * time.Minute, obs: obs, muted: true},
		{at: 3 * time.Minute, obs: warn("token_lifetime_short"), muted: true},
	})
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, back) {
		t.Fatalf("round trip changed the state:\n%+v\n%+v\n%s", st, back, data)
	}
	for _, field := range []string{`"suppressed":true`, `"recent":[true,false,false,true]`, `"warning":{"open":true`, `"muted_by":"test silence"`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("JSON lacks %s: %s", field, data)
		}
	}
	// Both continue alike.
	next := []op{{at: time.Hour, want: []string{"opened timeout"}}, {at: 2 * time.Hour, obs: pass(), want: []string{"resolved timeout", "resolved/warning token_lifetime_short"}}}
	a, evsA := play(t, p, st, next)
	b, evsB := play(t, p, back, next)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(evsA, evsB) {
		t.Error("a restored state behaves differently")
	}
}

func ptr[T any](v T) *T { return &v }
