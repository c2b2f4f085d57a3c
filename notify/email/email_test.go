package email_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/email"
	"github.com/authwatch/authwatch/notify/notifytest"
)

const smtpPassword = notifytest.SMTPPassword

var env = map[string]string{"SMTP_PASSWORD": smtpPassword}

// config is a notifier config for the server: STARTTLS, AUTH, the test CA.
func config(ms *mailServer, cert testCert) *email.Config {
	return &email.Config{
		Host:          "127.0.0.1",
		Port:          ms.Port,
		Username:      conf.NewTemplate("alerts@example.com"),
		Password:      conf.NewTemplate("${env:SMTP_PASSWORD}"),
		From:          "authwatch <alerts@example.com>",
		To:            []string{"oncall@example.com", "Identity Team <identity@example.com>"},
		SubjectPrefix: "[authwatch] ",
		CAFile:        cert.caFile,
	}
}

func newNotifier(t *testing.T, cfg *email.Config, secrets map[string]string) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	return notifytest.NewNotifier(t, cfg, secrets)
}

func notifyCtx(t *testing.T, n notify.Notifier, ev notify.Event) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Notify(ctx, ev)
}

// parsed is a received mail: its headers and decoded text and HTML parts.
type parsed struct {
	Header     mail.Header
	Text, HTML string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the mail does not parse: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	p := parsed{Header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = part
		if part.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			r = quotedprintable.NewReader(part) // multipart.Part decodes it itself only without the header
		}
		b, _ := io.ReadAll(r)
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("want a text/plain part and a text/html alternative:\n%s", data)
	}
	return p
}

func decodeHeader(t *testing.T, h mail.Header, name string) string {
	t.Helper()
	v, err := new(mime.WordDecoder).DecodeHeader(h.Get(name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestDeliversOverSTARTTLSWithAuth(t *testing.T) {
	cert := newTestCert(t)
	ms := startSMTP(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert.cert}}})
	n, log := newNotifier(t, config(ms, cert), env)
	ev := notifytest.Event(notify.Opened)
	if retry, err := notifyCtx(t, n, ev); err != nil {
		t.Fatalf("Notify = (%v, %v)", retry, err)
	}
	msgs := ms.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.User != "alerts@example.com" || got.From != "alerts@example.com" ||
		strings.Join(got.To, ",") != "oncall@example.com,identity@example.com" {
		t.Errorf("session: TLS %v, user %q, from %q, to %q", got.TLS, got.User, got.From, got.To)
	}
	m := parse(t, got.Data)
	if s := decodeHeader(t, m.Header, "Subject"); s != "[authwatch] FAILING okta-client-credentials: audience_mismatch" {
		t.Errorf("Subject %q", s)
	}
	for name, want := range map[string]string{
		"X-Authwatch-Event": "opened", "X-Authwatch-Flow": ev.Flow, "X-Authwatch-Reason": "audience_mismatch",
		"X-Authwatch-Incident": ev.IncidentKey, "Auto-Submitted": "auto-generated",
	} {
		if v := m.Header.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(ev.Time) {
		t.Errorf("Date %v (%v), want %v", d, err, ev.Time)
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<incident-") || !strings.HasSuffix(id, "@authwatch>") {
		t.Errorf("Message-ID %q", id)
	}
	for _, want := range []string{
		"FAILING okta-client-credentials: audience_mismatch", ev.Summary, "Next step: " + ev.NextStep,
		"Reason: audience_mismatch", "Layer: token", "Step: call_orders_api", "Failing since: 2026-03-14T09:09:53Z",
		"Consecutive failures: 4", `aud: ["api://default"]`, "x-okta-request-id: ZfHc2x3kQ9aWmT7vLp0sEgAAA8c",
		"team: identity", "Status: " + ev.StatusURL, "authwatch on " + ev.Host,
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{`<a href="` + ev.StatusURL + `">`, "audience_mismatch", "&#34;api://default&#34;", "x-request-id"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, m.HTML)
		}
	}
	notifytest.CheckNoSecret(t, got.Data)
	notifytest.CheckNoSecret(t, log.Bytes())
}

func TestEveryEventTypeThreaded(t *testing.T) {
	cert := newTestCert(t)
	ms := startSMTP(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert.cert}}})
	n, _ := newNotifier(t, config(ms, cert), env)
	for _, ev := range notifytest.Events() {
		if _, err := notifyCtx(t, n, ev); err != nil {
			t.Fatalf("Notify(%s): %v", ev.Type, err)
		}
	}
	msgs := ms.messages()
	if len(msgs) != len(notifytest.EventTypes) {
		t.Fatalf("%d mails, want %d", len(msgs), len(notifytest.EventTypes))
	}
	root := parse(t, msgs[0].Data).Header.Get("Message-ID")
	subjects := []string{
		"[authwatch] FAILING okta-client-credentials: audience_mismatch",
		"[authwatch] UPDATED okta-client-credentials: audience_mismatch (was invalid_token)",
		"[authwatch] REMINDER okta-client-credentials: audience_mismatch",
		"[authwatch] RESOLVED okta-client-credentials",
		"[authwatch] TEST authwatch notification (no action needed)",
	}
	ids := map[string]bool{}
	for i, raw := range msgs {
		m := parse(t, raw.Data)
		if s := decodeHeader(t, m.Header, "Subject"); s != subjects[i] {
			t.Errorf("mail %d: Subject %q, want %q", i, s, subjects[i])
		}
		id := m.Header.Get("Message-ID")
		if ids[id] {
			t.Errorf("mail %d repeats Message-ID %s", i, id)
		}
		ids[id] = true
		threaded := m.Header.Get("In-Reply-To") == root && m.Header.Get("References") == root
		if wantThread := i > 0 && i < 4; threaded != wantThread {
			t.Errorf("mail %d (%s): In-Reply-To %q, want threaded %v under %s", i, notifytest.EventTypes[i], m.Header.Get("In-Reply-To"), wantThread, root)
		}
	}
	if m := parse(t, msgs[3].Data); !strings.Contains(m.Text, "The flow passes again.") {
		t.Errorf("resolved mail:\n%s", m.Text)
	}
	if m := parse(t, msgs[4].Data); !strings.Contains(m.Text, "No action needed") {
		t.Errorf("test mail:\n%s", m.Text)
	}
}

func TestImplicitTLS(t *testing.T) {
	cert := newTestCert(t)
	tc := &tls.Config{Certificates: []tls.Certificate{cert.cert}}
	ms := startSMTP(t, serverOpts{tls: tc, implicit: true})
	cfg := config(ms, cert)
	cfg.TLS = email.TLSImplicit
	n, _ := newNotifier(t, cfg, env)
	if _, err := notifyCtx(t, n, notifytest.Event(notify.Opened)); err != nil {
		t.Fatal(err)
	}
	if msgs := ms.messages(); len(msgs) != 1 || msgs[0].User == "" {
		t.Fatalf("mails: %+v", msgs)
	}
}

func TestLocalRelayWithoutTLS(t *testing.T) {
	ms := startSMTP(t, serverOpts{noAuth: true})
	cfg := &email.Config{Host: "127.0.0.1", Port: ms.Port, TLS: email.TLSNone, From: "authwatch@localhost", To: []string{"root@localhost"}}
	n, log := newNotifier(t, cfg, env)
	if !strings.Contains(log.String(), "tls is none") {
		t.Errorf("tls: none was not made visible in the log: %s", log)
	}
	if _, err := notifyCtx(t, n, notifytest.Event(notify.Opened)); err != nil {
		t.Fatal(err)
	}
	if msgs := ms.messages(); len(msgs) != 1 || msgs[0].TLS {
		t.Fatalf("mails: %+v", msgs)
	}
}

func TestFailures(t *testing.T) {
	cert := newTestCert(t)
	withTLS := serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert.cert}}}
	for _, tc := range []struct {
		name      string
		opts      serverOpts
		mod       func(*email.Config, *mailServer)
		secrets   map[string]string
		wantRetry bool
		wantText  string
	}{
		{name: "wrong password", opts: withTLS, secrets: map[string]string{"SMTP_PASSWORD": smtpPassword + "x"}, wantRetry: false, wantText: "535"},
		{name: "temporary auth failure", opts: serverOpts{tls: withTLS.tls, authErr: &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "try again later"}}, wantRetry: true, wantText: "454"},
		{name: "recipient refused", opts: serverOpts{tls: withTLS.tls, rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, wantRetry: false, wantText: "550"},
		{name: "mailbox busy", opts: serverOpts{tls: withTLS.tls, rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}}, wantRetry: true, wantText: "451"},
		{name: "server down", opts: withTLS, mod: func(c *email.Config, _ *mailServer) { c.Port = deadPort(t) }, wantRetry: true, wantText: "refused"},
		{name: "untrusted certificate", opts: withTLS, mod: func(c *email.Config, _ *mailServer) { c.CAFile = "" }, wantRetry: false, wantText: "certificate"},
		{name: "no STARTTLS offered", opts: serverOpts{}, wantRetry: false, wantText: "STARTTLS"},
		{name: "secret missing", opts: withTLS, secrets: map[string]string{}, wantRetry: false, wantText: "SMTP_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := startSMTP(t, tc.opts)
			cfg := config(ms, cert)
			if tc.mod != nil {
				tc.mod(cfg, ms)
			}
			secrets := env
			if tc.secrets != nil {
				secrets = tc.secrets
			}
			n, log := newNotifier(t, cfg, secrets)
			retry, err := notifyCtx(t, n, notifytest.Event(notify.Opened))
			if err == nil || retry != tc.wantRetry {
				t.Fatalf("Notify = (%v, %v), want (%v, an error)", retry, err, tc.wantRetry)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("the error does not say %q: %v", tc.wantText, err)
			}
			notifytest.CheckNoSecretInError(t, err, smtpPassword, smtpPassword+"x")
			notifytest.CheckNoSecret(t, log.Bytes(), smtpPassword, smtpPassword+"x")
			if len(ms.messages()) != 0 {
				t.Errorf("a mail was delivered")
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	port := silentServer(t)
	cfg := &email.Config{Host: "127.0.0.1", Port: port, From: "a@example.com", To: []string{"b@example.com"}}
	n, _ := newNotifier(t, cfg, env)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	retry, err := n.Notify(ctx, notifytest.Event(notify.Opened))
	if err == nil || !retry {
		t.Fatalf("Notify = (%v, %v), want (true, an error)", retry, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Notify took %v past a 300ms deadline", d)
	}
}

func TestPasswordReadOnEverySend(t *testing.T) {
	cert := newTestCert(t)
	ms := startSMTP(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert.cert}}})
	secrets := map[string]string{"SMTP_PASSWORD": "old-password"}
	n, _ := newNotifier(t, config(ms, cert), secrets)
	if retry, err := notifyCtx(t, n, notifytest.Event(notify.Opened)); err == nil || retry {
		t.Fatalf("with the old password: (%v, %v), want a refusal", retry, err)
	}
	secrets["SMTP_PASSWORD"] = smtpPassword // rotated
	if _, err := notifyCtx(t, n, notifytest.Event(notify.Opened)); err != nil {
		t.Fatalf("with the rotated password: %v", err)
	}
}

func TestHostileEvent(t *testing.T) {
	cert := newTestCert(t)
	ms := startSMTP(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert.cert}}})
	n, _ := newNotifier(t, config(ms, cert), env)
	ev := notifytest.Hostile(notify.Opened)
	ev.Flow = "evil\r\nBcc: attacker@example.com\r\n"
	ev.Reason = "x\nX-Injected: yes"
	if _, err := notifyCtx(t, n, ev); err != nil {
		t.Fatal(err)
	}
	got := ms.messages()[0]
	m := parse(t, got.Data)
	if m.Header.Get("Bcc") != "" || m.Header.Get("X-Injected") != "" || len(got.To) != 2 {
		t.Errorf("header injection: Bcc %q, X-Injected %q, recipients %v", m.Header.Get("Bcc"), m.Header.Get("X-Injected"), got.To)
	}
	if strings.Contains(m.HTML, "<b>&amp;</b>") || !strings.Contains(m.HTML, "&lt;b&gt;") {
		t.Errorf("the HTML part does not escape event text")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
		port       int
	}{
		{"documented example", `
host: smtp.example.com
port: 587
tls: starttls
username: alerts@example.com
password: ${credential:smtp_password}
from: "authwatch <alerts@example.com>"
to: [oncall@example.com, identity-team@example.com]
subject_prefix: "[authwatch] "
`, nil, 587},
		{"defaults", "host: smtp.example.com\nfrom: a@example.com\nto: [b@example.com]\n", nil, 587},
		{"implicit tls port", "host: smtp.example.com\ntls: tls\nfrom: a@example.com\nto: [b@example.com]\n", nil, 465},
		{"local relay", "host: localhost\ntls: none\nfrom: a@localhost\nto: [root@localhost]\n", nil, 25},
		{"ipv6 loopback relay", "host: '::1'\ntls: none\nfrom: a@localhost\nto: [root@localhost]\n", nil, 25},
		{"none elsewhere", "host: smtp.example.com\ntls: none\nfrom: a@example.com\nto: [b@example.com]\n", []string{"tls: none sends mail in clear: allowed only to localhost or a loopback address"}, 0},
		{"credentials in clear", "host: localhost\ntls: none\nusername: u\npassword: ${env:P}\nfrom: a@x.org\nto: [b@x.org]\n", []string{"password: credentials are never sent without TLS"}, 0},
		{"bad tls", "host: smtp.example.com\ntls: ssl\nfrom: a@example.com\nto: [b@example.com]\n", []string{`tls: must be one of starttls, tls, none, got "ssl"`}, 0},
		{"user without password", "host: h\nusername: u\nfrom: a@example.com\nto: [b@example.com]\n", []string{"password: required with username"}, 0},
		{"missing everything", "subject_prefix: x\n", []string{"host: required", "from: required", "to: required"}, 0},
		{"bad addresses", "host: h\nfrom: not an address\nto: [ok@example.com, 'nope']\n", []string{"from: not a mail address", "to[1]: not a mail address"}, 0},
		{"host with port", "host: smtp.example.com:587\nfrom: a@example.com\nto: [b@example.com]\n", []string{"host: give a host name or IP address only"}, 0},
		{"bad port", "host: h\nport: 70000\nfrom: a@example.com\nto: [b@example.com]\n", []string{"port: must be 1..65535"}, 0},
		{"missing ca_file", "host: h\nca_file: /nonexistent/ca.pem\nfrom: a@example.com\nto: [b@example.com]\n", []string{"ca_file:"}, 0},
		{"step output password", "host: h\nusername: u\npassword: ${steps.a.b}\nfrom: a@example.com\nto: [b@example.com]\n", []string{"password: step outputs"}, 0},
		{"malformed password, not echoed", "host: h\nusername: u\npassword: 'secretpart${x'\nfrom: a@example.com\nto: [b@example.com]\n", []string{"password: malformed reference"}, 0},
		{"multi-line prefix", "host: h\nsubject_prefix: \"a\\nBcc: x\"\nfrom: a@example.com\nto: [b@example.com]\n", []string{"subject_prefix: must be one line"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &email.Config{}
			notifytest.CheckConfig(t, cfg, tc.yaml, tc.want...)
			if len(tc.want) == 0 && cfg.Port != tc.port {
				t.Errorf("port = %d, want %d", cfg.Port, tc.port)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	if k, ok := notify.Lookup("email"); !ok || k.Doc == "" {
		t.Fatal("kind email not registered")
	}
}
