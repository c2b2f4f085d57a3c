package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/version"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
	"github.com/authwatch/authwatch/notify/notifytest"
)

func tpl(s string) conf.Template { return conf.NewTemplate(s) }

// hookPath is a webhook path holding the canary token, as real ones do.
const hookPath = "/hooks/" + notifytest.WebhookToken + "?sig=" + notifytest.SigToken

// signedConfig uses every secret setting, all from the environment.
func signedConfig() Config {
	return Config{
		URL:        tpl("${env:WEBHOOK_URL}"),
		Headers:    map[string]conf.Template{"Authorization": tpl("Bearer ${env:TOKEN}"), "X-Team": tpl("identity")},
		HMACSecret: tpl("${env:HMAC_KEY}"),
	}
}

func signedEnv(base string) map[string]string {
	return map[string]string{"WEBHOOK_URL": base + hookPath, "TOKEN": notifytest.BearerToken, "HMAC_KEY": notifytest.HMACKey}
}

// newWebhook validates cfg and makes its notifier with the kit's deps.
func newWebhook(t testing.TB, cfg Config, env map[string]string) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	return notifytest.NewNotifier(t, &cfg, env)
}

func notifyOK(t *testing.T, n notify.Notifier, ev notify.Event) {
	t.Helper()
	retry, err := n.Notify(context.Background(), ev)
	if err != nil || retry {
		t.Fatalf("Notify(%s) = (%v, %v), want (false, nil)", ev.Type, retry, err)
	}
}

func TestWebhookStatusCodes(t *testing.T) {
	var logs []*notifytest.Log
	notifytest.CheckStatusCodes(t, func(base string) notify.Notifier {
		n, log := newWebhook(t, signedConfig(), signedEnv(base))
		logs = append(logs, log)
		return n
	})
	for _, l := range logs {
		notifytest.CheckNoSecret(t, l.Bytes())
	}
}

func TestWebhookRequest(t *testing.T) {
	for _, typ := range notifytest.EventTypes {
		t.Run(string(typ), func(t *testing.T) {
			rcv := notifytest.NewReceiver(t)
			n, log := newWebhook(t, signedConfig(), signedEnv(rcv.URL))
			ev := notifytest.Event(typ)
			notifyOK(t, n, ev)
			req := rcv.Last(t)

			if req.Method != http.MethodPost || req.URI != hookPath {
				t.Errorf("request %s %s, want POST %s", req.Method, req.URI, hookPath)
			}
			for name, want := range map[string]string{
				"Content-Type":  "application/json",
				"User-Agent":    version.UserAgent(),
				HeaderEvent:     string(typ),
				HeaderDelivery:  ev.ID,
				HeaderTimestamp: strconv.FormatInt(notifytest.Now.Unix(), 10),
				"Authorization": "Bearer " + notifytest.BearerToken,
				"X-Team":        "identity",
			} {
				if got := req.Header.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			var p Payload
			if err := req.JSON(&p); err != nil {
				t.Fatalf("body: %v", err)
			}
			if !reflect.DeepEqual(p.Event, ev) {
				t.Errorf("event round trip:\n got %+v\nwant %+v", p.Event, ev)
			}
			if p.Version != "1" || p.Title != ev.Title() || !strings.HasPrefix(p.Text, ev.Title()+" — ") {
				t.Errorf("version %q title %q text %q", p.Version, p.Title, p.Text)
			}
			// The body carries no secret; the headers carry only the one configured.
			notifytest.CheckNoSecret(t, req.Body)
			notifytest.CheckNoSecret(t, log.Bytes())
		})
	}
}

func TestWebhookTestAndResolvedDistinct(t *testing.T) {
	test, resolved := NewPayload(notifytest.Event(notify.Test)), NewPayload(notifytest.Event(notify.Resolved))
	if !strings.HasPrefix(test.Text, "TEST ") || !strings.Contains(test.Text, "no action needed") {
		t.Errorf("test text %q", test.Text)
	}
	if !strings.HasPrefix(resolved.Text, "RESOLVED okta-client-credentials") {
		t.Errorf("resolved text %q", resolved.Text)
	}
	opened := NewPayload(notifytest.Event(notify.Opened))
	if !strings.HasPrefix(opened.Text, "FAILING okta-client-credentials: audience_mismatch — the access token's aud") {
		t.Errorf("opened text %q", opened.Text)
	}
}

// TestWebhookSignature checks the signature three ways: an independent
// HMAC, Verify, and the package doc's openssl recipe.
func TestWebhookSignature(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	n, _ := newWebhook(t, signedConfig(), signedEnv(rcv.URL))
	notifyOK(t, n, notifytest.Event(notify.Opened))
	req := rcv.Last(t)
	ts, sig := req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature)

	mac := hmac.New(sha256.New, []byte(notifytest.HMACKey))
	mac.Write([]byte(ts + "." + string(req.Body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
	key := []byte(notifytest.HMACKey)
	if err := Verify(key, req.Header, req.Body, notifytest.Now.Add(4*time.Minute), 5*time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	tampered := append([]byte(nil), req.Body...)
	tampered[len(tampered)-2] ^= 1
	for name, tc := range map[string]struct {
		key  []byte
		body []byte
		now  time.Time
		h    http.Header
		want error
	}{
		"tampered body": {key, tampered, notifytest.Now, req.Header, ErrBadSignature},
		"wrong key":     {[]byte("other"), req.Body, notifytest.Now, req.Header, ErrBadSignature},
		"replayed":      {key, req.Body, notifytest.Now.Add(6 * time.Minute), req.Header, ErrStale},
		"from future":   {key, req.Body, notifytest.Now.Add(-6 * time.Minute), req.Header, ErrStale},
		"unsigned":      {key, req.Body, notifytest.Now, http.Header{}, ErrNotSigned},
	} {
		if err := Verify(tc.key, tc.h, tc.body, tc.now, 5*time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, tc.want)
		}
	}
	checkOpenSSLRecipe(t, ts, req.Body, sig)
	checkPythonRecipe(t, req.Header, req.Body)
}

// docSnippet returns the code block of the package doc (doc.go) whose
// first line starts with prefix, so the recipes tested are the ones shown.
func docSnippet(t *testing.T, prefix string) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(src), "\n") {
		code, ok := strings.CutPrefix(line, "//\t")
		if ok && (len(out) > 0 || strings.HasPrefix(code, prefix)) {
			out = append(out, code)
			continue
		}
		if len(out) > 0 {
			break
		}
	}
	if len(out) == 0 {
		t.Fatalf("doc.go has no code block starting with %q", prefix)
	}
	return strings.Join(out, "\n")
}

// checkPythonRecipe runs the package doc's Python verify function, when
// python3 is installed (CI does not need it).
func checkPythonRecipe(t *testing.T, h http.Header, body []byte) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Log("python3 not found; the Python recipe is not checked")
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	script := "import hashlib, hmac, os, sys, time\n" + docSnippet(t, "def verify") + `
body = open("body.json", "rb").read()
headers = {"X-Authwatch-Timestamp": os.environ["TS"], "X-Authwatch-Signature-256": os.environ["SIG"]}
verify(os.environ["KEY"].encode(), headers, body, tolerance=10**10)
try:
    verify(b"wrong key", headers, body, tolerance=10**10)
except ValueError:
    print("ok")
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TS="+h.Get(HeaderTimestamp), "SIG="+h.Get(HeaderSignature), "KEY="+notifytest.HMACKey)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("python recipe: %v\n%s", err, out)
	}
}

// checkOpenSSLRecipe runs the shell recipe of the package doc.
func checkOpenSSLRecipe(t *testing.T, ts string, body []byte, want string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not found (CI installs it)")
		}
		t.Skip("openssl not found; apt-get install openssl")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	recipe := docSnippet(t, "{ printf")
	cmd := exec.Command("bash", "-c", recipe)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TS="+ts, "KEY="+notifytest.HMACKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("recipe: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("openssl recipe gives %q, want %q", got, want)
	}
}

func TestWebhookUnsigned(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	n, _ := newWebhook(t, Config{URL: tpl("${env:U}")}, map[string]string{"U": rcv.URL + "/in"})
	notifyOK(t, n, notifytest.Event(notify.Opened))
	req := rcv.Last(t)
	if req.Header.Get(HeaderSignature) != "" || req.Header.Get(HeaderTimestamp) != "" {
		t.Errorf("unsigned request has signature headers: %v", req.Header)
	}
}

// TestWebhookRotation: secrets are read on every send.
func TestWebhookRotation(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	dir := t.TempDir()
	keyFile, urlFile := filepath.Join(dir, "key"), filepath.Join(dir, "url")
	write := func(path, v string) {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(keyFile, "key-one")
	write(urlFile, rcv.URL+"/one")
	n, _ := newWebhook(t, Config{URL: tpl("${file:" + urlFile + "}"), HMACSecret: tpl("${file:" + keyFile + "}")}, nil)
	notifyOK(t, n, notifytest.Event(notify.Opened))
	write(keyFile, "key-two")
	write(urlFile, rcv.URL+"/two")
	notifyOK(t, n, notifytest.Event(notify.Reminder))

	reqs := rcv.Requests()
	for i, want := range []struct{ path, key string }{{"/one", "key-one"}, {"/two", "key-two"}} {
		if reqs[i].Path != want.path {
			t.Errorf("request %d went to %s, want %s", i, reqs[i].Path, want.path)
		}
		if err := Verify([]byte(want.key), reqs[i].Header, reqs[i].Body, notifytest.Now, time.Minute); err != nil {
			t.Errorf("request %d not signed with %s: %v", i, want.key, err)
		}
	}
}

func TestWebhookMissingSecret(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"url":     {"TOKEN": "t", "HMAC_KEY": "k"},
		"header":  {"WEBHOOK_URL": "https://127.0.0.1:1/x", "HMAC_KEY": "k"},
		"hmac":    {"WEBHOOK_URL": "https://127.0.0.1:1/x", "TOKEN": "t"},
		"empty":   {"WEBHOOK_URL": "", "TOKEN": "t", "HMAC_KEY": "k"},
		"not url": {"WEBHOOK_URL": "hooks.example.com/" + notifytest.WebhookToken, "TOKEN": "t", "HMAC_KEY": "k"},
	} {
		t.Run(name, func(t *testing.T) {
			n, _ := newWebhook(t, signedConfig(), env)
			retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
			if err == nil {
				t.Fatal("no error")
			}
			// A secret not there yet may be on the next attempt; a bad value is a configuration to fix.
			if want := name != "not url"; retry != want {
				t.Errorf("retry = %v, want %v (%v)", retry, want, err)
			}
			notifytest.CheckNoSecretInError(t, err)
			t.Log(err)
		})
	}
}

func TestWebhookHTTP(t *testing.T) {
	rcv := notifytest.NewHTTPReceiver(t)
	env := map[string]string{"U": rcv.URL + "/in"}
	n, _ := newWebhook(t, Config{URL: tpl("${env:U}"), AllowHTTP: true}, env)
	notifyOK(t, n, notifytest.Event(notify.Opened))

	// Without allow_http the resolved http URL is refused at send, not sent.
	n, _ = newWebhook(t, Config{URL: tpl("${env:U}")}, env)
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if err == nil || retry || !strings.Contains(err.Error(), "url (from ${env:U}) must use https") {
		t.Errorf("Notify = (%v, %v), want a refusal of http", retry, err)
	}
	if len(rcv.Requests()) != 1 {
		t.Errorf("receiver got %d requests, want 1", len(rcv.Requests()))
	}
}

// TestWebhookEchoedSecrets: a receiver that echoes the request (URL,
// headers) in its error body leaks nothing into the error.
func TestWebhookEchoedSecrets(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	echo := "no route for POST " + hookPath + " (Authorization: Bearer " + notifytest.BearerToken + ") key=" + notifytest.HMACKey
	rcv.SetScript(notifytest.Response{Status: 404, Body: echo})
	n, _ := newWebhook(t, signedConfig(), signedEnv(rcv.URL))
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if err == nil || retry {
		t.Fatalf("Notify = (%v, %v), want a final error", retry, err)
	}
	notifytest.CheckNoSecretInError(t, err)
	var se *httpsend.StatusError
	if !errors.As(err, &se) || se.Code != 404 || !strings.Contains(se.Excerpt, "no route for POST") {
		t.Errorf("error %v, want a StatusError 404 with the body's start", err)
	}
	if !strings.Contains(err.Error(), "webhook: POST "+rcv.URL+"/…: 404 Not Found") {
		t.Errorf("error %q does not show scheme and host", err)
	}
}

// TestWebhookNoRedirect: a redirect is reported, never followed.
func TestWebhookNoRedirect(t *testing.T) {
	target := notifytest.NewReceiver(t)
	rcv := notifytest.NewReceiver(t)
	n, _ := newWebhook(t, signedConfig(), signedEnv(rcv.URL))
	redirect := &redirectingClient{to: target.URL + "/elsewhere"}
	n.(*Notifier).send.Client = httpsend.NoRedirects(redirect.client())
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if err == nil || retry || !strings.Contains(err.Error(), "redirects to "+target.URL+"/…") {
		t.Errorf("Notify = (%v, %v), want a final error naming the redirect", retry, err)
	}
	if len(target.Requests()) != 0 {
		t.Error("the redirect was followed")
	}
	notifytest.CheckNoSecretInError(t, err)
}

// redirectingClient answers every request with a 307 to another URL,
// through a RoundTripper (a seam owned by the test).
type redirectingClient struct{ to string }

func (r *redirectingClient) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 307, Status: "307 Temporary Redirect", Request: req,
			Header: http.Header{"Location": {r.to}}, Body: http.NoBody}, nil
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWebhookTimeoutSetting(t *testing.T) {
	rcv := notifytest.NewReceiver(t, notifytest.Response{Delay: time.Minute})
	cfg := Config{URL: tpl("${env:U}")}
	if err := cfg.Timeout.UnmarshalText([]byte("200ms")); err != nil {
		t.Fatal(err)
	}
	n, _ := newWebhook(t, cfg, map[string]string{"U": rcv.URL + "/x"})
	start := time.Now()
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if err == nil || !retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Notify = (%v, %v), want a retryable deadline error", retry, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with a 200ms timeout", d)
	}
}

func TestPayloadJSONNames(t *testing.T) {
	b, err := json.Marshal(NewPayload(notifytest.Event(notify.Updated)))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	ev := m["event"].(map[string]any)
	for _, k := range []string{"id", "incident_key", "type", "severity", "time", "flow", "step", "labels", "reason", "layer",
		"summary", "next_step", "previous_reason", "evidence", "request_ids", "first_failure", "consecutive_failures",
		"host", "region", "status_url"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("event JSON lacks %q", k)
		}
	}
}
