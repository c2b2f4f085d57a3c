package main

// Issue 12, items 5 and 6 through the real binary: `authwatch check --json`
// against loopback servers (two ports, or 127.0.0.1 and localhost: two
// origins), asserting what the second server received, the reasons in the
// JSON lines, and that no encoding of a canary reaches stdout or stderr.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/redact/redacttest"
)

// hbRecorder counts what a server received.
type hbRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func (r *hbRecorder) add(req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.body = append(r.body, string(b))
}

func (r *hbRecorder) count(path string) (n int, headers []http.Header, bodies []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, q := range r.reqs {
		if q.URL.Path == path {
			n++
			headers = append(headers, q.Header)
			bodies = append(bodies, r.body[i])
		}
	}
	return n, headers, bodies
}

func TestBinaryRedirectsAndEncodings(t *testing.T) {
	t.Parallel()
	bin := rnBuild(t)
	const (
		secret   = "hb-client-secret-31f0"
		password = "hb-password-77a1"
		bearer   = "hb-bearer-0b9e"
		apiKey   = "hb-api-key-c4d2"
	)
	rec := &hbRecorder{}
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("WWW-Authenticate", `Bearer realm="b"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(b.Close)
	otherHost := strings.Replace(b.URL, "127.0.0.1", "localhost", 1)
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			rec.add(r)
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/post":
			w.Header().Set("Location", otherHost+"/post")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default: // another port of the same host
			w.Header().Set("Location", b.URL+r.URL.Path)
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	}))
	t.Cleanup(a.Close)
	echo := httptest.NewServer(redacttest.Echo{})
	t.Cleanup(echo.Close)

	dir := t.TempDir()
	flows := `flows:
  - name: token-redirect
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        token_url: "` + a.URL + `/token"
        client_id: hb-client
        client_secret: ${env:HB_SECRET}
        client_auth: client_secret_post
  - name: api-cross-port
    every: 1m
    steps:
      - id: call
        kind: http
        url: "` + a.URL + `/api"
        auth: {bearer: "${env:HB_BEARER}"}
        headers: {X-Api-Key: "${env:HB_API_KEY}"}
  - name: post-secret-body
    every: 1m
    steps:
      - id: post
        kind: http
        method: POST
        url: "` + a.URL + `/post"
        headers: {Content-Type: application/x-www-form-urlencoded}
        body: "password=${env:HB_PASSWORD}"
  - name: loop
    every: 1m
    steps:
      - id: call
        kind: http
        url: "` + a.URL + `/loop"
  - name: control-char
    every: 1m
    steps:
      - id: call
        kind: http
        url: "` + a.URL + `/api"
        headers: {X-Api-Key: "${env:HB_NEWLINE}"}
  - name: echo-json
    every: 1m
    steps:
      - id: token
        kind: password
        token_url: "` + echo.URL + `/token"
        client_id: hb-client
        client_secret: ${env:HB_CANARY_0}
        username: synthetic
        password: ${env:HB_CANARY_1}
  - name: echo-html
    every: 1m
    steps:
      - id: call
        kind: http
        url: "` + echo.URL + `/api.html?k=${env:HB_CANARY_1}"
        auth: {bearer: "${env:HB_CANARY_2}"}
        headers: {X-Api-Key: "${env:HB_CANARY_0}"}
`
	if err := os.WriteFile(filepath.Join(dir, "harden.yaml"), []byte(flows), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "--json", dir)
	cmd.Env = append(os.Environ(), "HB_SECRET="+secret, "HB_PASSWORD="+password, "HB_BEARER="+bearer, "HB_API_KEY="+apiKey,
		"HB_NEWLINE=hb-key\nX-Injected: 1",
		"HB_CANARY_0="+redacttest.Canaries[0], "HB_CANARY_1="+redacttest.Canaries[1], "HB_CANARY_2="+redacttest.Canaries[2])
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailed {
		t.Fatalf("check --json: %v, want exit %d\nstderr:\n%s", err, exitFailed, stderr.String())
	}
	got := flowOutcomes(t, jsonLines(t, stdout.String()))
	for flow, want := range map[string]string{"token-redirect": "idp_error", "api-cross-port": "redirect_dropped_credentials",
		"post-secret-body": "redirect_dropped_credentials", "loop": "unexpected_status", "control-char": "config_invalid",
		"echo-json": "invalid_client", "echo-html": "invalid_token"} {
		if got[flow] != want {
			t.Errorf("flow %s: reason %q, want %q", flow, got[flow], want)
		}
	}
	if n, _, _ := rec.count("/token"); n != 0 {
		t.Errorf("the redirect target of the token endpoint received %d requests, want none", n)
	}
	if n, _, _ := rec.count("/post"); n != 0 {
		t.Errorf("the redirect target of the POST with a password received %d requests, want none", n)
	}
	if n, _, _ := rec.count("/loop"); n != 10 {
		t.Errorf("the redirect loop made %d requests, want 10", n)
	}
	n, headers, _ := rec.count("/api")
	if n != 1 {
		t.Fatalf("the other port received %d API requests, want 1", n)
	}
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		if headers[0].Get(h) != "" {
			t.Errorf("the other port received %s", h)
		}
	}
	out := stdout.String() + stderr.String()
	assertNoSecrets(t, "check --json output", out, []string{secret, password, bearer, apiKey})
	for _, l := range redacttest.Leaks(out, redacttest.Canaries...) {
		t.Errorf("check --json output: %s", l)
	}
}
