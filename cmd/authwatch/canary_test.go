package main

// The command run in-process against the real demo environment: exit codes,
// validate's positioned problems, and secret canaries over stdout and stderr.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/redact/redacttest"
)

// jwtPattern matches the start of a compact JWT.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.`)

// staleSecret is the secret the demo's rotated-secret flow sends.
const staleSecret = "demo-only-secret-before-rotation"

// demoSecrets lists every demo secret in every form a request carries it.
func demoSecrets() []string {
	out := []string{idp.UserPassword}
	for id, s := range map[string]string{idp.OrdersClientID: idp.OrdersClientSecret, idp.BillingClientID: idp.BillingClientSecret,
		idp.ReaderClientID: idp.ReaderClientSecret, idp.LegacyClientID: idp.LegacyClientSecret, idp.WebClientID: idp.WebClientSecret,
		idp.DriftClientID: idp.DriftClientSecret} {
		out = append(out, s,
			base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(s))),
			base64.StdEncoding.EncodeToString([]byte(id+":"+s)))
	}
	// The key clients' private keys (generated once per process, so the
	// demo run in-process here holds the same ones): each line of their PEM.
	// The DPoP flow's proof key is made per run inside the runner, where
	// no test can reach it; its proofs count as secrets there.
	out = append(out, idp.PrivateKeyLines()...)
	return append(out, staleSecret, base64.StdEncoding.EncodeToString([]byte(idp.OrdersClientID+":"+staleSecret)))
}

func assertNoSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Errorf("secret %q… appears in %s near: …%s…", s[:min(6, len(s))], where,
				strings.ReplaceAll(text[max(i-120, 0):min(i+len(s)+40, len(text))], s, "<<SECRET>>"))
		}
	}
	if m := jwtPattern.FindString(text); m != "" {
		t.Errorf("a JWT (%s…) appears in %s", m[:12], where)
	}
}

// runCmd runs the command in-process with a deadline.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// jsonLines decodes `--json` output: one object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("--json line is not JSON: %v\n%s", err, sc.Text())
		}
		lines = append(lines, m)
	}
	return lines
}

// flowOutcomes maps each "flow" line's flow name to its failure reason
// ("" = ok: passed, or passed with a warning, whose reason is the warning).
func flowOutcomes(t *testing.T, lines []map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range lines {
		if l["type"] != "flow" {
			continue
		}
		name, _ := l["flow"].(string)
		reason, _ := l["reason"].(string)
		ok, _ := l["ok"].(bool)
		if status, _ := l["status"].(string); ok != (status == "pass" || status == "warn") || (status == "pass") != (reason == "") {
			t.Errorf("flow %s: status %s, ok=%v, reason %q", name, status, ok, reason)
		}
		if ok {
			reason = ""
		}
		out[name] = reason
	}
	return out
}

// demoWant is the outcome of every demo flow (internal/demo/flows.yaml).
var demoWant = map[string]string{
	"orders-api":                  "",
	"orders-api-key-auth":         "",
	"orders-api-dpop":             "",
	"orders-requires-auth":        "",
	"orders-token-lifetime-drift": "",
	"billing-token-on-orders":     "audience_mismatch",
	"create-order":                "insufficient_scope",
	"legacy-client-token":         "token_expired",
	"admin-export-requires-auth":  "auth_not_enforced",
	"rotated-secret":              "invalid_client",
}

func TestDemoOnceJSONCanary(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(t, "demo", "--once", "--json")
	if code != exitOK {
		t.Errorf("demo --once --json exit %d, want %d; stderr:\n%s", code, exitOK, stderr)
	}
	lines := jsonLines(t, stdout)
	got := flowOutcomes(t, lines)
	for flow, want := range demoWant {
		if r, ok := got[flow]; !ok || r != want {
			t.Errorf("flow %s: reason %q (reported %v), want %q", flow, r, ok, want)
		}
	}
	steps := 0
	for _, l := range lines {
		if l["type"] == "step" {
			steps++
			if l["status"] == "fail" && (l["summary"] == "" || l["next_step"] == "" || l["evidence"] == nil || l["layer"] == "") {
				t.Errorf("failed step line lacks summary, next step, layer or evidence: %v", l)
			}
		}
	}
	if steps < len(demoWant) {
		t.Errorf("%d step lines, want at least %d", steps, len(demoWant))
	}
	assertNoSecrets(t, "demo --json stdout", stdout, demoSecrets())
	assertNoSecrets(t, "demo --json stderr", stderr, demoSecrets())
}

func TestDemoOnceHumanCanary(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(t, "demo", "--once", "--color", "never")
	if code != exitOK {
		t.Errorf("demo --once exit %d, want %d; stderr:\n%s", code, exitOK, stderr)
	}
	for _, want := range []string{"6 of 12 flows passed", "audience_mismatch", "invalid_client", "token_expired", "clock_skew", "next:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo table lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Error("--color never printed escape codes")
	}
	assertNoSecrets(t, "demo stdout", stdout, demoSecrets())
	assertNoSecrets(t, "demo stderr", stderr, demoSecrets())
}

// Flow files for check and validate, against a demo environment the test
// starts; secrets come from the environment, as in production.
const passFlows = `flows:
  - name: orders-api
    every: 1m
    steps:
      - id: oidc
        kind: discovery
        issuer: "{{issuer}}"
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: orders-client
        client_secret: ${env:AW_IT_ORDERS_SECRET}
        scopes: [orders.read]
        expect: {access_token: {audience: [api://orders], scopes: [orders.read]}}
      - id: list
        kind: http
        url: "{{api}}/orders"
        auth: {bearer: "${steps.token.access_token}", audience: api://orders}
  - name: requires-auth
    every: 1m
    steps:
      - id: no_token
        kind: http
        url: "{{api}}/orders"
        expect: {status: 401, challenge: Bearer}
`

const failFlows = `flows:
  - name: billing-token-on-orders
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: billing-client
        client_secret: ${env:AW_IT_BILLING_SECRET}
      - id: list
        kind: http
        url: "{{api}}/orders?access_token=${steps.token.access_token}"
        auth: {bearer: "${steps.token.access_token}", audience: api://orders}
  - name: rotated-secret
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: orders-client
        client_secret: ${env:AW_IT_STALE_SECRET}
        client_auth: client_secret_post
  - name: legacy
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: legacy-client
        client_secret: ${env:AW_IT_LEGACY_SECRET}
  - name: unset-secret
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: reader-client
        client_secret: ${env:AW_IT_SURELY_UNSET}
`

// badFlows has a problem on line 6, column 15 (the unknown kind's value).
const badFlows = `flows:
  - name: broken
    every: 1m
    steps:
      - id: first
        kind: tokenz
        url: http://127.0.0.1:1/
`

// checkDirs starts the demo, sets the flows' secrets in the environment
// and writes a passing, a failing and an invalid flows directory.
func checkDirs(t *testing.T) (pass, fail, bad string) {
	t.Helper()
	env, err := demo.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	t.Setenv("AW_IT_ORDERS_SECRET", idp.OrdersClientSecret)
	t.Setenv("AW_IT_BILLING_SECRET", idp.BillingClientSecret)
	t.Setenv("AW_IT_LEGACY_SECRET", idp.LegacyClientSecret)
	t.Setenv("AW_IT_STALE_SECRET", staleSecret)
	fill := strings.NewReplacer("{{issuer}}", env.IdP.Issuer(), "{{api}}", env.API.URL())
	root := t.TempDir()
	write := func(dir, name, content string) string {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte(fill.Replace(content)), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	pass = write("pass", "orders.yaml", passFlows)
	fail = write("fail", "broken.yaml", failFlows)
	write("fail", "orders.yml", strings.ReplaceAll(strings.ReplaceAll(passFlows, "name: orders-api", "name: orders-api-2"), "name: requires-auth", "name: requires-auth-2"))
	bad = write("bad", "bad.yaml", badFlows)
	write("bad", "orders.yaml", passFlows)
	return pass, fail, bad
}

// TestCheckExitCodesAndCanary cannot run in parallel: it sets environment
// variables for the flows' ${env:...} secrets.
func TestCheckExitCodesAndCanary(t *testing.T) {
	pass, fail, bad := checkDirs(t)
	secrets := demoSecrets()

	t.Run("passing dir exits 0", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "check", pass)
		if code != exitOK {
			t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout, stderr)
		}
		if !strings.Contains(stdout, "2 of 2 flows passed") {
			t.Errorf("stdout:\n%s", stdout)
		}
		assertNoSecrets(t, "check stdout", stdout, secrets)
		assertNoSecrets(t, "check stderr", stderr, secrets)
	})

	t.Run("failing dir exits 1 (human)", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "check", "--color", "never", fail)
		if code != exitFailed {
			t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
		}
		for _, want := range []string{"audience_mismatch", "invalid_client", "token_expired", "credentials_missing", "AW_IT_SURELY_UNSET", "2 of 6 flows passed"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		// The unset secret is also a load warning, with its position.
		if !regexp.MustCompile(`warning: .*broken\.yaml:\d+:\d+: .*AW_IT_SURELY_UNSET`).MatchString(stderr) {
			t.Errorf("stderr lacks a positioned warning for the unset secret:\n%s", stderr)
		}
		assertNoSecrets(t, "check stdout", stdout, secrets)
		assertNoSecrets(t, "check stderr", stderr, secrets)
	})

	t.Run("failing dir exits 1 (json)", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "check", "--json", fail)
		if code != exitFailed {
			t.Errorf("exit %d, want %d; stderr:\n%s", code, exitFailed, stderr)
		}
		got := flowOutcomes(t, jsonLines(t, stdout))
		for flow, want := range map[string]string{"billing-token-on-orders": "audience_mismatch", "rotated-secret": "invalid_client",
			"legacy": "token_expired", "unset-secret": "credentials_missing", "orders-api-2": "", "requires-auth-2": ""} {
			if r, ok := got[flow]; !ok || r != want {
				t.Errorf("flow %s: reason %q (reported %v), want %q", flow, r, ok, want)
			}
		}
		assertNoSecrets(t, "check --json stdout", stdout, secrets)
		assertNoSecrets(t, "check --json stderr", stderr, secrets)
	})

	t.Run("--flow selects one flow", func(t *testing.T) {
		code, stdout, _ := runCmd(t, "check", "--json", "--flow", "orders-api-2", fail)
		if code != exitOK {
			t.Errorf("exit %d, want %d", code, exitOK)
		}
		if got := flowOutcomes(t, jsonLines(t, stdout)); len(got) != 1 {
			t.Errorf("flows run: %v, want only orders-api-2", got)
		}
		if code, _, stderr := runCmd(t, "check", "--flow", "no-such-flow", fail); code != exitInvalid || !strings.Contains(stderr, "no-such-flow") {
			t.Errorf("unknown --flow: exit %d, stderr %q; want %d naming it", code, stderr, exitInvalid)
		}
	})

	t.Run("invalid dir exits 2 and runs nothing", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "check", bad)
		if code != exitInvalid {
			t.Errorf("exit %d, want %d\nstderr:\n%s", code, exitInvalid, stderr)
		}
		if stdout != "" {
			t.Errorf("check ran flows of an invalid configuration:\n%s", stdout)
		}
		assertCaret(t, stderr, filepath.Join(bad, "bad.yaml"), 6, "kind: tokenz")
	})

	t.Run("validate", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "validate", pass)
		if code != exitOK || !strings.Contains(stdout, "ok: 2 flows, 4 steps") {
			t.Errorf("validate pass: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		code, stdout, stderr = runCmd(t, "validate", bad)
		if code != exitInvalid {
			t.Errorf("validate bad: exit %d, want %d", code, exitInvalid)
		}
		if stdout != "" {
			t.Errorf("validate bad printed to stdout: %q", stdout)
		}
		assertCaret(t, stderr, filepath.Join(bad, "bad.yaml"), 6, "kind: tokenz")
		if !regexp.MustCompile(`\d+ problems?: the configuration is invalid`).MatchString(stderr) {
			t.Errorf("stderr lacks the problem count:\n%s", stderr)
		}
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{}, {"nope"}, {"check", "--no-such-flag"}, {"check", filepath.Join(pass, "missing.yaml")}} {
			if code, _, _ := runCmd(t, args...); code != exitInvalid {
				t.Errorf("run %q: exit %d, want %d", args, code, exitInvalid)
			}
		}
	})
}

// assertCaret checks a "file:line:col: ..." problem followed by its source
// line and a caret under the column.
func assertCaret(t *testing.T, stderr, file string, line int, source string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(file) + `:` + strconv.Itoa(line) + `:(\d+): (.*)\n\s+` + strconv.Itoa(line) + ` \| (.*)\n\s+\| ( *)\^$`)
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		t.Errorf("no %s:%d:COL problem with its source line and a caret in:\n%s", file, line, stderr)
		return
	}
	col, _ := strconv.Atoi(m[1])
	if !strings.Contains(m[3], source) {
		t.Errorf("source line %q, want it to contain %q", m[3], source)
	}
	if len(m[4]) != col-1 {
		t.Errorf("caret under column %d, problem says column %d", len(m[4])+1, col)
	}
	if !strings.Contains(m[2], "tokenz") {
		t.Errorf("problem message %q does not name the bad kind", m[2])
	}
	if src := m[3]; col-1 < len(src) && !strings.HasPrefix(src[col-1:], "tokenz") && !strings.HasPrefix(src[col-1:], "kind") {
		t.Errorf("column %d points at %q, want the kind", col, src[col-1:])
	}
}

// TestCheckEchoingIdPCanary: `check --json` against a token endpoint that
// echoes the request it got (a debug gateway, a chatty IdP). The client
// secret travels url-encoded and base64-encoded (Basic); no form of it may
// reach stdout.
func TestCheckEchoingIdPCanary(t *testing.T) {
	const (
		clientID = "echo-client"
		secret   = "canary-Secret+/=&x9"
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client",
			"error_description": "client authentication failed",
			"debug":             map[string]string{"hdr": r.Header.Get("Authorization"), "form": r.PostForm.Encode()}})
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AW_IT_ECHO_SECRET", secret)
	dir := t.TempDir()
	flow := `flows:
  - name: echo-basic
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        token_url: "` + srv.URL + `/token"
        client_id: ` + clientID + `
        client_secret: ${env:AW_IT_ECHO_SECRET}
  - name: echo-post
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        token_url: "` + srv.URL + `/token"
        client_id: ` + clientID + `
        client_secret: ${env:AW_IT_ECHO_SECRET}
        client_auth: client_secret_post
`
	if err := os.WriteFile(filepath.Join(dir, "echo.yaml"), []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{secret, url.QueryEscape(secret),
		base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(secret))),
		base64.StdEncoding.EncodeToString([]byte(clientID + ":" + secret))}
	for _, args := range [][]string{{"check", "--json", dir}, {"check", "--color", "never", dir}} {
		code, stdout, stderr := runCmd(t, args...)
		if code != exitFailed {
			t.Errorf("%q: exit %d, want %d", args, code, exitFailed)
		}
		if args[1] == "--json" {
			got := flowOutcomes(t, jsonLines(t, stdout))
			if got["echo-basic"] != "invalid_client" || got["echo-post"] != "invalid_client" {
				t.Errorf("outcomes %v, want invalid_client twice", got)
			}
		}
		assertNoSecrets(t, strings.Join(args[:2], " ")+" stdout", stdout, secrets)
		assertNoSecrets(t, strings.Join(args[:2], " ")+" stderr", stderr, secrets)
	}
}

// TestCheckEveryEncodingCanary: `check --json` and the human table against
// targets that echo every credential they received in every encoding; the
// canaries span the printable ASCII set and non-ASCII text. No encoding
// of any canary reaches stdout or stderr. Not parallel: it sets the
// flows' secrets in the environment.
func TestCheckEveryEncodingCanary(t *testing.T) {
	srv := httptest.NewServer(redacttest.Echo{})
	t.Cleanup(srv.Close)
	secrets := map[string]string{"AW_IT_CANARY_SECRET": redacttest.Canaries[0], "AW_IT_CANARY_PASSWORD": redacttest.Canaries[1],
		"AW_IT_CANARY_BEARER": redacttest.Canaries[2]}
	var all []string
	for k, v := range secrets {
		t.Setenv(k, v)
		all = append(all, v)
	}
	dir := t.TempDir()
	flow := `flows:
  - name: echo-basic-json
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        token_url: "` + srv.URL + `/token"
        client_id: echo-client
        client_secret: ${env:AW_IT_CANARY_SECRET}
  - name: echo-password-html
    every: 1m
    steps:
      - id: token
        kind: password
        token_url: "` + srv.URL + `/token.html"
        client_id: echo-client
        client_secret: ${env:AW_IT_CANARY_SECRET}
        client_auth: client_secret_post
        username: synthetic
        password: ${env:AW_IT_CANARY_PASSWORD}
  - name: echo-api
    every: 1m
    steps:
      - id: call
        kind: http
        method: POST
        url: "` + srv.URL + `/api.json-plain?k=${env:AW_IT_CANARY_PASSWORD}"
        auth: {bearer: "${env:AW_IT_CANARY_BEARER}"}
        headers: {X-Api-Key: "${env:AW_IT_CANARY_SECRET}", Content-Type: application/x-www-form-urlencoded}
        body: "p=${env:AW_IT_CANARY_PASSWORD}"
  - name: echo-api-text
    every: 1m
    steps:
      - id: call
        kind: http
        url: "` + srv.URL + `/api.txt"
        auth: {basic: {username: u, password: "${env:AW_IT_CANARY_BEARER}"}}
`
	if err := os.WriteFile(filepath.Join(dir, "echo.yaml"), []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "--json", dir}, {"check", "--color", "never", dir}} {
		code, stdout, stderr := runCmd(t, args...)
		if code != exitFailed {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", args, code, exitFailed, stderr)
		}
		if args[1] == "--json" {
			got := flowOutcomes(t, jsonLines(t, stdout))
			if len(got) != 4 {
				t.Errorf("outcomes %v, want 4 flows", got)
			}
		}
		for name, text := range map[string]string{"stdout": stdout, "stderr": stderr} {
			for _, l := range redacttest.Leaks(text, all...) {
				t.Errorf("%s %s: %s", strings.Join(args[:2], " "), name, l)
			}
		}
	}
}
