package notifytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
	"github.com/authwatch/authwatch/notify/webhook"
)

// recorder is a testing.TB that records failures instead of failing, so
// the kit's checks can be shown to catch what they claim to. Run checks
// through it in their own goroutine (Fatal ends that goroutine).
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *recorder) Fail()                             { r.Errorf("Fail") }
func (r *recorder) FailNow()                          { r.Errorf("FailNow"); runtime.Goexit() }
func (r *recorder) Helper()                           {}

// failures runs check with a recorder and returns what it reported.
func failures(t *testing.T, check func(tb testing.TB)) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errors
}

func TestEventsCarryNoSecret(t *testing.T) {
	for _, typ := range notifytest.EventTypes {
		for _, ev := range []notify.Event{notifytest.Event(typ), notifytest.Hostile(typ)} {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			notifytest.CheckNoSecret(t, b)
			if strings.Contains(string(b), "CANARY") {
				t.Errorf("%s event holds a canary prefix", typ)
			}
		}
	}
}

func TestEventsAreRealistic(t *testing.T) {
	seen := map[string]bool{}
	for _, ev := range notifytest.Events() {
		if seen[ev.ID] {
			t.Errorf("event id %s repeats", ev.ID)
		}
		seen[ev.ID] = true
		if ev.Flow == "" || ev.Reason == "" || ev.Summary == "" || ev.StatusURL == "" || ev.FirstFailure.IsZero() ||
			ev.Failures == 0 || len(ev.Evidence) == 0 || len(ev.RequestIDs) == 0 || len(ev.Labels) < 4 {
			t.Errorf("%s event lacks a field: %+v", ev.Type, ev)
		}
	}
	if ev := notifytest.Event(notify.Opened); ev.NextStep == "" || ev.Layer != "token" || ev.Reason != "audience_mismatch" {
		t.Errorf("opened event: %+v", ev)
	}
	if ev := notifytest.Event(notify.Updated); ev.PreviousReason == "" {
		t.Error("updated event has no previous reason")
	}
	if ev := notifytest.Event(notify.Test); !strings.Contains(ev.Title(), "no action needed") || ev.Severity != notify.SeverityInfo {
		t.Errorf("test event: %q %s", ev.Title(), ev.Severity)
	}
	if ev := notifytest.Hostile(notify.Opened); len(ev.Summary) < 10000 || len(ev.Evidence) < 50 {
		t.Error("hostile event is not hostile enough")
	}
}

func TestReceiverRecordsAndScripts(t *testing.T) {
	rcv := notifytest.NewReceiver(t,
		notifytest.Response{Status: 429, RetryAfter: "3", Body: "slow"},
		notifytest.Response{Status: 204})
	c := notifytest.Client(t)
	post := func() (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, rcv.URL+"/a%2Fb/c?x=1", strings.NewReader(`{"k":1}`))
		req.Header.Set("X-Test", "yes")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := post(); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || body != "slow" {
		t.Errorf("first answer %d %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, _ := post(); resp.StatusCode != 204 {
		t.Errorf("second answer %d", resp.StatusCode)
	}
	if resp, body := post(); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("after the script: %d %q", resp.StatusCode, body)
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	r := reqs[0]
	var v map[string]int
	if r.Method != "POST" || r.Path != "/a/b/c" || r.URI != "/a%2Fb/c?x=1" || r.RawQuery != "x=1" ||
		r.Header.Get("X-Test") != "yes" || r.JSON(&v) != nil || v["k"] != 1 {
		t.Errorf("recorded %+v", r)
	}
	if !strings.HasPrefix(rcv.URL, "https://127.0.0.1:") {
		t.Errorf("receiver URL %s", rcv.URL)
	}
}

func TestReceiverCheck(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	rcv.SetCheck(func(r notifytest.Request) error {
		if !strings.Contains(string(r.Body), "good") {
			return errors.New("not good")
		}
		return nil
	})
	send := func(tb testing.TB, body string) int {
		resp, err := notifytest.Client(tb).Post(rcv.URL, "text/plain", strings.NewReader(body))
		if err != nil {
			tb.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(t, "good"); code != 200 {
		t.Errorf("a good payload got %d", code)
	}
	// The receiver reports to the test it was made with; make one on a recorder.
	var code int
	got := failures(t, func(tb testing.TB) {
		r := notifytest.NewReceiver(tb)
		r.SetCheck(func(notifytest.Request) error { return errors.New("not good") })
		resp, err := notifytest.Client(tb).Post(r.URL, "text/plain", strings.NewReader("bad"))
		if err != nil {
			tb.Fatal(err)
		}
		resp.Body.Close()
		code = resp.StatusCode
	})
	if code != 400 || len(got) != 1 || !strings.Contains(got[0], "not good") {
		t.Errorf("a bad payload: %d, reported %q", code, got)
	}
}

func TestReceiverDelayEndsWithClient(t *testing.T) {
	rcv := notifytest.NewReceiver(t, notifytest.Response{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rcv.URL, nil)
	start := time.Now()
	if _, err := notifytest.Client(t).Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want a deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the delay outlived the client")
	}
}

func TestClientLoopbackOnly(t *testing.T) {
	c := notifytest.Client(t)
	for _, u := range []string{"https://hooks.slack.com/services/x", "http://10.1.2.3/", "https://[2001:db8::1]/"} {
		_, err := c.Get(u)
		if err == nil || !strings.Contains(err.Error(), "refusing to dial") {
			t.Errorf("GET %s: %v, want a refusal", u, err)
		}
	}
	rcv := notifytest.NewHTTPReceiver(t)
	resp, err := c.Get(strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestDepsSecretsOnlyFromEnvMap(t *testing.T) {
	t.Setenv("NOTIFYTEST_PROCESS_ENV", "from-process")
	d, log := notifytest.Deps(t, map[string]string{"A": "from-map"})
	if v, err := conf.NewTemplate("${env:A}").ExpandSecrets(d.Secrets); err != nil || v != "from-map" {
		t.Errorf("env A = %q, %v", v, err)
	}
	if _, err := conf.NewTemplate("${env:NOTIFYTEST_PROCESS_ENV}").ExpandSecrets(d.Secrets); err == nil {
		t.Error("the process environment leaked into the secret source")
	}
	if _, err := conf.NewTemplate("${credential:x}").ExpandSecrets(d.Secrets); err == nil {
		t.Error("a credential resolved")
	}
	d.Logger.Warn("hello", "k", "v")
	if !strings.Contains(log.String(), `"msg":"hello"`) || !d.Now().Equal(notifytest.Now) {
		t.Errorf("log %q, now %v", log, d.Now())
	}
}

// webhookFor is a correct notifier: the kit's table passes with it.
func webhookFor(tb testing.TB, base string) notify.Notifier {
	cfg := &webhook.Config{URL: conf.NewTemplate("${env:U}")}
	d, _ := notifytest.Deps(tb, map[string]string{"U": base + "/hooks/" + notifytest.WebhookToken})
	n, err := cfg.New(d)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestCheckStatusCodesPasses(t *testing.T) {
	notifytest.CheckStatusCodes(t, func(base string) notify.Notifier { return webhookFor(t, base) })
}

// broken notifiers the table must catch.
type (
	alwaysOK   struct{}
	neverRetry struct{ n notify.Notifier }
	leaky      struct {
		base string
		c    *http.Client
	}
	noAfter struct{ n notify.Notifier }
)

func (alwaysOK) Notify(context.Context, notify.Event) (bool, error) { return false, nil }
func (b neverRetry) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	_, err := b.n.Notify(ctx, ev)
	return false, err
}
func (l leaky) Notify(ctx context.Context, _ notify.Event) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/hooks/"+notifytest.WebhookToken, nil)
	resp, err := l.c.Do(req) // a *url.Error holding the URL
	if err != nil {
		return true, fmt.Errorf("send failed: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode >= 500 || resp.StatusCode == 429, fmt.Errorf("status %d", resp.StatusCode)
	}
	return false, nil
}
func (b noAfter) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	retry, err := b.n.Notify(ctx, ev)
	var ra *notify.RetryAfterError
	if errors.As(err, &ra) {
		return retry, ra.Err
	}
	return retry, err
}

func TestCheckStatusCodesCatches(t *testing.T) {
	tests := map[string]struct {
		make func(tb testing.TB, base string) notify.Notifier
		want string
	}{
		"always ok":   {func(testing.TB, string) notify.Notifier { return alwaysOK{} }, "returned no error"},
		"never retry": {func(tb testing.TB, b string) notify.Notifier { return neverRetry{webhookFor(tb, b)} }, "retry = false, want true"},
		"leaks url":   {func(tb testing.TB, b string) notify.Notifier { return leaky{b, notifytest.Client(tb)} }, "leaks the secret"},
		"no after":    {func(tb testing.TB, b string) notify.Notifier { return noAfter{webhookFor(tb, b)} }, "does not wrap a *notify.RetryAfterError"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := failures(t, func(tb testing.TB) {
				notifytest.CheckStatusCodes(tb, func(base string) notify.Notifier { return tt.make(tb, base) })
			})
			if !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Errorf("the table reported %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckNoSecretInErrorChain(t *testing.T) {
	inner := &url.Error{Op: "Post", URL: "https://h/hooks/" + notifytest.WebhookToken, Err: errors.New("refused")}
	hidden := &hiding{err: inner}
	got := failures(t, func(tb testing.TB) { notifytest.CheckNoSecretInError(tb, hidden) })
	if len(got) == 0 {
		t.Error("a secret in a wrapped *url.Error went unnoticed")
	}
	if got := failures(t, func(tb testing.TB) { notifytest.CheckNoSecretInError(tb, errors.New("fine"), "x-secret") }); len(got) != 0 {
		t.Errorf("a clean error reported %q", got)
	}
	if got := failures(t, func(tb testing.TB) { notifytest.CheckNoSecretInError(tb, nil) }); len(got) != 0 {
		t.Errorf("nil reported %q", got)
	}
}

// hiding shows a clean message but wraps an error holding a secret.
type hiding struct{ err error }

func (h *hiding) Error() string { return "delivery failed" }
func (h *hiding) Unwrap() error { return h.err }

func TestCheckNoSecret(t *testing.T) {
	escaped := url.QueryEscape("p@ss word/+")
	tests := []struct {
		data     string
		canaries []string
		leak     bool
	}{
		{"hello", nil, false},
		{"token=" + notifytest.APIKey, nil, true},
		{"pw=" + escaped, []string{"p@ss word/+"}, true},
		{"pw=p@ss word/+", []string{"p@ss word/+"}, true},
		{"fingerprint " + notifytest.APIKey[:6] + "…" + notifytest.APIKey[len(notifytest.APIKey)-6:], nil, false},
	}
	for _, tt := range tests {
		got := failures(t, func(tb testing.TB) { notifytest.CheckNoSecret(tb, []byte(tt.data), tt.canaries...) })
		if (len(got) > 0) != tt.leak {
			t.Errorf("CheckNoSecret(%q) reported %q, want leak %v", tt.data, got, tt.leak)
		}
	}
}
