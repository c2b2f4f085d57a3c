package flows_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/report"
)

// boundFiller grows when escaped for JSON and HTML and holds multi-byte
// UTF-8 sequences a byte cut could split.
const boundFiller = `<"&>é€😀'`

func boundText(n int) string { return strings.Repeat(boundFiller, n/len(boundFiller)+1)[:n] }

// boundTarget answers 401 as large as it can, in the way the path names.
func boundTarget(t *testing.T) *httptest.Server {
	challenge := `Bearer error="invalid_token", error_description="` + strings.ReplaceAll(boundText(200<<10), `"`, `'`) + `"`
	body := boundText(8 << 20)
	pad := strings.Repeat("a", 200<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/header":
			w.Header().Set("WWW-Authenticate", challenge)
		case r.URL.Path == "/body":
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(body))
			return
		case r.URL.Path == "/cookies":
			for i := range 10000 {
				w.Header().Add("Set-Cookie", fmt.Sprintf("c%04d=1", i))
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		case r.URL.Path == "/headers":
			for i := range 2000 {
				w.Header().Set(fmt.Sprintf("X-H%04d", i), boundText(100))
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		case strings.HasPrefix(r.URL.Path, "/hop/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			if n < 9 {
				http.Redirect(w, r, fmt.Sprintf("/hop/%d?pad=%s", n+1, pad), http.StatusFound)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRunEvidenceBounded: whatever a target sends (a 200 KiB
// WWW-Authenticate, an 8 MiB body, 10,000 Set-Cookie lines, 2,000
// headers, a 10-hop redirect chain with 200 KiB URLs), a run's JSON lines
// (`check --json`, what the daemon stores) stay within MaxRunEvidence
// plus 1 KiB of framing, are valid UTF-8, and say what they cut.
func TestRunEvidenceBounded(t *testing.T) {
	srv := boundTarget(t)
	for _, path := range []string{"/header", "/body", "/cookies", "/headers", "/hop/0"} {
		t.Run(path, func(t *testing.T) {
			r := itNewRunner(nil)
			res := itRunYAML(t, r, fmt.Sprintf(`name: bounded
every: 1m
steps:
  - id: call
    kind: http
    url: %s
    expect: {status: 200}
`, srv.URL+path))
			if res.OK || res.Failure() == nil {
				t.Fatalf("the run passed:\n%s", itDescribe(res))
			}
			var out bytes.Buffer
			if err := report.JSON(&out, res); err != nil {
				t.Fatal(err)
			}
			if max := flows.MaxRunEvidence + 1<<10; out.Len() > max {
				t.Errorf("check --json wrote %d bytes, want at most %d:\n%.3000s", out.Len(), max, out.String())
			}
			if !utf8.Valid(out.Bytes()) {
				t.Error("the JSON is not valid UTF-8: a cut split a sequence")
			}
			if !strings.Contains(out.String(), "…truncated") {
				t.Errorf("nothing says what was cut:\n%.3000s", out.String())
			}
			t.Logf("%s: %d bytes, %s", path, out.Len(), res.Failure().Reason)
		})
	}
}

// TestRunEvidenceHopsKept: of a 10-hop redirect chain the evidence keeps
// the first hop and the last ones, and says how many it left out.
func TestRunEvidenceHopsKept(t *testing.T) {
	srv := boundTarget(t)
	r := itNewRunner(nil)
	res := itRunYAML(t, r, fmt.Sprintf(`name: hops
every: 1m
steps:
  - id: call
    kind: http
    url: %s/hop/0
    expect: {status: 200}
`, srv.URL))
	f := res.Failure()
	if f == nil {
		t.Fatalf("passed:\n%s", itDescribe(res))
	}
	exs := f.Evidence.Exchanges
	if len(exs) < 2 || !strings.Contains(exs[0].URL, "/hop/0") || !strings.Contains(exs[len(exs)-1].URL, "/hop/9") {
		t.Fatalf("want the first and the last hop, got %d exchanges", len(exs))
	}
	omitted := 0
	for _, ex := range exs {
		omitted += ex.Omitted
	}
	if len(exs)+omitted != 10 {
		t.Errorf("%d exchanges kept and %d said omitted, want 10 in all", len(exs), omitted)
	}
	if last := exs[len(exs)-1]; last.Status != http.StatusUnauthorized || len(last.ResponseHeaders["Www-Authenticate"]) == 0 {
		t.Errorf("the last hop lost its status or challenge: %+v", last)
	}
}

// TestRunHeadersOverLimit: an answer whose headers pass
// MaxResponseHeaderBytes (an 8 MiB WWW-Authenticate) is the target's
// problem, connection_failed with the limit named, not internal_error.
//
// proves: connection_failed
func TestRunHeadersOverLimit(t *testing.T) {
	challenge := "Bearer error_description=\"" + strings.Repeat("x", 8<<20) + "\""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	r := itNewRunner(nil)
	res := itRunYAML(t, r, fmt.Sprintf(`name: huge-header
every: 1m
steps:
  - id: call
    kind: http
    url: %s
    expect: {status: 200}
`, srv.URL))
	f := res.Failure()
	if f == nil || f.Reason != flows.ReasonConnectionFailed || !strings.Contains(f.Summary, "256 KiB") {
		t.Fatalf("want connection_failed naming the 256 KiB limit:\n%s", itDescribe(res))
	}
}

var boundMarker = regexp.MustCompile(`\[redacted sha256:[0-9a-f]{12}\]`)

// TestRunEvidenceCutAfterRedaction: evidence is redacted before it is cut,
// so a cut never leaves part of a secret. A 10 KiB secret the flow sends
// comes back in a WWW-Authenticate value at every offset around the
// 1 KiB value bound, and six and a half times in a body, so that the
// recorder's 64 KiB cut splits the seventh copy (redacted, the six copies
// shrink to markers, which would bring that half into the shown 4 KiB).
// Neither the secret's start nor its end appears in the JSON, and every
// redaction marker is whole.
func TestRunEvidenceCutAfterRedaction(t *testing.T) {
	secret := strings.Repeat(fmt.Sprintf("%x", sha256.Sum256([]byte(t.Name()))), 160)[:10<<10]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Key")
		if pad, err := strconv.Atoi(r.URL.Query().Get("pad")); err == nil {
			w.Header().Set("WWW-Authenticate", `Bearer error_description="`+strings.Repeat("p", pad)+key+`"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(strings.Repeat(key, 6) + key[:len(key)/2] + strings.Repeat("z", 64<<10)))
	}))
	t.Cleanup(srv.Close)
	r := itNewRunner(itLookupFrom(map[string]string{"BIG_KEY": secret}, nil))
	for _, query := range []string{"body", "pad=0", "pad=970", "pad=980", "pad=990", "pad=1000", "pad=1010", "pad=1020", "pad=2000"} {
		t.Run(query, func(t *testing.T) {
			res := itRunYAML(t, r, fmt.Sprintf(`name: cut-after-redaction
every: 1m
steps:
  - id: call
    kind: http
    url: %s/?%s
    headers: {X-Key: "${env:BIG_KEY}"}
    expect: {status: 200}
`, srv.URL, query))
			var out bytes.Buffer
			if err := report.JSON(&out, res); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			for _, part := range []string{secret[:12], secret[len(secret)-12:], secret[5000:5012]} {
				if strings.Contains(text, part) {
					t.Fatalf("part of the secret (%q) shows:\n%.2000s", part, text)
				}
			}
			if n, whole := strings.Count(text, "[redacted"), len(boundMarker.FindAllString(text, -1)); n != whole {
				t.Errorf("%d redaction markers, %d of them whole:\n%.2000s", n, whole, text)
			}
		})
	}
}
