package heartbeat

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/redact"
	"github.com/authwatch/authwatch/internal/version"
)

const pingSecret = "9f1c-Ping-Üuid&<secret>"

// pingConfig writes the secret part of the URL to a file and references it.
func pingConfig(t *testing.T, base, method string) Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "uuid")
	if err := os.WriteFile(path, []byte(pingSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := c.URL.UnmarshalText([]byte(base + "/ping/${file:" + path + "}")); err != nil {
		t.Fatal(err)
	}
	c.Method = method
	return c
}

type received struct {
	mu     sync.Mutex
	method []string
	path   []string
	body   []string
	agent  []string
}

func (r *received) handler(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.method = append(r.method, req.Method)
	r.path = append(r.path, req.URL.Path)
	r.body = append(r.body, string(b))
	r.agent = append(r.agent, req.Header.Get("User-Agent"))
	r.mu.Unlock()
}

func TestPingResolvesTheURLAndSendsStatus(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(got.handler))
	defer srv.Close()
	p := &Pinger{Config: pingConfig(t, srv.URL, "post"), Status: func() string { return "3 flows, store writable" }}
	if outcome, detail := p.beat(context.Background()); outcome != "success" {
		t.Fatalf("beat: %s %s", outcome, detail)
	}
	if len(got.path) != 1 || got.method[0] != http.MethodPost || got.path[0] != "/ping/"+pingSecret || got.body[0] != "3 flows, store writable" {
		t.Fatalf("received %v %v %v", got.method, got.path, got.body)
	}
}

// TestPingNamesAuthwatch: a ping says it is authwatch and which version,
// unless Pinger.UserAgent names another agent.
func TestPingNamesAuthwatch(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(got.handler))
	defer srv.Close()
	for _, agent := range []string{"", "custom/1"} {
		p := &Pinger{Config: pingConfig(t, srv.URL, "get"), UserAgent: agent}
		if outcome, detail := p.beat(context.Background()); outcome != "success" {
			t.Fatalf("beat: %s %s", outcome, detail)
		}
	}
	if want := []string{version.UserAgent(), "custom/1"}; !slices.Equal(got.agent, want) {
		t.Errorf("User-Agent %q, want %q", got.agent, want)
	}
}

func TestUnhealthyWithholdsThePing(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(got.handler))
	defer srv.Close()
	p := &Pinger{Config: pingConfig(t, srv.URL, ""), Healthy: func() (bool, string) { return false, "state store unwritable" }}
	if outcome, why := p.beat(context.Background()); outcome != "withheld" || why != "state store unwritable" {
		t.Fatalf("beat: %s %s", outcome, why)
	}
	if len(got.path) != 0 {
		t.Fatalf("a ping went out while unhealthy: %+v", got.path)
	}
}

// Failures name the host, never the URL's secret: a redirect (not
// followed: the secret would travel on), a refusal, a dead port.
func TestFailuresNeverShowTheSecret(t *testing.T) {
	var followed received
	other := httptest.NewServer(http.HandlerFunc(followed.handler))
	defer other.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unknown check "+r.URL.Path, http.StatusNotFound)
	}))
	defer refuse.Close()
	for _, tc := range []struct{ name, base, want string }{
		{"redirect", redirect.URL, "redirect"},
		{"refused", refuse.URL, "404"},
		{"dead port", "http://127.0.0.1:1", "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			p := &Pinger{Config: pingConfig(t, tc.base, ""), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			outcome, detail := p.beat(context.Background())
			if outcome != "failure" || !strings.Contains(detail, tc.want) {
				t.Fatalf("beat: %s %q", outcome, detail)
			}
			p.logOutcome(outcome, detail)
			var s redact.Secrets
			s.Add(pingSecret)
			for _, text := range []string{detail, logs.String()} {
				if s.String(text) != text || strings.Contains(text, "Ping") {
					t.Errorf("the ping URL's secret shows: %s", text)
				}
			}
		})
	}
	if len(followed.path) != 0 {
		t.Fatalf("the redirect was followed to %v", followed.path)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{`url: https://hc-ping.com/${credential:hc}`, ""},
		{`url: "${credential:hc_url}"`, ""},
		{`{url: https://x.example/p, every: 500ms}`, "every: must be at least 1s"},
		{`{url: https://x.example/p, method: PUT}`, "method: must be GET, HEAD or POST"},
		{`{url: ftp://x.example/p}`, "url: must be an http(s) URL"},
		{`{url: "https://x/${steps.a.b}"}`, "url: may reference secrets"},
		{`{url: https://x.example/p, every: 10s, timeout: 30s}`, "timeout: must be positive and at most every"},
		{`{every: 1m}`, "url: required"},
	} {
		var c Config
		err := conf.DecodeFile("authwatch.yaml", []byte(tc.yaml), &c)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.yaml, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
