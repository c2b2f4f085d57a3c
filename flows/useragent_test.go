package flows_test

// User-Agent: every request a flow makes says it is authwatch, unless the
// flow or the step names another agent (some WAFs need one) or an http
// step sets the header itself. A forward proxy on loopback (uaRecorder)
// sees what went on the wire, from every step kind, against the demo IdP
// (zitadel), zitadel's example OP (device grant) and the form-login app.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/version"
)

// uaRequest is one request the recorder saw.
type uaRequest struct {
	Method, URL string
	Agents      []string // the User-Agent lines (none: Go sent none)
	Browser     bool     // sent by Chromium (it adds Sec-Fetch-Mode; Go never does)
}

func (r uaRequest) String() string {
	return fmt.Sprintf("%s %s User-Agent: %q", r.Method, r.URL, r.Agents)
}

// uaRecorder records the User-Agent of every request it carries. Requests
// in absolute form (the Runner's transport uses it as its proxy) are
// forwarded where they were going; others go to target (a reverse proxy,
// for Chromium, which is not told about the proxy), or are answered
// {"ok":true} when there is none.
type uaRecorder struct {
	URL string

	mu   sync.Mutex
	seen []uaRequest
}

func uaStartRecorder(t *testing.T, target string) *uaRecorder {
	t.Helper()
	rec := &uaRecorder{}
	forward := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.Host = pr.In.Host },
		Transport: &http.Transport{}, // no proxy of its own
	}
	var reverse *httputil.ReverseProxy
	if target != "" {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		reverse = httputil.NewSingleHostReverseProxy(u)
		reverse.Transport = &http.Transport{}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(uaRequest{Method: r.Method, URL: r.URL.String(), Agents: r.Header.Values("User-Agent"), Browser: r.Header.Get("Sec-Fetch-Mode") != ""})
		switch {
		case r.URL.IsAbs():
			forward.ServeHTTP(w, r)
		case reverse != nil:
			reverse.ServeHTTP(w, r)
		case r.URL.Path == "/redirect":
			http.Redirect(w, r, "/after-redirect", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

func (r *uaRecorder) add(q uaRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, q)
}

func (r *uaRecorder) requests() []uaRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uaRequest(nil), r.seen...)
}

// uaRunner is a runner whose every request goes through rec as its proxy.
func uaRunner(t *testing.T, rec *uaRecorder) *flows.Runner {
	t.Helper()
	r := itNewRunner(itLookupFrom(map[string]string{
		"ORDERS_SECRET":   idp.OrdersClientSecret,
		"USER_PASSWORD":   idp.UserPassword,
		"WEB_SECRET":      idp.WebClientSecret,
		"DEVICE_SECRET":   lzDeviceClientSecret,
		"FL_APP_PASSWORD": flAppPassword,
	}, nil))
	proxy, err := url.Parse(rec.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := flows.NewTransport()
	tr.Proxy = http.ProxyURL(proxy)
	r.Transport = tr
	return r
}

// uaKindCase is a flow that exercises one step kind (after the steps it
// needs), and what of it must reach the wire.
type uaKindCase struct {
	name  string
	yaml  string
	paths []string // URL substrings the recorder must see
	pass  bool     // the flow passes (else it fails, after sending)
}

// uaKindCases cover every step kind, with the requests each kind makes:
// discovery and JWKS, the token grants (x/oauth2), the login walker and
// userinfo, the device grant, form login, http and preflight.
func uaKindCases(t *testing.T) []uaKindCase {
	t.Helper()
	p := lzStartDemoIdP(t)
	d := lzDiscover(t, p.Issuer())
	op := lzStartExampleOP(t)
	dop := lzDiscover(t, op)
	app := flStartApp(t, flAppOptions{})
	iss := p.Issuer()
	cc := func(id, kind, extra string) string {
		return fmt.Sprintf("  - id: %s\n    kind: %s\n    issuer: %q\n    client_id: %s\n    client_secret: ${env:ORDERS_SECRET}\n    scopes: [orders.read]\n%s",
			id, kind, iss, idp.OrdersClientID, extra)
	}
	login := map[string]string{"userinfo": "true"}
	device := map[string]string{"kind": "device_code", "client_id": lzDeviceClientID,
		"client_secret": "${env:DEVICE_SECRET}", "client_auth": "client_secret_basic", "redirect_uri": "", "scopes": "[profile, email]"}
	cases := []uaKindCase{
		{name: "discovery", yaml: lzFlow("ua-discovery", fmt.Sprintf("  - id: disc\n    kind: discovery\n    issuer: %q\n", iss)),
			paths: []string{"/.well-known/openid-configuration", uaJWKSPath(t, iss)}, pass: true},
		{name: "client_credentials", yaml: lzFlow("ua-cc", cc("cc", "client_credentials", "")),
			paths: []string{d.TokenEndpoint}, pass: true},
		{name: "password", yaml: lzFlow("ua-password", cc("pw", "password", "    username: "+idp.UserName+"\n    password: ${env:USER_PASSWORD}\n")),
			paths: []string{d.TokenEndpoint}},
		{name: "token_check", yaml: lzFlow("ua-token-check", cc("cc", "client_credentials", ""),
			fmt.Sprintf("  - id: check\n    kind: token_check\n    token: ${steps.cc.access_token}\n    jwks_url: %q\n", uaJWKSURL(t, iss)+"?token_check")),
			paths: []string{"?token_check"}, pass: true},
		{name: "login_userinfo_refresh", yaml: lzFlow("ua-login", lzLoginStep("login", iss, login), lzRefreshStep(iss, nil)),
			paths: []string{d.AuthorizationEndpoint, "/login/username", d.TokenEndpoint, d.UserinfoEndpoint}, pass: true},
		{name: "device_code", yaml: lzFlow("ua-device", lzLoginStep("tv", op, device, "timeout: 15s")),
			paths: []string{dop.DeviceAuthorizationEndpoint, dop.TokenEndpoint}, pass: true},
		{name: "form_login_http", yaml: flYAML(flCase{name: "ua", base: app.URL}),
			paths: []string{app.URL + "/login", app.URL + "/dashboard", app.URL + "/api/me"}, pass: true},
		{name: "preflight", yaml: lzFlow("ua-preflight", fmt.Sprintf("  - id: cors\n    kind: preflight\n    url: %q\n    origin: https://app.example.com\n", app.URL+"/api/me")),
			paths: []string{app.URL + "/api/me"}},
	}
	return cases
}

// uaJWKSURL is the issuer's jwks_uri.
func uaJWKSURL(t *testing.T, issuer string) string {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.JWKSURI == "" {
		t.Fatalf("no jwks_uri at %s: %v", issuer, err)
	}
	return doc.JWKSURI
}

func uaJWKSPath(t *testing.T, issuer string) string {
	u, err := url.Parse(uaJWKSURL(t, issuer))
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// uaRun runs a case's flow on a runner of its own (no metadata cached from
// another case) through a recorder of its own, and returns what it saw.
func uaRun(t *testing.T, c uaKindCase, yaml string) []uaRequest {
	t.Helper()
	rec := uaStartRecorder(t, "")
	res := itRunYAML(t, uaRunner(t, rec), yaml)
	switch {
	case c.pass && !res.OK:
		t.Errorf("the flow failed:\n%s", itDescribe(res))
	case !c.pass && res.OK:
		t.Errorf("the flow passed, want a failure after its requests:\n%s", itDescribe(res))
	}
	seen := rec.requests()
	for _, p := range c.paths {
		if !slicesContainsFunc(seen, func(q uaRequest) bool { return strings.Contains(q.URL, p) }) {
			t.Errorf("no request to %s went through the recorder; it saw:\n%s", p, uaList(seen))
		}
	}
	return seen
}

func slicesContainsFunc(qs []uaRequest, f func(uaRequest) bool) bool {
	for _, q := range qs {
		if f(q) {
			return true
		}
	}
	return false
}

func uaList(qs []uaRequest) string {
	var b strings.Builder
	for _, q := range qs {
		b.WriteString("  " + q.String() + "\n")
	}
	return b.String()
}

// TestUserAgentDefaultEveryStepKind: every request of every step kind
// carries exactly "authwatch/<version> (+https://github.com/authwatch/authwatch)".
func TestUserAgentDefaultEveryStepKind(t *testing.T) {
	t.Parallel()
	want := version.UserAgent()
	if !regexp.MustCompile(`^authwatch/\S+ \(\+https://github\.com/authwatch/authwatch\)$`).MatchString(want) {
		t.Fatalf("version.UserAgent() = %q", want)
	}
	for _, c := range uaKindCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, q := range uaRun(t, c, c.yaml) {
				if len(q.Agents) != 1 || q.Agents[0] != want {
					t.Errorf("%s, want User-Agent: %q", q, want)
				}
			}
		})
	}
}

var uaStepLine = regexp.MustCompile(`(?m)^  - id: ([a-z0-9_]+)\n`)

// TestUserAgentStepOverrideEveryStepKind gives every step of the same flows
// a user_agent of its own: each step's requests carry its agent, and no
// request carries authwatch's.
func TestUserAgentStepOverrideEveryStepKind(t *testing.T) {
	t.Parallel()
	for _, c := range uaKindCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			yaml := uaStepLine.ReplaceAllString(c.yaml, "  - id: $1\n    user_agent: \"probe-$1/1.0 (WAF allow-list)\"\n")
			steps := map[string]bool{}
			for _, m := range uaStepLine.FindAllStringSubmatch(c.yaml, -1) {
				steps["probe-"+m[1]+"/1.0 (WAF allow-list)"] = false
			}
			for _, q := range uaRun(t, c, yaml) {
				if len(q.Agents) != 1 {
					t.Errorf("%s, want one step's agent", q)
					continue
				}
				if _, ok := steps[q.Agents[0]]; !ok {
					t.Errorf("%s, want one of the steps' agents", q)
				}
				steps[q.Agents[0]] = true
			}
			for agent, seen := range steps {
				if !seen {
					t.Errorf("no request with User-Agent %q", agent)
				}
			}
		})
	}
}

// TestUserAgentPrecedence: a step's user_agent wins over the flow's, which
// wins over authwatch's own; an http step's User-Agent header wins over
// both (an empty one sends none); every hop of a redirect carries the
// step's agent.
func TestUserAgentPrecedence(t *testing.T) {
	t.Parallel()
	rec := uaStartRecorder(t, "")
	step := func(id, extra string) string {
		return fmt.Sprintf("  - id: %s\n    kind: http\n    url: %q\n%s", id, rec.URL+"/"+id, extra)
	}
	flow := func(name, flowExtra string, steps ...string) string {
		return "name: " + name + "\nevery: 1m\n" + flowExtra + "steps:\n" + strings.Join(steps, "")
	}
	r := itNewRunner(itLookupFrom(nil, nil))
	for _, yaml := range []string{
		flow("flow-agent", "user_agent: flow-agent/2\n",
			step("flow_level", ""),
			step("step_level", "    user_agent: step-agent/3\n"),
			step("header", "    user_agent: step-agent/3\n    headers: {User-Agent: header-agent/4}\n"),
			step("header_lower_case", "    headers: {user-agent: header-agent/5}\n"),
			step("header_empty", "    headers: {User-Agent: \"\"}\n"),
			step("redirect", "    user_agent: step-agent/6\n")),
		flow("no-flow-agent", "",
			step("default", ""),
			step("step_only", "    user_agent: step-agent/7\n")),
	} {
		if res := itRunYAML(t, r, yaml); !res.OK {
			t.Fatalf("flow failed:\n%s", itDescribe(res))
		}
	}
	want := map[string]string{
		"/flow_level":        "flow-agent/2",
		"/step_level":        "step-agent/3",
		"/header":            "header-agent/4",
		"/header_lower_case": "header-agent/5",
		"/header_empty":      "",
		"/redirect":          "step-agent/6",
		"/after-redirect":    "step-agent/6",
		"/default":           version.UserAgent(),
		"/step_only":         "step-agent/7",
	}
	seen := rec.requests()
	if len(seen) != len(want) {
		t.Errorf("recorder saw %d requests, want %d:\n%s", len(seen), len(want), uaList(seen))
	}
	for _, q := range seen {
		w, ok := want[q.URL]
		switch {
		case !ok:
			t.Errorf("unexpected %s", q)
		case w == "" && len(q.Agents) != 0:
			t.Errorf("%s, want no User-Agent", q)
		case w != "" && (len(q.Agents) != 1 || q.Agents[0] != w):
			t.Errorf("%s, want User-Agent: %q", q, w)
		}
	}
}

// TestUserAgentLoadErrors: an agent HTTP cannot carry, or an absurdly long
// one, is a positioned error at load.
func TestUserAgentLoadErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", flows.MaxUserAgentLength+1)
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"flow control character", "name: t\nevery: 1m\nuser_agent: \"x\\r\\nX-Injected: 1\"\nsteps:\n  - id: a\n    kind: http\n    url: https://x.example/\n",
			"t.yaml:3:13: user_agent: holds a control character (U+000D at byte 1)"},
		{"step control character", "name: t\nevery: 1m\nsteps:\n  - id: a\n    kind: http\n    url: https://x.example/\n    user_agent: \"x\\ty\\u0000\"\n",
			"t.yaml:7:17: steps[0].user_agent: holds a control character (U+0000 at byte 3)"},
		{"step too long", "name: t\nevery: 1m\nsteps:\n  - id: a\n    kind: http\n    url: https://x.example/\n    user_agent: " + long + "\n",
			fmt.Sprintf("t.yaml:7:17: steps[0].user_agent: at most %d bytes, got %d", flows.MaxUserAgentLength, len(long))},
		{"misspelled", "name: t\nevery: 1m\nsteps:\n  - id: a\n    kind: http\n    url: https://x.example/\n    useragent: x\n",
			`did you mean "user_agent"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flows.LoadBytes(flows.LoadOptions{}, "t.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestUserAgentBrowserKeepsChromiumAgent: a browser step sends Chromium's
// own User-Agent unless the flow or the step names one; the step's Go
// requests and the http step after it still say authwatch.
func TestUserAgentBrowserKeepsChromiumAgent(t *testing.T) {
	t.Parallel()
	pool := flNeedChromium(t)
	app := flStartApp(t, flAppOptions{})
	def := version.UserAgent()
	for _, c := range []struct {
		name, flowAgent, stepAgent string
		browser, goLogin, goMe     string // want: "" for Chromium's own
	}{
		{name: "unset", browser: "", goLogin: def, goMe: def},
		{name: "flow", flowAgent: "waf-friendly/1.0", browser: "waf-friendly/1.0", goLogin: "waf-friendly/1.0", goMe: "waf-friendly/1.0"},
		{name: "step", stepAgent: "Mozilla/5.0 (X11; Linux x86_64) waf-friendly/2.0", browser: "Mozilla/5.0 (X11; Linux x86_64) waf-friendly/2.0",
			goLogin: "Mozilla/5.0 (X11; Linux x86_64) waf-friendly/2.0", goMe: def},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec := uaStartRecorder(t, app.URL)
			extra := "    browser: true\n"
			if c.stepAgent != "" {
				extra += fmt.Sprintf("    user_agent: %q\n", c.stepAgent)
			}
			yaml := flYAML(flCase{name: "ua-browser-" + c.name, base: rec.URL, extra: extra})
			if c.flowAgent != "" {
				yaml = strings.Replace(yaml, "every: 1m\n", fmt.Sprintf("every: 1m\nuser_agent: %q\n", c.flowAgent), 1)
			}
			r := flRunner("")
			r.Browsers = pool
			if res := itRunYAML(t, r, yaml); !res.OK {
				t.Fatalf("flow failed:\n%s", itDescribe(res))
			}
			var fromBrowser int
			for _, q := range rec.requests() {
				want := c.goLogin
				switch {
				case q.Browser:
					fromBrowser++
					want = c.browser
				case strings.HasPrefix(q.URL, "/api/me"):
					want = c.goMe
				}
				if want == "" {
					if len(q.Agents) != 1 || !strings.Contains(q.Agents[0], "Chrome/") || strings.Contains(q.Agents[0], "authwatch") {
						t.Errorf("%s, want Chromium's own agent", q)
					}
				} else if len(q.Agents) != 1 || q.Agents[0] != want {
					t.Errorf("%s, want User-Agent: %q", q, want)
				}
			}
			if fromBrowser == 0 {
				t.Errorf("no request came from Chromium:\n%s", uaList(rec.requests()))
			}
		})
	}
}
