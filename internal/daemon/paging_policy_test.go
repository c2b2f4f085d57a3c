package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/notify"
)

// pgTarget is an API whose behaviour per path the test sets: "open" answers
// 200 to a request that must be refused (auth_not_enforced), "500" fails
// (server_error), "ok" refuses with a Bearer challenge (the flow passes).
type pgTarget struct {
	mu   sync.Mutex
	mode map[string]string
}

func (p *pgTarget) set(path, mode string) {
	p.mu.Lock()
	p.mode[path] = mode
	p.mu.Unlock()
}

func (p *pgTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	mode := p.mode[r.URL.Path]
	p.mu.Unlock()
	switch mode {
	case "open":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"orders":[]}`))
	case "500":
		http.Error(w, "boom", http.StatusInternalServerError)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="orders"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}
}

func pgStartTarget(t *testing.T, modes map[string]string) (*pgTarget, string) {
	t.Helper()
	tg := &pgTarget{mode: modes}
	srv := httptest.NewServer(tg)
	t.Cleanup(srv.Close)
	return tg, srv.URL
}

// pgRequiresAuthFlow expects url to refuse an anonymous request with 401
// and a Bearer challenge.
func pgRequiresAuthFlow(name, url string, labels string) string {
	return fmt.Sprintf(`name: %s
every: 1s
timeout: 10s
labels: %s
steps:
  - id: anonymous
    kind: http
    url: %q
    expect: {status: 401, challenge: Bearer}
`, name, labels, url)
}

// pgIncident returns the alerting's in-memory incident state of flow.
func pgIncident(m *Main, flow string) incident.State {
	m.alert.mu.Lock()
	defer m.alert.mu.Unlock()
	return m.alert.states[flow]
}

// TestPagingPolicy: the alert policy through the daemon, from authwatch.yaml
// (policy open_after 2, resolve_after 1, remind_every 1m; a silence on
// team=quiet) to a webhook receiver:
//   - a flow failing for a real reason opens an incident (Opened, reason
//     auth_not_enforced);
//   - its reason changes (the API now answers 500): one Updated, with
//     previous_reason auth_not_enforced and reason server_error;
//   - a reminder: remind_every is at least 1m and the daemon's reminder
//     tick runs every 30s, too slow for a test, so the incident's
//     LastNotified is moved 2 minutes back in the alerting's state and the
//     daemon's tick (alerting.tick) is called; exactly one Reminder goes
//     out, same incident key, the current reason;
//   - it passes again: Resolved, same key;
//   - a flow matched by the silence opens an incident that is withheld
//     (State.Suppressed, MutedBy names the silence) and, once it passes,
//     resolves without anything sent: the receiver never hears of it.
func TestPagingPolicy(t *testing.T) {
	t.Parallel()
	target, api := pgStartTarget(t, map[string]string{"/policy": "open", "/quiet": "open"})
	hook := pgNewHook(t)
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	d := pgStartInProcess(t, fmt.Sprintf(`notifiers:
  hook: {kind: webhook, url: %s/hook, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy: {open_after: 2, resolve_after: 1, remind_every: 1m}
silences:
  - matchers: {team: quiet}
    until: %s
    comment: "test: the quiet team migrates its IdP"
`, hook.URL, until), map[string]string{
		"policy.yaml": pgRequiresAuthFlow("policy-flow", api+"/policy", "{team: orders}"),
		"quiet.yaml":  pgRequiresAuthFlow("quiet-flow", api+"/quiet", "{team: quiet}"),
	})
	const flow = "policy-flow"
	events := func() []pgDelivery { u, _ := pgDedupe(hook.Deliveries(t, flow)); return u }
	waitType := func(typ notify.EventType, what string) pgDelivery {
		t.Helper()
		var got pgDelivery
		e2eWaitFor(t, 20*time.Second, what, func() bool {
			for _, d := range events() {
				if d.Event.Type == typ {
					got = d
					return true
				}
			}
			return false
		})
		return got
	}

	// Opened.
	opened := waitType(notify.Opened, "the Opened")
	if opened.Event.Reason != "auth_not_enforced" || opened.Event.Failures < 2 {
		t.Errorf("opened: reason %q after %d failures; want auth_not_enforced after 2", opened.Event.Reason, opened.Event.Failures)
	}

	// The reason changes: Updated, "was auth_not_enforced, now server_error".
	target.set("/policy", "500")
	updated := waitType(notify.Updated, "the Updated for the new reason")
	if updated.Event.Reason != "server_error" || updated.Event.PreviousReason != "auth_not_enforced" {
		t.Errorf("updated: reason %q previous_reason %q; want server_error, was auth_not_enforced", updated.Event.Reason, updated.Event.PreviousReason)
	}
	if p := updated.Req.Payload(t); !strings.Contains(p.Title, "server_error") || !strings.Contains(p.Text, updated.Event.Summary) {
		t.Errorf("updated payload: title %q text %q; want the new reason and its summary", p.Title, p.Text)
	}
	if updated.Event.IncidentKey != opened.Event.IncidentKey {
		t.Errorf("updated has key %q, opened %q: an update must amend the same incident", updated.Event.IncidentKey, opened.Event.IncidentKey)
	}
	time.Sleep(2500 * time.Millisecond) // two more failing runs with the same reason
	if got := pgTypes(events()); len(got) != 2 {
		t.Errorf("before the reminder is due: %v, want [opened updated] (no second Updated for the same reason, no early reminder)", got)
	}

	// A reminder: move the last notification 2m back and run the tick.
	d.m.alert.mu.Lock()
	st := d.m.alert.states[flow]
	st.LastNotified = st.LastNotified.Add(-2 * time.Minute)
	d.m.alert.states[flow] = st
	d.m.alert.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.m.alert.tick(ctx)
	reminder := waitType(notify.Reminder, "the Reminder")
	if reminder.Event.Reason != "server_error" || reminder.Event.IncidentKey != opened.Event.IncidentKey {
		t.Errorf("reminder: reason %q key %q; want server_error, key %q", reminder.Event.Reason, reminder.Event.IncidentKey, opened.Event.IncidentKey)
	}
	time.Sleep(2500 * time.Millisecond)
	n := 0
	for _, e := range events() {
		if e.Event.Type == notify.Reminder {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d reminders, want exactly 1 (the next is due in 1m)", n)
	}

	// The silenced flow's incident is open but withheld.
	q := pgIncident(d.m, "quiet-flow")
	if !q.Open || !q.Suppressed || !strings.Contains(q.MutedBy, "silences[0]") {
		t.Errorf("quiet-flow: open %v suppressed %v muted by %q; want an open, withheld incident muted by silences[0]", q.Open, q.Suppressed, q.MutedBy)
	}

	// Both pass again.
	target.set("/policy", "ok")
	target.set("/quiet", "ok")
	resolved := waitType(notify.Resolved, "the Resolved")
	if resolved.Event.IncidentKey != opened.Event.IncidentKey || resolved.Event.Reason != "server_error" {
		t.Errorf("resolved: key %q reason %q; want key %q and the last reason server_error", resolved.Event.IncidentKey, resolved.Event.Reason, opened.Event.IncidentKey)
	}
	e2eWaitFor(t, 10*time.Second, "quiet-flow's incident closed", func() bool { return !pgIncident(d.m, "quiet-flow").Open })
	time.Sleep(2 * time.Second) // a Resolved of the silenced incident would arrive now

	if got := pgTypes(events()); fmt.Sprint(got) != "[opened updated reminder resolved]" {
		t.Errorf("policy-flow events: %v, want [opened updated reminder resolved]", got)
	}
	if quiet := hook.Deliveries(t, "quiet-flow"); len(quiet) != 0 {
		t.Errorf("the silenced flow reached the receiver: %v", pgTypes(quiet))
	}
	for _, r := range hook.Requests() {
		if r.Status != http.StatusOK {
			t.Errorf("the receiver answered %d", r.Status)
		}
	}
}

// TestPagingRemovedFlowStopsReminding: a flow with an open incident is
// removed from the flows directory and the daemon reloads. Its incident
// can never resolve now (no more runs), so the daemon must not go on
// reminding about it; here, as in TestPagingPolicy, the reminder is made
// due by moving LastNotified back and calling the daemon's tick.
func TestPagingRemovedFlowStopsReminding(t *testing.T) {
	t.Parallel()
	_, api := pgStartTarget(t, map[string]string{"/gone": "open"})
	hook := pgNewHook(t)
	d := pgStartInProcess(t, fmt.Sprintf(`notifiers:
  hook: {kind: webhook, url: %s/hook, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy: {open_after: 1, resolve_after: 1, remind_every: 1m}
`, hook.URL), map[string]string{
		"gone.yaml": pgRequiresAuthFlow("gone-flow", api+"/gone", "{team: orders}"),
		"stay.yaml": pgRequiresAuthFlow("stay-flow", api+"/stay", "{team: orders}"),
	})
	e2eWaitFor(t, 20*time.Second, "the Opened of gone-flow", func() bool { return len(hook.Deliveries(t, "gone-flow")) >= 1 })

	if err := os.Remove(filepath.Join(d.flowsDir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	d.m.Reload()
	if d.m.isConfigured("gone-flow") {
		t.Fatal("gone-flow is still configured after the reload")
	}
	// A run in flight when the flow was removed may land after this: its
	// result is dropped (TestRemovedFlowsLateRunOpensNothing proves it).
	d.m.alert.mu.Lock()
	st, ok := d.m.alert.states["gone-flow"]
	if ok {
		st.LastNotified = st.LastNotified.Add(-2 * time.Minute)
		d.m.alert.states["gone-flow"] = st
	}
	d.m.alert.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.m.alert.tick(ctx)
	// A reminder tick made is in the outbox when tick returns: still
	// there, or already delivered (read after, so one moving between the
	// two is seen in one of them).
	due, err := d.m.alert.outbox.Due(ctx, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range due {
		if strings.HasPrefix(it.IncidentKey, "gone-flow") {
			t.Errorf("gone-flow was removed from the configuration but its incident queued %s", it.Event)
		}
	}
	got := pgTypes(hook.Deliveries(t, "gone-flow"))
	t.Logf("gone-flow's events: %v (incident state kept after removal: %v)", got, ok)
	for _, typ := range got[1:] {
		if typ == notify.Reminder {
			t.Errorf("gone-flow was removed from the configuration but its incident still sends reminders: %v", got)
			break
		}
	}
}
