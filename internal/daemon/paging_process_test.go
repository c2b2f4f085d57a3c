package daemon

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/webhook"
)

// TestPagingProcess runs the real `authwatch run` (and `authwatch notify`)
// binary as a subprocess: what needs a process (SIGKILL, the CLI, the
// environment and CA bundle of a deployment). The binary is built once,
// without -race, into this test's temporary directory.
func TestPagingProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authwatch binary; skipped with -short")
	}
	bin := pgBuild(t, t.TempDir())
	t.Run("fault: outage, SIGKILL, restart, resolve, recovery", func(t *testing.T) { t.Parallel(); pgTestFault(t, bin) })
	t.Run("routing by label and secret canary", func(t *testing.T) { t.Parallel(); pgTestRouting(t, bin) })
	t.Run("notify test ROUTE", func(t *testing.T) { t.Parallel(); pgTestNotifyTest(t, bin) })
}

// pgAdminExportFlow is the demo's planted bug: GET /admin/export answers
// 200 without a token. Expecting 401 fails with auth_not_enforced;
// expecting 200 passes.
func pgAdminExportFlow(name, api string, status int) string {
	expect := "{status: 200}"
	if status == 401 {
		expect = "{status: 401, challenge: Bearer}"
	}
	return fmt.Sprintf(`name: %s
every: 1s
timeout: 10s
labels: {team: orders, severity: page}
steps:
  - id: no_token
    kind: http
    url: %q
    expect: %s
`, name, api+"/admin/export", expect)
}

// pgTestFault is the acceptance test. A flow fails for a real
// reason (the demo API's /admin/export does not enforce auth:
// auth_not_enforced; every 1s; policy open_after 2, resolve_after 1) and is
// routed to a signed webhook whose receiver is down:
//
//  1. first life: the receiver refuses connections; the incident opens and
//     its Opened is queued (the daemon logs the failed attempt); SIGKILL;
//  2. second life: the receiver is back but answers 503 (Retry-After: 1);
//     the Opened queued before the crash is attempted again (it survived
//     the SIGKILL); the flow file is swapped to pass and SIGHUP reloads it,
//     so the Resolved is queued too, behind the Opened;
//  3. the receiver accepts: every page arrives exactly once per event id
//     (X-Authwatch-Delivery, deduplicated as a receiver must; the
//     duplicates are counted and reported), Opened before Resolved, one
//     incident key, the reason and summary in the payload, every request
//     signed with the configured HMAC key.
func pgTestFault(t *testing.T, bin string) {
	env := pgDemo(t)
	hook := pgNewHook(t)
	hook.Down()
	dir := t.TempDir()
	hmacKey := e2eRandom("hmac-canary-")
	keyFile := pgWriteSecret(t, dir, "webhook.key", hmacKey)
	cfgBody := fmt.Sprintf(`notifiers:
  hook:
    kind: webhook
    url: %s/hook
    allow_http: true
    hmac_secret: ${file:%s}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy:
  open_after: 2
  resolve_after: 1
`, hook.URL, keyFile)
	const flow = "admin-export"
	cfg, flowsDir := pgSetup(t, dir, cfgBody, map[string]string{"admin.yaml": pgAdminExportFlow(flow, env.API.URL(), 401)})

	// 1. First life: the receiver refuses connections.
	p1 := pgStartProc(t, bin, cfg, nil)
	e2eWaitFor(t, 20*time.Second, "the Opened queued and its first delivery attempt failed", func() bool {
		return pgCount(p1.out.String(), "notification delivery failed; will retry", "notifier=hook", "incident=authwatch/"+flow+"/") > 0
	})
	if got := pgCount(p1.out.String(), "flow failing", "flow="+flow, "reason=auth_not_enforced"); got == 0 {
		t.Errorf("the flow did not fail with auth_not_enforced; output:\n%s", p1.out.String())
	}
	p1.signal(syscall.SIGKILL)
	if ws, ok := p1.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the first daemon ended with %v, not by SIGKILL", p1.cmd.ProcessState)
	}
	if n := len(hook.Requests()); n != 0 {
		t.Fatalf("the receiver was down but recorded %d requests", n)
	}

	// 2. Second life: the receiver answers 503; the Opened is retried.
	hook.Answer(http.StatusServiceUnavailable, "1")
	p2 := pgStartProc(t, bin, cfg, nil)
	e2eWaitFor(t, 30*time.Second, "the Opened queued before the SIGKILL attempted again after the restart", func() bool {
		for _, r := range hook.Requests() {
			if r.Header.Get(webhook.HeaderEvent) == string(notify.Opened) {
				return true
			}
		}
		return false
	})
	restartOut := len(p2.out.String())
	e2eWrite(t, flowsDir, "admin.yaml", pgAdminExportFlow(flow, env.API.URL(), 200))
	p2.signal(syscall.SIGHUP)
	// "flow passing" is logged just before the result goes through the
	// alert policy; the next run of the flow is logged after that commit.
	e2eWaitFor(t, 20*time.Second, "the flow passing after the reload, and one more run", func() bool {
		out := p2.out.String()[restartOut:]
		i := strings.Index(out, `msg="flow passing" flow=`+flow)
		return i >= 0 && strings.Contains(out[i+1:], "msg=run flow="+flow)
	})
	for _, r := range hook.Requests() {
		if ev := r.Header.Get(webhook.HeaderEvent); ev != string(notify.Opened) {
			t.Errorf("while the Opened was undelivered the receiver got a %q attempt: per-incident order broken", ev)
		}
	}

	// 3. The receiver is back.
	backAt := time.Now()
	hook.Answer(http.StatusOK, "")
	e2eWaitFor(t, 45*time.Second, "the Opened and the Resolved accepted", func() bool {
		var opened, resolved bool
		for _, d := range hook.Deliveries(t, flow) {
			opened = opened || d.Event.Type == notify.Opened
			resolved = resolved || d.Event.Type == notify.Resolved
		}
		return opened && resolved
	})
	time.Sleep(2 * time.Second) // anything sent twice would arrive now
	p2.signal(syscall.SIGTERM)

	all := hook.Requests()
	for i, r := range all {
		if err := webhook.Verify([]byte(hmacKey), r.Header, r.Body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("request %d (%s): signature: %v", i, r.Header.Get(webhook.HeaderEvent), err)
		}
	}
	deliveries := hook.Deliveries(t, flow)
	unique, dups := pgDedupe(deliveries)
	t.Logf("receiver: %d requests (%d refused with 503 after the restart), %d accepted, %d unique event ids, %d duplicate deliveries of an already accepted event id",
		len(all), len(all)-len(hook.Accepted()), len(deliveries), len(unique), dups)
	for _, d := range deliveries {
		if d.ID != d.Event.ID {
			t.Errorf("X-Authwatch-Delivery %q differs from the payload's event id %q", d.ID, d.Event.ID)
		}
	}
	if got := pgTypes(unique); len(got) != 2 || got[0] != notify.Opened || got[1] != notify.Resolved {
		t.Fatalf("unique events received: %v, want [opened resolved]", got)
	}
	opened, resolved := unique[0].Event, unique[1].Event
	if opened.IncidentKey == "" || opened.IncidentKey != resolved.IncidentKey {
		t.Errorf("incident keys: opened %q, resolved %q; want one key", opened.IncidentKey, resolved.IncidentKey)
	}
	if opened.Reason != "auth_not_enforced" || opened.Summary == "" || opened.Step != "no_token" || opened.Layer == "" {
		t.Errorf("opened: reason %q step %q layer %q summary %q; want auth_not_enforced at no_token with a summary", opened.Reason, opened.Step, opened.Layer, opened.Summary)
	}
	if p := unique[0].Req.Payload(t); !strings.Contains(p.Title, "auth_not_enforced") || !strings.Contains(p.Text, opened.Summary) {
		t.Errorf("opened payload title %q text %q: want the reason and the summary", p.Title, p.Text)
	}
	if resolved.Reason != "auth_not_enforced" || !strings.Contains(resolved.Summary, "passing again") {
		t.Errorf("resolved: reason %q summary %q; want the reason it failed with and that it passes again", resolved.Reason, resolved.Summary)
	}
	if !resolved.Time.Before(backAt) {
		t.Errorf("the Resolved happened at %s, after the receiver came back (%s): it was not queued during the outage", resolved.Time, backAt)
	}
	if !unique[0].Req.At.Before(unique[1].Req.At) {
		t.Errorf("the Resolved arrived before the Opened")
	}
	// Two unique ids of one type for the incident would be a double page
	// that no receiver can deduplicate.
	seen := map[notify.EventType]string{}
	for _, d := range unique {
		if prev, dup := seen[d.Event.Type]; dup {
			t.Errorf("two %s events with different ids (%s, %s): a double page", d.Event.Type, prev, d.ID)
		}
		seen[d.Event.Type] = d.ID
	}
	// The HMAC key is a secret: never in a payload, a header or the log.
	for _, r := range all {
		if strings.Contains(string(r.Body), hmacKey) || strings.Contains(fmt.Sprint(r.Header), hmacKey) {
			t.Errorf("a request carries the HMAC key")
		}
	}
	for _, out := range []string{p1.out.String(), p2.out.String()} {
		if strings.Contains(out, hmacKey) {
			t.Errorf("the daemon log carries the HMAC key")
		}
	}
	if t.Failed() {
		t.Logf("first life:\n%s\nsecond life:\n%s", p1.out.String(), p2.out.String())
	}
}

// pgTestNotifyTest: `authwatch notify test ROUTE` with a configuration
// whose route "ops" has a signed webhook: the receiver gets one event
// marked as a test (type test, X-Authwatch-Event: test, the TEST title,
// severity info, a summary saying no action is needed), signed, and the
// command says it was delivered (exit 0). An unknown route exits 2 and
// names it; a receiver that refuses makes it exit 1 with the receiver's
// answer, and no secret in the output.
func pgTestNotifyTest(t *testing.T, bin string) {
	hook := pgNewHook(t)
	dir := t.TempDir()
	hmacKey := e2eRandom("hmac-canary-")
	keyFile := pgWriteSecret(t, dir, "webhook.key", hmacKey)
	cfg, _ := pgSetup(t, dir, fmt.Sprintf(`notifiers:
  ops-hook:
    kind: webhook
    url: %s/ops
    allow_http: true
    hmac_secret: ${file:%s}
  journal: {kind: log}
routes:
  - {name: ops, match: {team: ops}, notifiers: [ops-hook]}
  - {name: rest, default: true, notifiers: [journal]}
`, hook.URL, keyFile), nil)

	code, stdout, stderr := pgRun(t, bin, "notify", "test", "ops", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "ops-hook") || !strings.Contains(stdout, "delivered") {
		t.Fatalf("notify test ops: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	reqs := hook.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	p := r.Payload(t)
	if r.Header.Get(webhook.HeaderEvent) != "test" || p.Event.Type != notify.Test || !strings.HasPrefix(p.Title, "TEST ") ||
		p.Event.Severity != notify.SeverityInfo || !strings.Contains(p.Event.Summary, "No action is needed") || r.Path != "/ops" {
		t.Errorf("the test event: %s %s\n%s", r.Path, r.Header, r.Body)
	}
	if r.Header.Get(webhook.HeaderDelivery) == "" || r.Header.Get(webhook.HeaderDelivery) != p.Event.ID {
		t.Errorf("X-Authwatch-Delivery %q, event id %q", r.Header.Get(webhook.HeaderDelivery), p.Event.ID)
	}
	if err := webhook.Verify([]byte(hmacKey), r.Header, r.Body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("the test event's signature: %v", err)
	}

	code, stdout, stderr = pgRun(t, bin, "notify", "test", "no-such-route", "--config", cfg)
	if code != 2 || !strings.Contains(stderr, "no route named no-such-route") || !strings.Contains(stderr, "routes: ops, rest") {
		t.Errorf("notify test no-such-route: exit %d (want 2)\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := len(hook.Requests()); n != 1 {
		t.Errorf("an unknown route sent %d requests", n-1)
	}

	hook.Answer(http.StatusForbidden, "")
	code, stdout, stderr = pgRun(t, bin, "notify", "test", "ops", "--config", cfg)
	if code != 1 || !strings.Contains(stdout, "ops-hook") || !strings.Contains(stdout, "403") {
		t.Errorf("notify test ops against a receiver answering 403: exit %d (want 1)\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, hmacKey) {
		t.Errorf("the output carries the HMAC key")
	}
}
