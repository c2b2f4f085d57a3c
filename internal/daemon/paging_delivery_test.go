package daemon

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// TestPagingDeliveryVisibility: what an operator sees when pages do not get
// through. One failing flow (open_after 1, resolve_after 1) is routed to two
// webhook notifiers:
//   - "refuser", whose receiver answers 400: the Opened is given up at once
//     (not retried), counted in authwatch_notifications_refused_total, and
//     the incident's later event (the Resolved) is not held behind it; it
//     is refused too;
//   - "outage", whose receiver answers 503 with Retry-After: 3: the Opened
//     is retried no sooner than Retry-After says, and waits in the outbox
//     (authwatch_notification_backlog > 0) until the receiver is back.
//
// The daemon refreshes the backlog gauge and /healthz's notifiers_failing
// every 30s (its alert tick), too slow for a test: the test calls the same
// function the tick calls (Main.observeBacklog) at the moments it checks.
// Then /healthz is degraded with notifiers_failing [refuser] (refused
// pages), not outage (its backlog is younger than 10m); once the outage
// ends and the backlog drains, the gauge is back to 0.
func TestPagingDeliveryVisibility(t *testing.T) {
	t.Parallel()
	target, api := pgStartTarget(t, map[string]string{"/export": "open"})
	refuser, outage := pgNewHook(t), pgNewHook(t)
	refuser.Answer(http.StatusBadRequest, "")
	outage.Answer(http.StatusServiceUnavailable, "3")
	d := pgStartInProcess(t, fmt.Sprintf(`notifiers:
  refuser: {kind: webhook, url: %s/refuse, allow_http: true}
  outage: {kind: webhook, url: %s/outage, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [refuser, outage]}
policy: {open_after: 1, resolve_after: 1}
`, refuser.URL, outage.URL), map[string]string{"export.yaml": pgRequiresAuthFlow("export", api+"/export", "{team: orders}")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The refused Opened: dead at once, counted.
	e2eWaitFor(t, 20*time.Second, "the refused Opened counted", func() bool {
		v, _ := e2eMetric(d.metrics(), "authwatch_notifications_refused_total", `notifier="refuser"`)
		return v >= 1
	})
	e2eWaitFor(t, 20*time.Second, "two attempts at the outage receiver", func() bool { return len(outage.Requests()) >= 2 })
	if n := len(refuser.Requests()); n != 1 {
		t.Errorf("the 400 receiver got %d requests; a refused page must not be retried", n)
	}
	if !strings.Contains(d.log.String(), "notification refused by the receiver; not retrying") {
		t.Errorf("the log does not say that a page was refused")
	}
	or := outage.Requests()
	if gap := or[1].At.Sub(or[0].At); gap < 2900*time.Millisecond {
		t.Errorf("the 503 receiver asked for Retry-After: 3 but was tried again after %s", gap)
	}
	m := d.metrics()
	if v, _ := e2eMetric(m, "authwatch_notification_attempts_total", `notifier="outage",result="failure"`); v < 2 {
		t.Errorf("authwatch_notification_attempts_total{notifier=outage,result=failure} = %v, want >= 2", v)
	}

	// The tick's refresh: backlog and /healthz.
	d.m.observeBacklog(ctx)
	m = d.metrics()
	if v, ok := e2eMetric(m, "authwatch_notification_backlog", `notifier="outage"`); !ok || v < 1 {
		t.Errorf("authwatch_notification_backlog{notifier=outage} = %v (present %v) during the outage, want >= 1", v, ok)
	}
	if v, _ := e2eMetric(m, "authwatch_notification_backlog", `notifier="refuser"`); v != 0 {
		t.Errorf("authwatch_notification_backlog{notifier=refuser} = %v; a refused page is not waiting", v)
	}
	h := d.healthz()
	failing := pgStrings(h["notifiers_failing"])
	if h["status"] != "degraded" || !slices.Contains(failing, "refuser") || slices.Contains(failing, "outage") {
		t.Errorf("/healthz = %v; want degraded with notifiers_failing [refuser] (outage is pending for less than 10m)", h)
	}

	// The outage ends: the Opened arrives, the backlog drains.
	outage.Answer(http.StatusOK, "")
	e2eWaitFor(t, 20*time.Second, "the Opened delivered after the outage", func() bool { return len(outage.Deliveries(t, "export")) >= 1 })
	// The flow passes: the Resolved goes to both; the refused Opened does
	// not hold it back.
	target.set("/export", "ok")
	e2eWaitFor(t, 20*time.Second, "the Resolved delivered to the outage receiver", func() bool {
		ds := outage.Deliveries(t, "export")
		return len(ds) >= 2 && ds[len(ds)-1].Event.Type == notify.Resolved
	})
	e2eWaitFor(t, 20*time.Second, "the Resolved refused by the 400 receiver too", func() bool {
		v, _ := e2eMetric(d.metrics(), "authwatch_notifications_refused_total", `notifier="refuser"`)
		return v >= 2
	})
	if got := pgTypes(outage.Deliveries(t, "export")); fmt.Sprint(got) != "[opened resolved]" {
		t.Errorf("the outage receiver got %v, want [opened resolved]", got)
	}
	var refusedTypes []string
	for _, r := range refuser.Requests() {
		refusedTypes = append(refusedTypes, r.Header.Get("X-Authwatch-Event"))
	}
	if fmt.Sprint(refusedTypes) != "[opened resolved]" {
		t.Errorf("the 400 receiver got %v, want [opened resolved], each once", refusedTypes)
	}

	d.m.observeBacklog(ctx)
	m = d.metrics()
	if v, _ := e2eMetric(m, "authwatch_notification_backlog", `notifier="outage"`); v != 0 {
		t.Errorf("authwatch_notification_backlog{notifier=outage} = %v after every page was delivered, want 0 (a stale gauge says pages are stuck)", v)
	}
	if h := d.healthz(); !slices.Contains(pgStrings(h["notifiers_failing"]), "refuser") {
		t.Errorf("/healthz = %v; the refused pages must stay visible", h)
	}
}

func pgStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, s := range l {
			out = append(out, fmt.Sprint(s))
		}
	}
	return out
}

// TestPagingUnreadableSecretIsRetried: a notifier's secret that cannot be
// read at the moment of sending (a credential file being rotated or not yet
// provisioned) must not lose the page: it is retried, and delivered once
// the secret is readable, as for an outage. Two notifiers get the same
// Opened: a webhook whose hmac_secret file is missing, and PagerDuty whose
// routing_key file is missing; then both files appear.
func TestPagingUnreadableSecretIsRetried(t *testing.T) {
	t.Parallel()
	_, api := pgStartTarget(t, map[string]string{"/export": "open"})
	hook := pgNewHook(t)
	pd := notifytest.NewHTTPReceiver(t)
	dir := t.TempDir()
	hookKey, pdKey := filepath.Join(dir, "hook.key"), filepath.Join(dir, "pd.key")
	d := pgStartInProcess(t, fmt.Sprintf(`notifiers:
  hook: {kind: webhook, url: %s/hook, allow_http: true, hmac_secret: "${file:%s}"}
  pd: {kind: pagerduty, url: %s, routing_key: "${file:%s}"}
routes:
  - {name: all, default: true, notifiers: [hook, pd]}
policy: {open_after: 1, resolve_after: 1}
`, hook.URL, hookKey, pd.URL, pdKey), map[string]string{"export.yaml": pgRequiresAuthFlow("export", api+"/export", "{team: orders}")})

	e2eWaitFor(t, 20*time.Second, "a failed attempt of each notifier", func() bool {
		v1, _ := e2eMetric(d.metrics(), "authwatch_notification_attempts_total", `notifier="hook",result="failure"`)
		v2, _ := e2eMetric(d.metrics(), "authwatch_notification_attempts_total", `notifier="pd",result="failure"`)
		return v1 >= 1 && v2 >= 1
	})
	pgWriteSecret(t, dir, "hook.key", e2eRandom("hmac-"))
	pgWriteSecret(t, dir, "pd.key", e2eRandom("pdkey-"))
	e2eWaitFor(t, 20*time.Second, "the webhook's Opened, once its key is readable", func() bool { return len(hook.Deliveries(t, "export")) >= 1 })
	deadline := time.Now().Add(10 * time.Second)
	for len(pd.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(pd.Requests()) == 0 {
		v, _ := e2eMetric(d.metrics(), "authwatch_notifications_refused_total", `notifier="pd"`)
		t.Errorf("PagerDuty never got the Opened once its routing key was readable (refused_total{pd} = %v): an unreadable secret made the page a dead letter", v)
	}
}

// TestPagingSlowReceiverDoesNotDelayOthers: one receiver that hangs (here
// 8s per answer, as a black-holed endpoint does until the 30s attempt
// timeout) must not hold back the pages of other notifiers: the Opened
// reaches the healthy receiver within a couple of seconds, whatever the
// slow one does. The slow notifier is listed first in the route, so its
// item is the older one in the outbox.
func TestPagingSlowReceiverDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	_, api := pgStartTarget(t, map[string]string{"/export": "open"})
	slow := notifytest.NewHTTPReceiver(t, notifytest.Response{Delay: 8 * time.Second}, notifytest.Response{Delay: 8 * time.Second})
	fast := pgNewHook(t)
	pgStartInProcess(t, fmt.Sprintf(`notifiers:
  slow: {kind: webhook, url: %s/slow, allow_http: true}
  fast: {kind: webhook, url: %s/fast, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [slow, fast]}
policy: {open_after: 1, resolve_after: 1}
`, slow.URL, fast.URL), map[string]string{"export.yaml": pgRequiresAuthFlow("export", api+"/export", "{team: orders}")})

	e2eWaitFor(t, 30*time.Second, "the Opened at the healthy receiver", func() bool { return len(fast.Deliveries(t, "export")) >= 1 })
	d := fast.Deliveries(t, "export")[0]
	if lag := d.Req.At.Sub(d.Event.Time); lag > 3*time.Second {
		t.Errorf("the healthy receiver got the Opened %s after it happened, behind the slow receiver (%d requests to it): deliveries to different notifiers are serialized",
			lag.Round(100*time.Millisecond), len(slow.Requests()))
	}
}
