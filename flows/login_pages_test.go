package flows_test

// Login pages that changed under a flow, served by httptest and walked by
// the login and form_login steps, with and without headless Chromium: an
// identifier-first page where the flow names other fields, and a page that
// JavaScript builds.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

const lpPassword = "canary-lp-password-6c1e"

// lpIdentifierFirst is a redesigned identifier-first page: one identifier
// field and a Continue button, no username or password field.
const lpIdentifierFirst = `<!doctype html><html><head><title>Sign in</title></head><body>
<h1>Sign in</h1>
<form method="post" action="/identify">
  <label for="identifier">Email or phone</label>
  <input id="identifier" name="identifier" type="text" autocomplete="off">
  <input type="hidden" name="csrf" value="c5f1">
  <button type="submit">Continue</button>
</form></body></html>`

// lpScriptBuilt is a single-page app's login page: the form exists only
// once its script ran.
const lpScriptBuilt = `<!doctype html><html><head><title>Sign in</title>
<script src="/app.js" defer></script></head>
<body><div id="root">Loading...</div>
<noscript>You need to enable JavaScript to run this app.</noscript></body></html>`

const lpAppJS = `document.getElementById('root').innerHTML =
  '<form method="post" action="/session"><input name="username" autocomplete="username">' +
  '<input type="password" name="password"><button type="submit">Sign in</button></form>';`

// lpStartPages serves page at every path but /app.js, and counts POSTs.
func lpStartPages(t *testing.T, page string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/app.js" {
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, lpAppJS)
			return
		}
		if r.Method == http.MethodPost {
			// A login that worked: the page the app shows then.
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<!doctype html><title>Home</title><p>Welcome</p>`)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func lpRunner(t *testing.T, withBrowser bool) *flows.Runner {
	r := itNewRunner(itLookupFrom(map[string]string{"LP_PASSWORD": lpPassword}, nil))
	if withBrowser {
		r.Browsers = flNeedChromium(t)
	}
	return r
}

// lpLoginFlow is a login step whose authorization endpoint is url, and a
// form_login step at url, each with extra YAML (indented by 4).
func lpLoginFlow(kind, url, extra string) string {
	step := fmt.Sprintf(`  - id: login
    kind: form_login
    url: %s/login
`, url)
	if kind == "login" {
		step = fmt.Sprintf(`  - id: login
    kind: login
    authorization_url: %s/authorize
    token_url: %s/token
    client_id: lp-client
    client_auth: none
    redirect_uri: http://127.0.0.1/callback
`, url, url)
	}
	return fmt.Sprintf(`name: lp-%s
every: 1m
timeout: 20s
steps:
%s    username: synthetic
    password: ${env:LP_PASSWORD}
%s`, kind, step, extra)
}

// TestLoginPageFieldsMissingIsNotConsent: a first page without the fields
// the flow names is a login page that changed, with the fields found
// listed, in both walkers and both step kinds; never a consent page, and
// never the advice to approve consent.
//
// proves: login_form_changed
func TestLoginPageFieldsMissingIsNotConsent(t *testing.T) {
	t.Parallel()
	srv := lpStartPages(t, lpIdentifierFirst)
	named := "    form: {username_field: username, password_field: password}\n"
	for _, c := range []struct {
		name, kind, extra string
		browser           bool
		summary           []string
	}{
		{name: "login_http", kind: "login", extra: named,
			summary: []string{`username_field "username"`, `password_field "password"`, "fields identifier"}},
		{name: "form_login_http", kind: "form_login", extra: named,
			summary: []string{`username_field "username"`, "fields identifier"}},
		{name: "login_browser", kind: "login", extra: named + "    browser: true\n", browser: true,
			summary: []string{`username_field "username"`, "fields identifier"}},
		{name: "form_login_browser", kind: "form_login", extra: named + "    browser: true\n", browser: true,
			summary: []string{`username_field "username"`, "fields identifier"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !c.browser { // one browser at a time
				t.Parallel()
			}
			res := itRunYAML(t, lpRunner(t, c.browser), lpLoginFlow(c.kind, srv.URL, c.extra))
			f := itMustFail(t, res, "login", flows.ReasonLoginFormChanged)
			itSummaryHas(t, f, c.summary...)
			for _, bad := range []string{"consent", "approve"} {
				if strings.Contains(f.Summary, bad) || strings.Contains(f.NextStep(), bad) {
					t.Errorf("a login page without the named fields is explained as a consent page (%q):\n%s\nnext: %s", bad, f.Summary, f.NextStep())
				}
			}
			itAssertNoSecrets(t, []string{lpPassword}, res)
		})
	}
}

// TestLoginPageBuiltByScriptNeedsBrowser: without a browser, a page that
// JavaScript builds says so and suggests browser: true; in Chromium the
// same page's form is found, filled and submitted.
//
// proves: login_form_changed
func TestLoginPageBuiltByScriptNeedsBrowser(t *testing.T) {
	t.Parallel()
	srv := lpStartPages(t, lpScriptBuilt)
	for _, kind := range []string{"login", "form_login"} {
		t.Run(kind+"_http", func(t *testing.T) {
			t.Parallel()
			res := itRunYAML(t, lpRunner(t, false), lpLoginFlow(kind, srv.URL, ""))
			f := itMustFail(t, res, "login", flows.ReasonLoginFormChanged)
			itSummaryHas(t, f, "needs JavaScript", "no forms", "set browser: true", `"Loading..."`)
			if !strings.Contains(f.NextStep(), "browser: true") {
				t.Errorf("next step does not suggest browser: true: %s", f.NextStep())
			}
		})
	}
	t.Run("form_login_browser", func(t *testing.T) {
		res := itRunYAML(t, lpRunner(t, true), lpLoginFlow("form_login", srv.URL, "    browser: true\n"))
		// The script's form was filled and posted; the app sets no
		// cookie, which is the next thing the step checks.
		f := itMustFail(t, res, "login", flows.ReasonSessionCookieMissing)
		if strings.Contains(f.Summary, "JavaScript") {
			t.Errorf("in Chromium the page still reads as script-built: %s", f.Summary)
		}
		itAssertNoSecrets(t, []string{lpPassword}, res)
	})
}
