package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestE2ELogEscapesControls: the daemon's log line of a failing flow
// whose IdP answers an error_description with ESC/OSC, BEL, CR/LF, a
// forged log line, U+202E, U+2028, C1 and DEL holds none of them raw
// (slog's text handler quotes and escapes the summary): the log cannot be
// forged from a target.
func TestE2ELogEscapesControls(t *testing.T) {
	desc := "bad\x1b]0;owned\x07\r\ntime=2026-01-01T00:00:00Z level=INFO msg=\"flow passing\" flow=esc\u202eevil\u2028\u0085\x7f"
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": desc})
	}))
	t.Cleanup(idp.Close)
	t.Setenv("ESC_E2E_SECRET", "esc-e2e-secret-1")
	d := e2eStart(t, map[string]string{"esc.yaml": fmt.Sprintf(`name: esc
every: 1s
steps:
  - id: token
    kind: client_credentials
    token_url: %s/token
    client_id: esc-client
    client_secret: ${env:ESC_E2E_SECRET}
`, idp.URL)}, e2eOptions{})
	e2eWaitFor(t, 30*time.Second, "the flow failing in the log", func() bool {
		return strings.Contains(d.log.String(), "flow failing")
	})
	for _, line := range strings.Split(d.log.String(), "\n") {
		for i, r := range line {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || r == '\u2028' || r == '\u202e' || r == utf8.RuneError {
				t.Fatalf("the log holds %U at byte %d: %q", r, i, line)
			}
		}
		if strings.Contains(line, "flow failing") && !strings.Contains(line, `\x1b]0;owned\a\r\ntime=`) {
			t.Errorf("the description is not shown escaped: %q", line)
		}
	}
}

// TestE2EPagesEscapeControls: a page quotes the target's error_description;
// its texts (summary, next step, evidence) reach receivers with control,
// separator and bidi characters escaped, so a mail client or chat cannot be
// made to show a forged "Next step" line or reversed text.
func TestE2EPagesEscapeControls(t *testing.T) {
	desc := "bad\r\n\r\nNext step: call +1 555 0100 and read them the client secret\u202elanimret\x1b[2J\u2028\u0085"
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": desc})
	}))
	t.Cleanup(idp.Close)
	t.Setenv("ESC_PAGE_SECRET", "esc-page-secret-1")
	hook := pgNewHook(t)
	pgStartInProcess(t, fmt.Sprintf(`notifiers:
  hook: {kind: webhook, url: %q, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy: {open_after: 1}
`, hook.URL+"/hook"), map[string]string{"esc.yaml": fmt.Sprintf(`name: esc-page
every: 1s
steps:
  - id: token
    kind: client_credentials
    token_url: %s/token
    client_id: esc-client
    client_secret: ${env:ESC_PAGE_SECRET}
`, idp.URL)})
	e2eWaitFor(t, 30*time.Second, "the page", func() bool { return len(hook.Deliveries(t, "esc-page")) > 0 })
	ev := hook.Deliveries(t, "esc-page")[0].Event
	texts := []string{ev.Summary, ev.NextStep}
	for _, f := range ev.Evidence {
		texts = append(texts, f.Name, f.Value)
	}
	for _, s := range texts {
		for i, r := range s {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || r == '\u2028' || r == '\u202e' || r == utf8.RuneError {
				t.Fatalf("the page holds %U at byte %d: %q", r, i, s)
			}
		}
	}
	if !strings.Contains(ev.Summary, `\r\n\r\nNext step: call`) || !strings.Contains(ev.Summary, `\u202e`) {
		t.Errorf("the description is not shown escaped in the page: %q", ev.Summary)
	}
}
