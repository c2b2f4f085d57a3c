package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// forged is an error description written to take over a terminal: an OSC
// window title ended by BEL, a screen clear, a CR/LF and a line that looks
// like a passing row of `check`, a right-to-left override, a line
// separator, C1 NEL and DEL.
const forged = "bad client\x1b]0;owned\x07\x1b[2J\r\nforged  token  client_credentials  pass  200\u202eevil\u2028x\u0085y\x7fz"

// escTarget is an IdP whose token endpoint and an API whose challenge and
// body carry forged.
func escTarget(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": forged})
		default:
			// Header values cannot carry C0 controls: the bidi and C1 ones.
			w.Header().Set("WWW-Authenticate", "Bearer error=\"invalid_token\", error_description=\"expired\u202eevil\u0085\u2066\"")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token", "error_description": forged})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// terminalUnsafe returns the first character of out, a human rendering,
// that a terminal would act on (any control but LF, a separator, a bidi
// control, a byte that is not UTF-8), and false if there is none.
func terminalUnsafe(out string) (string, bool) {
	for i, r := range out {
		switch {
		case r == '\n':
		case r == utf8.RuneError && !strings.HasPrefix(out[i:], "\uFFFD"),
			r < 0x20, r >= 0x7f && r <= 0x9f, r == '\u2028', r == '\u2029', r == '\u061c', r == '\u200e', r == '\u200f',
			r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
			return fmt.Sprintf("%U at byte %d", r, i), true
		}
	}
	return "", false
}

// TestCheckEscapesTerminalControls: `authwatch check` (the real command,
// in process) against an IdP whose error_description carries ESC/OSC,
// BEL, CR/LF, U+202E, U+2028, C1 and DEL prints none of them raw, shows
// them as \x1b, \u202e..., and no line it prints is the forged one; with
// --json the description comes back exactly as the IdP sent it.
func TestCheckEscapesTerminalControls(t *testing.T) {
	srv := escTarget(t)
	t.Setenv("ESC_TEST_SECRET", "esc-test-secret-1")
	path := filepath.Join(t.TempDir(), "esc.yaml")
	flow := fmt.Sprintf(`name: esc
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: %s/token
    client_id: esc-client
    client_secret: ${env:ESC_TEST_SECRET}
`, srv.URL)
	if err := os.WriteFile(path, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check", "--color", "never", path}, &stdout, &stderr); code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if c, bad := terminalUnsafe(out); bad {
		t.Errorf("check prints %s raw:\n%q", c, out)
	}
	for _, want := range []string{`\x1b]0;owned\x07`, `\r\nforged`, `\u202eevil\u2028x\u0085y\x7fz`} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not show %s:\n%q", want, out)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "forged") {
			t.Errorf("a forged line: %q", sc.Text())
		}
	}

	stdout.Reset()
	run(context.Background(), []string{"check", "--json", path}, &stdout, &stderr)
	found := false
	for line := range strings.SplitSeq(strings.TrimSpace(stdout.String()), "\n") {
		var v struct {
			Evidence struct {
				Facts []struct{ Name, Value string }
			}
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("--json: %v: %s", err, line)
		}
		for _, f := range v.Evidence.Facts {
			found = found || f.Value == forged
		}
	}
	if !found {
		t.Errorf("--json does not carry the description exactly:\n%s", stdout.String())
	}
}

// TestDiagnoseEscapesTerminalControls: `authwatch diagnose` (in process)
// against an API whose challenge carries U+202E, C1 and U+2066 and whose
// body carries forged prints none of them raw.
func TestDiagnoseEscapesTerminalControls(t *testing.T) {
	srv := escTarget(t)
	t.Setenv("ESC_TEST_TOKEN", "esc-test-token-1")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"diagnose", srv.URL + "/api", "--bearer-env", "ESC_TEST_TOKEN"}, &stdout, &stderr)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if c, bad := terminalUnsafe(out); bad {
		t.Errorf("diagnose prints %s raw:\n%q", c, out)
	}
	if !strings.Contains(out, `\u202eevil`) {
		t.Errorf("diagnose does not show the override as \\u202e:\n%q", out)
	}
}
