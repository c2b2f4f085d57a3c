package flows_test

// A control character in a header is the configuration's fault (a secret
// or a literal holding a newline) or the target's (an answer with a
// malformed header line), never internal_error.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// TestControlCharInSecretHeaderIsConfigInvalid: a secret reference whose
// value holds a newline or another control character, expanded into a
// header (custom, bearer), fails before any request, as config_invalid
// naming the header and the reference, never showing the value.
// proves: config_invalid
func TestControlCharInSecretHeaderIsConfigInvalid(t *testing.T) {
	t.Parallel()
	srv, got := hrServer(t, nil)
	for _, tc := range []struct{ name, value, auth, header string }{
		{"newline in a header", "hr-key-line1\nX-Injected: 1", "", `X-Api-Key: "${env:BAD}"`},
		{"CR in a header", "hr-key\rrest", "", `X-Api-Key: "${env:BAD}"`},
		{"DEL in a header", "hr-key\x7frest", "", `X-Api-Key: "${env:BAD}"`},
		{"NUL in a bearer", "hr-bearer\x00rest", "\n    auth: {bearer: \"${env:BAD}\"}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := itNewRunner(itLookupFrom(map[string]string{"BAD": tc.value}, nil))
			headers := ""
			if tc.header != "" {
				headers = "\n    headers: {" + tc.header + "}"
			}
			res := itRunYAML(t, r, `
name: control-char
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"`+tc.auth+headers+`
`)
			f := itMustFail(t, res, "call", flows.ReasonConfigInvalid)
			itSummaryHas(t, f, "${env:BAD}", "control character")
			if tc.header != "" {
				itSummaryHas(t, f, "X-Api-Key")
			} else {
				itSummaryHas(t, f, "Authorization")
			}
			itAssertNoSecrets(t, []string{tc.value}, res)
		})
	}
	if n := len(got.all()); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

// TestControlCharInLiteralHeaderIsALoadError: a literal header value (or
// name) that cannot be sent is a load problem at its position.
func TestControlCharInLiteralHeaderIsALoadError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, header, want string }{
		{"value", `X-Trace: "a\nb"`, `headers.X-Trace: the value holds a control character`},
		{"name", `"X Trace": ok`, `headers."X Trace": not a valid header name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := flows.LoadBytes(flows.LoadOptions{}, "control.yaml", []byte(`
name: control-literal
every: 1m
steps:
  - id: call
    kind: http
    url: "http://127.0.0.1:1/data"
    headers: {`+tc.header+`}
`))
			if err == nil || !strings.Contains(err.Error(), "control.yaml:8:") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load error %v, want control.yaml:8:COL and %q", err, tc.want)
			}
		})
	}
}

// TestMalformedResponseHeaderIsTheTargets: an answer whose header lines
// Go refuses to parse (a bare LF inside a value, a line without a colon, a
// control character in a name) is the target's fault: server_error at
// the app layer for an API, never internal_error.
func TestMalformedResponseHeaderIsTheTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, raw string }{
		{"no colon", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nthis line has no colon\r\n\r\nok"},
		{"control char in a name", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Bad\x01Name: v\r\n\r\nok"},
		{"bad status line", "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := hcRawServer(t, tc.raw)
			res := itRunYAML(t, hrRunner(), `
name: malformed-answer
every: 1m
steps:
  - id: call
    kind: http
    url: "http://`+addr+`/data"
`)
			f := itMustFail(t, res, "call", flows.ReasonServerError)
			itSummaryHas(t, f, addr, "malformed")
		})
	}
}

// hcRawServer answers every connection with raw bytes, once per request
// line it reads.
func hcRawServer(t *testing.T, raw string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						_, _ = c.Write([]byte(raw))
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestControlCharInIssuedTokenIsTheIdPs: an access token with a newline,
// issued by the token endpoint and sent by a later http step, is the
// IdP's malformed answer (idp_error), found before the request is sent.
func TestControlCharInIssuedTokenIsTheIdPs(t *testing.T) {
	t.Parallel()
	api, apiGot := hrServer(t, nil)
	idp, _ := hrServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"hr-issued\nX-Injected: 1","token_type":"Bearer","expires_in":300}`)
	})
	res := itRunYAML(t, hrRunner(), `
name: issued-control-char
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: "`+idp.URL+`/token"
    client_id: hr-client
    client_secret: ${env:CLIENT_SECRET}
  - id: call
    kind: http
    url: "`+api.URL+`/data"
    auth: {bearer: "${steps.token.access_token}"}
`)
	f := itMustFail(t, res, "call", flows.ReasonIdPError)
	itSummaryHas(t, f, "${steps.token.access_token}", "control character", `step "token"`)
	hrMustNotReceive(t, "the API", apiGot)
}
