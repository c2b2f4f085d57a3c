package notifytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// statusCase is one row of the Notifier contract's status table.
type statusCase struct {
	name      string
	resp      Response
	wantErr   bool
	wantRetry bool
	wantAfter time.Duration // > 0: a *notify.RetryAfterError with this After
}

// statusCases is the Notifier contract (notify.Notifier): 2xx delivered;
// 429 and 5xx may succeed later, at the time Retry-After names; other 4xx
// will not.
func statusCases() []statusCase {
	refused := func(code int, body string) statusCase {
		return statusCase{name: strconv.Itoa(code), resp: Response{Status: code, Body: body}, wantErr: true}
	}
	later := func(code int, retryAfter string, after time.Duration) statusCase {
		name := strconv.Itoa(code)
		if retryAfter != "" {
			name += " Retry-After " + retryAfter
		}
		return statusCase{name: name, resp: Response{Status: code, RetryAfter: retryAfter, Body: "slow down"},
			wantErr: true, wantRetry: true, wantAfter: after}
	}
	return []statusCase{
		{name: "200", resp: Response{Status: 200, Body: "ok"}},
		{name: "201", resp: Response{Status: 201, Body: `{"id":"1"}`}},
		{name: "202", resp: Response{Status: 202, Body: `{"status":"success"}`}},
		{name: "204", resp: Response{Status: 204}},
		refused(400, "invalid_payload"),
		refused(401, "invalid_token"),
		refused(403, "action_prohibited"),
		refused(404, "no_service"),
		refused(410, "channel_is_archived"),
		refused(413, "too large"),
		later(429, "7", 7*time.Second),
		later(429, Now.Add(90*time.Second).Format(http.TimeFormat), 90*time.Second),
		later(429, "", 0),
		later(500, "", 0),
		later(502, "", 0),
		later(503, "30", 30*time.Second),
		later(504, "", 0),
	}
}

// redirect is reported, not followed (retry false): a redirected POST
// would arrive as a GET without its body. Followed, it would make a second
// request to the receiver.
var redirect = statusCase{name: "302", resp: Response{Status: 302, Location: "/moved", Body: "moved"}, wantErr: true}

// CheckStatusCodes runs the whole Notifier contract against the notifier
// newNotifier makes for a receiver at url (https://127.0.0.1:PORT, no
// path; append the path a real endpoint has). Build it with Deps, so that
// its client trusts the receiver and its clock is Now (a Retry-After date is
// read against it), and configure every secret setting from Canaries:
// every error is checked for all of them.
//
// The table: 200, 201, 202, 204 → (false, nil); 400, 401, 403, 404, 410,
// 413 → retry false; 429 and 500, 502, 503, 504 → retry true, wrapping a
// *notify.RetryAfterError with the right duration when Retry-After was sent
// (seconds or an HTTP date); connection refused, a per-attempt deadline and
// a cancelled context → retry true; a 302 → retry false, the redirect not
// followed. A refusal's error names the status code; each status case makes
// exactly one request.
func CheckStatusCodes(t testing.TB, newNotifier func(url string) notify.Notifier) {
	t.Helper()
	for _, c := range statusCases() {
		run(t, c.name, func(t testing.TB) { checkStatus(t, c, newNotifier) })
	}
	run(t, "connection refused", func(t testing.TB) { checkRefused(t, newNotifier) })
	run(t, "deadline", func(t testing.TB) { checkDeadline(t, newNotifier) })
	run(t, "cancelled", func(t testing.TB) { checkCancelled(t, newNotifier) })
	run(t, "redirect not followed", func(t testing.TB) { checkStatus(t, redirect, newNotifier) })
}

// run runs f as a subtest when t is a *testing.T.
func run(t testing.TB, name string, f func(testing.TB)) {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		tt.Run(name, func(t *testing.T) { f(t) })
		return
	}
	f(t)
}

func checkStatus(t testing.TB, c statusCase, newNotifier func(string) notify.Notifier) {
	t.Helper()
	rcv := NewReceiver(t, c.resp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	retry, err := newNotifier(rcv.URL).Notify(ctx, Event(notify.Opened))
	if n := len(rcv.Requests()); n != 1 {
		t.Errorf("the receiver got %d requests, want exactly 1 (one attempt per Notify call)", n)
	}
	CheckNoSecretInError(t, err)
	if !c.wantErr {
		if err != nil || retry {
			t.Errorf("status %d: Notify = (%v, %v), want (false, nil)", c.resp.Status, retry, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("status %d: Notify returned no error", c.resp.Status)
	}
	if retry != c.wantRetry {
		t.Errorf("status %d: retry = %v, want %v (err: %v)", c.resp.Status, retry, c.wantRetry, err)
	}
	if code := strconv.Itoa(c.resp.Status); !strings.Contains(err.Error(), code) {
		t.Errorf("status %d: the error does not name the status code: %v", c.resp.Status, err)
	}
	checkRetryAfter(t, err, c.wantAfter)
}

func checkRetryAfter(t testing.TB, err error, want time.Duration) {
	t.Helper()
	if want == 0 {
		return
	}
	var ra *notify.RetryAfterError
	switch {
	case !errors.As(err, &ra):
		t.Errorf("the error does not wrap a *notify.RetryAfterError (Retry-After was sent): %v", err)
	case ra.After != want:
		t.Errorf("RetryAfterError.After = %v, want %v (an HTTP date is read against Deps.Now)", ra.After, want)
	}
}

func checkRefused(t testing.TB, newNotifier func(string) notify.Notifier) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	retry, err := newNotifier("https://"+addr).Notify(ctx, Event(notify.Opened))
	wantRetry(t, retry, err)
}

func checkDeadline(t testing.TB, newNotifier func(string) notify.Notifier) {
	t.Helper()
	rcv := NewReceiver(t, Response{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	retry, err := newNotifier(rcv.URL).Notify(ctx, Event(notify.Opened))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Notify took %v past a 300ms deadline", d)
	}
	wantRetry(t, retry, err)
}

func checkCancelled(t testing.TB, newNotifier func(string) notify.Notifier) {
	t.Helper()
	rcv := NewReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := newNotifier(rcv.URL).Notify(ctx, Event(notify.Opened))
	wantRetry(t, retry, err)
}

func wantRetry(t testing.TB, retry bool, err error) {
	t.Helper()
	if err == nil || !retry {
		t.Errorf("Notify = (%v, %v), want (true, an error)", retry, err)
	}
	CheckNoSecretInError(t, err)
}

// CheckNoSecretInError fails the test if err, or any error it wraps, shows
// one of the canaries (all of Canaries when none are given), raw or
// URL-escaped. Every link of the chain is checked: errors.As can reach a
// *url.Error that still holds a webhook URL even when the top message hides
// it.
func CheckNoSecretInError(t testing.TB, err error, canaries ...string) {
	t.Helper()
	for _, e := range chain(err) {
		if c, ok := findCanary(e.Error(), canaries); ok {
			t.Errorf("an error leaks the secret %q: %T %q", c, e, e.Error())
		}
	}
	if err != nil {
		if c, ok := findCanary(fmt.Sprintf("%+v", err), canaries); ok {
			t.Errorf("an error printed with %%+v leaks the secret %q", c)
		}
	}
}

// CheckNoSecret fails the test if data (a payload, a log) contains one of
// the canaries (all of Canaries when none are given), raw or URL-escaped.
func CheckNoSecret(t testing.TB, data []byte, canaries ...string) {
	t.Helper()
	if c, ok := findCanary(string(data), canaries); ok {
		i := strings.Index(string(data), c)
		if i < 0 {
			i = 0
		}
		from, to := max(i-80, 0), min(i+len(c)+80, len(data))
		t.Errorf("the data leaks the secret %q: …%s…", c, data[from:to])
	}
}

func findCanary(s string, canaries []string) (string, bool) {
	if len(canaries) == 0 {
		canaries = Canaries
	}
	for _, c := range canaries {
		if c == "" {
			continue
		}
		for _, form := range []string{c, url.QueryEscape(c), url.PathEscape(c)} {
			if strings.Contains(s, form) {
				return form, true
			}
		}
	}
	return "", false
}

// chain lists err and every error it wraps (single and joined).
func chain(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chain(e)...)
		}
	}
	return out
}
