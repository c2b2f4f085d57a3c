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
