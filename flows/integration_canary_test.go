package flows_test

// Secret canaries: flows run with known secret values (client secrets,
// passwords, bearer tokens) against real servers, some of which echo what
// they received, as debug endpoints, misconfigured gateways and chatty IdPs
// do. No secret, in any encoding a request carries it, and no JWT may
// appear in anything authwatch renders: --json lines, the table, %+v or JSON
// of results, failures, evidence and findings, or the Runner's log.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/redact/redacttest"
)

// basicForms are the encodings of a client's credentials on the wire: the
// oauth2 package url-escapes both before base64 (RFC 6749 §2.3.1), RFC 7617
// does not.
func itBasicForms(id, secret string) []string {
	return []string{
		base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret))),
		base64.StdEncoding.EncodeToString([]byte(id + ":" + secret)),
	}
}

// loggingRunner is a Runner whose log goes to a JSON handler on buf.
func itLoggingRunner(lookup func(string) (string, bool), buf *bytes.Buffer) *flows.Runner {
	r := itNewRunner(lookup)
	r.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return r
}

// TestCanaryDemoFlows runs the demo's own flows (healthy and broken) twice
// with one Runner, plus flows that put every demo secret on the wire.
// proves: audience_mismatch, auth_not_enforced, insufficient_scope, invalid_client, token_expired
func TestCanaryDemoFlows(t *testing.T) {
	t.Parallel()
	env, fill := itStartDemo(t)
	secrets := append(append([]string{}, itDemoSecrets...), idp.PrivateKeyLines()...)
	for id, s := range map[string]string{idp.OrdersClientID: idp.OrdersClientSecret, idp.BillingClientID: idp.BillingClientSecret,
		idp.ReaderClientID: idp.ReaderClientSecret, idp.LegacyClientID: idp.LegacyClientSecret, idp.DriftClientID: idp.DriftClientSecret} {
		secrets = append(secrets, itBasicForms(id, s)...)
	}
	secrets = append(secrets, itBasicForms(idp.OrdersClientID, "demo-only-secret-before-rotation")...)

	var logs bytes.Buffer
	r := itLoggingRunner(demo.LookupEnv, &logs)
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: r.Secrets}, demo.FlowsFile, env.Flows())
	if err != nil {
		t.Fatal(err)
	}
	extra := itLoadFlow(t, r, fill.Replace(`
name: demo-secrets-everywhere
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
    client_auth: client_secret_post
    scopes: [orders.read]
  - id: list
    kind: http
    url: "{{api}}/orders?access_token=${steps.token.access_token}"
    auth: {bearer: "${steps.token.access_token}"}
    extract: {first: {json: .orders | length}}
  - id: basic
    kind: http
    url: "{{api}}/orders"
    auth: {basic: {username: orders-client, password: "${env:DEMO_ORDERS_CLIENT_SECRET}"}}
`))
	var results []*flows.Result
	for round := 0; round < 2; round++ {
		for _, f := range append(set.Flows, extra) {
			results = append(results, r.Run(t.Context(), f))
		}
	}
	// The run must have failed in the places the demo plants failures,
	// or the canary proves less than it claims.
	reasons := map[flows.Reason]bool{}
	for _, res := range results {
		if f := res.Failure(); f != nil {
			reasons[f.Reason] = true
		}
	}
	for _, want := range []flows.Reason{flows.ReasonAudienceMismatch, flows.ReasonInsufficientScope, flows.ReasonTokenExpired,
		flows.ReasonAuthNotEnforced, flows.ReasonInvalidClient} {
		if !reasons[want] {
			t.Errorf("no demo flow failed with %s; reasons: %v", want, reasons)
		}
	}
	itAssertNoSecrets(t, secrets, results...)
	itAssertTextHasNoSecrets(t, "the Runner's log", logs.String(), secrets)

	// A Failure is a value people store (history) and ship (notifications):
	// it must encode to JSON, without a secret.
	for _, res := range results {
		f := res.Failure()
		if f == nil {
			continue
		}
		b, err := json.Marshal(f)
		if err != nil {
			t.Errorf("json.Marshal(%s/%s %s failure): %v (Failure.Err is %T)", f.Flow, f.Step, f.Reason, err, f.Err)
			continue
		}
		itAssertTextHasNoSecrets(t, "json.Marshal of the "+string(f.Reason)+" failure", string(b), secrets)
	}
}

// echoTokenEndpoint is a token endpoint that answers with everything it
// received, as some debug gateways and misconfigured IdPs do: on path /fail
// with 401 invalid_client, on /ok with a token response carrying the echo.
func itEchoTokenEndpoint(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := itReadAll(t, r.Body)
		// Neutral key names: the by-name net must not be what catches them.
		echo := map[string]any{"hdr": r.Header.Get("Authorization"), "form": body}
		switch r.URL.Path {
		case "/fail/token":
			itWriteJSONResp(w, 401, map[string]any{"error": "invalid_client", "error_description": "client authentication failed",
				"echo": echo})
		case "/ok/token":
			itWriteJSONResp(w, 200, map[string]any{"access_token": "canary-opaque-access-token-e1f0", "token_type": "Bearer",
				"expires_in": 600, "echo": echo})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func itReadAll(t *testing.T, r interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Errorf("read: %v", err)
	}
	return b.String()
}

// TestCanaryEchoedClientCredentials: the IdP echoes the request. Every form
// of the client secret and of the password the request carried (raw,
// percent-encoded in the form, base64 in the Basic header) must be caught.
// proves: invalid_client
func TestCanaryEchoedClientCredentials(t *testing.T) {
	t.Parallel()
	const (
		clientID = "canary-client"
		secret   = "canary-Secret+/=&x9"  // characters that change under url-encoding
		password = "canary-P@ss word+42!" // idem
	)
	secrets := append([]string{secret, password, url.QueryEscape(secret), url.QueryEscape(password),
		"canary-opaque-access-token-e1f0"}, itBasicForms(clientID, secret)...)
	srv := itEchoTokenEndpoint(t)
	var logs bytes.Buffer
	r := itLoggingRunner(itLookupFrom(map[string]string{"SECRET": secret, "PASSWORD": password}, nil), &logs)

	var results []*flows.Result
	for _, path := range []string{"fail", "ok"} {
		for _, auth := range []string{"client_secret_basic", "client_secret_post"} {
			for _, grant := range []string{"client_credentials", "password"} {
				name := strings.Join([]string{"echo", path, auth, grant}, "-")
				t.Run(name, func(t *testing.T) {
					user := ""
					if grant == "password" {
						user = "\n    username: synthetic-user\n    password: ${env:PASSWORD}"
					}
					res := itRunYAML(t, r, `
name: `+name+`
every: 1m
steps:
  - id: token
    kind: `+grant+`
    token_url: "`+srv.URL+`/`+path+`/token"
    client_id: `+clientID+`
    client_secret: ${env:SECRET}
    client_auth: `+auth+user+`
`)
					if path == "fail" {
						itMustFail(t, res, "token", flows.ReasonInvalidClient)
					} else {
						itMustPass(t, res)
					}
					itAssertNoSecrets(t, secrets, res)
					results = append(results, res)
				})
			}
		}
	}
	itAssertTextHasNoSecrets(t, "the Runner's log", logs.String(), secrets)
}

// TestCanaryEchoedBearerAndBasic: an API that echoes the Authorization
// header it got, on a refusal and on success.
func TestCanaryEchoedBearerAndBasic(t *testing.T) {
	t.Parallel()
	const (
		bearer   = "canary-bearer-9a7c5e3b1d"
		password = "canary-basic-password-61"
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := map[string]string{"you_sent": r.Header.Get("Authorization"), "query": r.URL.RawQuery}
		if r.URL.Path == "/refuse" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="echo", error="invalid_token", error_description="bad credential `+r.Header.Get("Authorization")+`"`)
			itWriteJSONResp(w, 401, echo)
			return
		}
		itWriteJSONResp(w, 200, echo)
	}))
	t.Cleanup(srv.Close)
	secrets := []string{bearer, password, url.QueryEscape(password)}
	secrets = append(secrets, itBasicForms("user", password)...)
	r := itNewRunner(itLookupFrom(map[string]string{"BEARER": bearer, "PASSWORD": password}, nil))
	var results []*flows.Result
	for _, path := range []string{"refuse", "ok"} {
		for _, auth := range []string{`{bearer: "${env:BEARER}"}`, `{basic: {username: user, password: "${env:PASSWORD}"}}`} {
			results = append(results, itRunYAML(t, r, `
name: echo-api
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/`+path+`?api_key=${env:BEARER}"
    auth: `+auth+`
    expect: {json: [{path: .you_sent, equals: "expected-something-else"}]}
`))
		}
	}
	for _, res := range results {
		if res.OK {
			t.Errorf("flow passed, want a failure that shows evidence:\n%s", itDescribe(res))
		}
	}
	itAssertNoSecrets(t, secrets, results...)
}

// TestCanaryUnregisteredJWT: JWTs authwatch never sent or received as a
// token (an API's debug output, an implicit-flow redirect, a session
// cookie) are credentials too; the contract shows a token only as a
// fingerprint.
func TestCanaryUnregisteredJWT(t *testing.T) {
	t.Parallel()
	key := itRsaKey(t)
	jwt := itSignJWT(t, key, "k1", map[string]any{"sub": "someone-else", "exp": time.Now().Add(time.Hour).Unix()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/debug":
			itWriteJSONResp(w, 500, map[string]any{"error": "upstream failed", "detail": "upstream rejected " + jwt})
		case "/implicit":
			w.Header().Set("Location", "https://app.example.com/cb#access_token="+jwt+"&token_type=Bearer")
			w.WriteHeader(http.StatusFound)
		case "/cookie":
			http.SetCookie(w, &http.Cookie{Name: "session", Value: jwt, Path: "/", HttpOnly: true})
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	r := itNewRunner(nil)
	for _, path := range []string{"debug", "implicit", "cookie"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			res := itRunYAML(t, r, `
name: jwt-`+path+`
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/`+path+`"
    redirects: {follow: false}
`)
			if res.OK {
				t.Fatalf("flow passed:\n%s", itDescribe(res))
			}
			itAssertNoSecrets(t, []string{jwt}, res)
		})
	}
}

// TestCanaryEveryEncoding: canaries drawn from the whole printable ASCII
// set (`&<>"'\` %+/=` included) and from non-ASCII text travel as client
// secrets (Basic and form), a password, a bearer token, an API key header
// and a form body to targets that echo every credential they received in
// every encoding (JSON Go-style and plain, HTML, text, url, base64 whole
// and inside a blob) in their bodies and headers. No encoding of any
// canary appears in any rendering of the results or in the log.
func TestCanaryEveryEncoding(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"CLIENT_SECRET": redacttest.Canaries[0],
		"PASSWORD":      redacttest.Canaries[1],
		"BEARER":        redacttest.Canaries[2],
		"API_KEY":       "Ünïcødé-秘密-api-key-<&>\"'",
	}
	var all []string
	for _, v := range secrets {
		all = append(all, v)
	}
	echo := httptest.NewServer(redacttest.Echo{})
	t.Cleanup(echo.Close)
	var logs bytes.Buffer
	r := itLoggingRunner(itLookupFrom(secrets, nil), &logs)
	token := func(path, auth, extra string) string {
		return `
  - id: token
    kind: ` + map[bool]string{true: "password", false: "client_credentials"}[extra != ""] + `
    token_url: "` + echo.URL + path + `"
    client_id: canary-client
    client_secret: ${env:CLIENT_SECRET}
    client_auth: ` + auth + extra
	}
	call := func(path, auth string) string {
		return `
  - id: call
    kind: http
    method: POST
    url: "` + echo.URL + path + `?key=${env:API_KEY}"
    auth: ` + auth + `
    headers: {X-Api-Key: "${env:API_KEY}", Content-Type: application/x-www-form-urlencoded}
    body: "password=${env:PASSWORD}&secret=${env:CLIENT_SECRET}"`
	}
	password := "\n    username: synthetic\n    password: ${env:PASSWORD}"
	flowsYAML := map[string]string{
		"token-basic-json":       token("/token", "client_secret_basic", ""),
		"token-post-json-plain":  token("/token.json-plain", "client_secret_post", ""),
		"password-html":          token("/token.html", "client_secret_post", password),
		"password-basic-txt":     token("/token.txt", "client_secret_basic", password),
		"api-bearer-json":        call("/api", `{bearer: "${env:BEARER}"}`),
		"api-bearer-html":        call("/api.html", `{bearer: "${env:BEARER}"}`),
		"api-basic-txt":          call("/api.txt", `{basic: {username: canary-user, password: "${env:PASSWORD}"}}`),
		"api-basic-json-plain":   call("/api.json-plain", `{basic: {username: canary-user, password: "${env:CLIENT_SECRET}"}}`),
		"api-bearer-json-status": call("/api", `{bearer: "${env:BEARER}", audience: api://canary}`),
	}
	var results []*flows.Result
	for name, steps := range flowsYAML {
		res := itRunYAML(t, r, "name: "+name+"\nevery: 1m\nsteps:"+steps+"\n")
		if res.OK {
			t.Errorf("%s passed; the echo refuses everything, so the evidence is not exercised:\n%s", name, itDescribe(res))
		}
		results = append(results, res)
	}
	for where, text := range itRenderings(t, results...) {
		for _, l := range redacttest.Leaks(text, all...) {
			t.Errorf("%s: %s", where, l)
		}
	}
	for _, l := range redacttest.Leaks(logs.String(), all...) {
		t.Errorf("the Runner's log: %s", l)
	}
}
