package flows_test

// Redirects must never carry a secret to another origin (scheme, host,
// port). Each test runs two real loopback servers (two ports, or 127.0.0.1
// and localhost: two origins) and asserts what the second one RECEIVED.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// hrReceived is what a server saw: one line per request, and the headers
// and body of each.
type hrReceived struct {
	mu   sync.Mutex
	reqs []hrRequest
}

type hrRequest struct {
	Method, Path string
	Header       http.Header
	Body         string
}

func (r *hrReceived) add(req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, hrRequest{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: string(body)})
}

func (r *hrReceived) all() []hrRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hrRequest(nil), r.reqs...)
}

// hrServer starts a recording server; handle answers (nil: 200 "ok").
func hrServer(t *testing.T, handle http.HandlerFunc) (*httptest.Server, *hrReceived) {
	t.Helper()
	rec := &hrReceived{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if handle == nil {
			_, _ = w.Write([]byte(`{"ok":true}`))
			return
		}
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// hrRedirectTo answers every request with a redirect to target + the path.
func hrRedirectTo(target string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target+r.URL.Path)
		w.WriteHeader(status)
	}
}

// hrLocalhost is the same server under the name localhost: another origin.
func hrLocalhost(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }

// hrMustNotReceive fails when the server got any request.
func hrMustNotReceive(t *testing.T, name string, rec *hrReceived) {
	t.Helper()
	if got := rec.all(); len(got) != 0 {
		t.Errorf("%s received %d request(s), want none: first %s %s with headers %v and body %q",
			name, len(got), got[0].Method, got[0].Path, hrHeaderNames(got[0].Header), got[0].Body)
	}
}

func hrHeaderNames(h http.Header) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	return out
}

const (
	hrClientSecret = "hr-client-secret-0c7e"
	hrPassword     = "hr-password-9d1f"
	hrBearer       = "hr-bearer-token-5a3b"
	hrAPIKey       = "hr-api-key-77e2"
	hrRefresh      = "hr-refresh-token-1b8c"
)

func hrRunner() *flows.Runner {
	return itNewRunner(itLookupFrom(map[string]string{"CLIENT_SECRET": hrClientSecret, "PASSWORD": hrPassword,
		"BEARER": hrBearer, "API_KEY": hrAPIKey, "REFRESH": hrRefresh}, nil))
}

// TestRedirectFromTokenEndpointNotFollowed: a token endpoint that answers
// a redirect (307/308 would re-POST client_secret and password, 301/302
// re-send Basic credentials to the same host on another port) is a
// failure of its own; the other origin receives nothing.
// proves: idp_error
func TestRedirectFromTokenEndpointNotFollowed(t *testing.T) {
	t.Parallel()
	grants := map[string]string{
		"client_credentials": "",
		"password":           "\n    username: synthetic\n    password: ${env:PASSWORD}",
		"refresh":            "\n    refresh_token: ${env:REFRESH}",
	}
	for grant, extra := range grants {
		for _, auth := range []string{"client_secret_basic", "client_secret_post"} {
			for _, status := range []int{307, 308, 302} {
				name := fmt.Sprintf("%s/%s/%d", grant, auth, status)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					other, otherGot := hrServer(t, nil)
					// Same host, another port: Go would keep Authorization.
					tokenSrv, _ := hrServer(t, hrRedirectTo(other.URL, status))
					res := itRunYAML(t, hrRunner(), `
name: token-redirect
every: 1m
steps:
  - id: token
    kind: `+grant+`
    token_url: "`+tokenSrv.URL+`/token"
    client_id: hr-client
    client_secret: ${env:CLIENT_SECRET}
    client_auth: `+auth+extra+`
`)
					f := itMustFail(t, res, "token", flows.ReasonIdPError)
					itSummaryHas(t, f, fmt.Sprintf("the token endpoint answered %d to %s/token", status, other.URL),
						"never follows a redirect from a token endpoint", "re-send client credentials", "token_url")
					itFactIs(t, f, "status", fmt.Sprint(status))
					hrMustNotReceive(t, "the redirect target", otherGot)
					itAssertNoSecrets(t, []string{hrClientSecret, hrPassword, hrRefresh}, res)
				})
			}
		}
	}
}

// TestRedirectFromDeviceEndpointsNotFollowed: the device authorization
// endpoint (client credentials in the request) does not follow redirects
// either.
func TestRedirectFromDeviceEndpointsNotFollowed(t *testing.T) {
	t.Parallel()
	other, otherGot := hrServer(t, nil)
	deviceSrv, _ := hrServer(t, hrRedirectTo(hrLocalhost(other.URL), http.StatusTemporaryRedirect))
	res := itRunYAML(t, hrRunner(), `
name: device-redirect
every: 1m
steps:
  - id: device
    kind: device_code
    token_url: "`+deviceSrv.URL+`/token"
    device_authorization_url: "`+deviceSrv.URL+`/device"
    client_id: hr-client
    client_secret: ${env:CLIENT_SECRET}
    client_auth: client_secret_post
    username: synthetic
    password: ${env:PASSWORD}
`)
	f := itMustFail(t, res, "device", flows.ReasonIdPError)
	itSummaryHas(t, f, "the device authorization endpoint answered 307 to "+hrLocalhost(other.URL)+"/device",
		"never follows a redirect", "device_authorization_url")
	hrMustNotReceive(t, "the redirect target", otherGot)
}

// TestRedirectDropsCredentialsAcrossOrigins: an http step's Authorization,
// Cookie, and every header expanded from a secret are not sent on when a
// redirect changes the origin: to another host (Go drops only
// Authorization and Cookie) and to another port of the same host (Go
// keeps them all). Headers without secrets go on. The step notes what was
// dropped, and a refusal at the end is redirect_dropped_credentials.
// proves: redirect_dropped_credentials
func TestRedirectDropsCredentialsAcrossOrigins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		target   func(*httptest.Server) string
		crossing string
	}{
		{"another port", func(s *httptest.Server) string { return s.URL }, "to another port"},
		{"another host", func(s *httptest.Server) string { return hrLocalhost(s.URL) }, "to another host"},
	} {
		for _, final := range []int{200, 401} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, final), func(t *testing.T) {
				t.Parallel()
				b, bGot := hrServer(t, func(w http.ResponseWriter, r *http.Request) {
					if final == 401 {
						w.Header().Set("WWW-Authenticate", `Bearer realm="b"`)
						w.WriteHeader(401)
						return
					}
					_, _ = w.Write([]byte(`{"ok":true}`))
				})
				target := tc.target(b)
				a, aGot := hrServer(t, hrRedirectTo(target, http.StatusTemporaryRedirect))
				res := itRunYAML(t, hrRunner(), `
name: cross-origin
every: 1m
steps:
  - id: call
    kind: http
    url: "`+a.URL+`/data"
    auth: {bearer: "${env:BEARER}"}
    headers:
      X-Api-Key: "key=${env:API_KEY}"
      X-Trace: plain-trace-id
      Cookie: "sid=${env:API_KEY}"
`)
				if got := aGot.all(); len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+hrBearer || got[0].Header.Get("X-Api-Key") == "" {
					t.Fatalf("the first server did not get the credentials; the test proves nothing: %+v", got)
				}
				got := bGot.all()
				if len(got) != 1 {
					t.Fatalf("the redirect target got %d requests, want 1:\n%s", len(got), itDescribe(res))
				}
				for _, h := range []string{"Authorization", "X-Api-Key", "Cookie", "Proxy-Authorization"} {
					if v := got[0].Header.Get(h); v != "" {
						t.Errorf("the redirect target received %s (%d bytes)", h, len(v))
					}
				}
				if got[0].Header.Get("X-Trace") != "plain-trace-id" {
					t.Errorf("a header without a secret was dropped too: X-Trace %q", got[0].Header.Get("X-Trace"))
				}
				note := hrNote(res, "call", "not sent on")
				for _, want := range []string{"Authorization", "Cookie", "X-Api-Key", a.URL, strings.TrimSuffix(target, "/")} {
					if !strings.Contains(note, want) {
						t.Errorf("the step's note lacks %q: %q", want, note)
					}
				}
				if strings.Contains(note, "X-Trace") {
					t.Errorf("the note names a header that was kept: %q", note)
				}
				if final == 200 {
					itMustPass(t, res)
				} else {
					f := itMustFail(t, res, "call", flows.ReasonRedirectDroppedCredentials)
					itSummaryHas(t, f, tc.crossing, "Authorization", "X-Api-Key", "got 401")
				}
				itAssertNoSecrets(t, []string{hrBearer, hrAPIKey}, res)
			})
		}
	}
}

// TestRedirectSameOriginKeepsCredentials: a redirect within the origin
// keeps every header (the control of the test above).
func TestRedirectSameOriginKeepsCredentials(t *testing.T) {
	t.Parallel()
	srv, got := hrServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	res := itRunYAML(t, hrRunner(), `
name: same-origin
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/old"
    auth: {bearer: "${env:BEARER}"}
    headers: {X-Api-Key: "${env:API_KEY}"}
`)
	itMustPass(t, res)
	reqs := got.all()
	if len(reqs) != 2 || reqs[1].Header.Get("Authorization") == "" || reqs[1].Header.Get("X-Api-Key") != hrAPIKey {
		t.Errorf("want 2 requests, the second with Authorization and X-Api-Key; got %d: %+v", len(reqs), reqs)
	}
	if n := hrNote(res, "call", "not sent on"); n != "" {
		t.Errorf("a same-origin redirect noted dropped credentials: %q", n)
	}
}

// hrNote returns the step's note that contains part ("" if none).
func hrNote(res *flows.Result, step, part string) string {
	for _, s := range res.Steps {
		if s.ID != step {
			continue
		}
		for _, n := range s.Notes {
			if strings.Contains(n, part) {
				return n
			}
		}
	}
	return ""
}

// TestRedirect307BodyWithSecretNotFollowed: a 307/308 would re-send the
// request body; to another origin it is not followed when the body holds
// a secret. A body without one is followed (the control).
func TestRedirect307BodyWithSecretNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range []int{307, 308} {
		for _, secretBody := range []bool{true, false} {
			t.Run(fmt.Sprintf("%d/secret=%v", status, secretBody), func(t *testing.T) {
				t.Parallel()
				b, bGot := hrServer(t, nil)
				a, _ := hrServer(t, hrRedirectTo(hrLocalhost(b.URL), status))
				body := `{"user":"synthetic","pass":"${env:PASSWORD}"}`
				if !secretBody {
					body = `{"user":"synthetic"}`
				}
				res := itRunYAML(t, hrRunner(), `
name: post-redirect
every: 1m
steps:
  - id: post
    kind: http
    method: POST
    url: "`+a.URL+`/submit"
    headers: {Content-Type: application/json}
    body: '`+body+`'
`)
				if !secretBody {
					itMustPass(t, res)
					if got := bGot.all(); len(got) != 1 || got[0].Body != body {
						t.Errorf("the target got %+v, want the body re-sent once", got)
					}
					return
				}
				f := itMustFail(t, res, "post", flows.ReasonRedirectDroppedCredentials)
				itSummaryHas(t, f, fmt.Sprintf("POST %s/submit answered %d to %s/submit", a.URL, status, hrLocalhost(b.URL)),
					"would re-send the request body, which holds a secret, to another origin")
				hrMustNotReceive(t, "the redirect target", bGot)
				itAssertNoSecrets(t, []string{hrPassword}, res)
			})
		}
	}
}

// TestRedirectLoopRequestCount: a redirect loop stops at the limit, counted
// in requests at the server: 10 by default, redirects.max when given.
func TestRedirectLoopRequestCount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		max  string
		want int
	}{{"", 10}, {"\n    redirects: {max: 3}", 3}} {
		t.Run(fmt.Sprint(tc.want), func(t *testing.T) {
			t.Parallel()
			srv, got := hrServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/loop", http.StatusFound)
			})
			res := itRunYAML(t, hrRunner(), `
name: loop
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/loop"`+tc.max+`
`)
			f := itMustFail(t, res, "call", flows.ReasonUnexpectedStatus)
			itSummaryHas(t, f, fmt.Sprintf("after %d requests", tc.want))
			if n := len(got.all()); n != tc.want {
				t.Errorf("the server got %d requests, want %d", n, tc.want)
			}
		})
	}
}

// TestLoginWalkDoesNotRepostPasswordAcrossOrigins: the login walker
// follows redirects itself, as a browser does; a 307/308 after the
// password was posted would repeat the POST, password included, at
// another origin. It stops instead; the other origin receives nothing.
func TestLoginWalkDoesNotRepostPasswordAcrossOrigins(t *testing.T) {
	t.Parallel()
	for _, status := range []int{307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			b, bGot := hrServer(t, nil)
			a, _ := hrServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					hrRedirectTo(hrLocalhost(b.URL), status)(w, r)
					return
				}
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, `<html><body><form method="post" action="/login">
<input name="username"><input type="password" name="password"><button type="submit">Sign in</button></form></body></html>`)
			})
			res := itRunYAML(t, hrRunner(), `
name: login-repost
every: 1m
steps:
  - id: login
    kind: form_login
    url: "`+a.URL+`/login"
    username: synthetic
    password: ${env:PASSWORD}
`)
			f := itMustFail(t, res, "login", flows.ReasonRedirectDroppedCredentials)
			itSummaryHas(t, f, fmt.Sprintf("POST %s/login answered %d to %s/login", a.URL, status, hrLocalhost(b.URL)),
				"would re-send the request body, which holds a secret, to another origin (another host)")
			hrMustNotReceive(t, "the redirect target", bGot)
			itAssertNoSecrets(t, []string{hrPassword}, res)
		})
	}
}
