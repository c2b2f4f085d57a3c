package flows_test

// form.actions in headless Chromium against an app whose "Grant access"
// step is a script-driven button (no form, no link): the automatic walker
// stops there with nothing to submit; the flow's own actions pass it, and
// say which action missed what when the page changed.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

const (
	laUser     = "synthetic-actions"
	laPassword = "canary-actions-pw-3a9d57"
)

// laApp is the app: a login form, then a grant page whose button is a
// script that POSTs with fetch and then navigates.
type laApp struct {
	URL string

	mu      sync.Mutex
	pending map[string]bool // logged in, access not granted yet
	session map[string]bool
	issued  []string
}

const laLoginPage = `<!doctype html><html><head><title>Sign in · Actions</title></head><body>
%s<form id="login" method="post" action="/login">
  <input id="username" name="username" autocomplete="username">
  <input id="password" name="password" type="password">
  <button type="submit">Sign in</button>
</form></body></html>`

const laGrantPage = `<!doctype html><html><head><title>Grant access · Actions</title></head><body>
<h1>Acme Reports wants to read your orders</h1>
<div class="actions"><button type="button" class="grant">Grant access</button></div>
<script>
document.querySelector('.grant').addEventListener('click', async () => {
  const r = await fetch('/grant', {method: 'POST'});
  if (r.ok) location.href = '/home';
});
</script></body></html>`

func laStartApp(t *testing.T) *laApp {
	t.Helper()
	a := &laApp{pending: map[string]bool{}, session: map[string]bool{}}
	mux := http.NewServeMux()
	loginPage := func(w http.ResponseWriter, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, laLoginPage, msg)
	}
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { loginPage(w, "") })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("username") != laUser || r.PostForm.Get("password") != laPassword {
			// An app that echoes what was typed: the step must redact it.
			loginPage(w, `<p class="login-error">Wrong password for `+html.EscapeString(r.PostForm.Get("username"))+
				` (you typed `+html.EscapeString(r.PostForm.Get("password"))+`)</p>`)
			return
		}
		id := a.random()
		a.mu.Lock()
		a.pending[id] = true
		a.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "la_pending", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/grant", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /grant", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, laGrantPage)
	})
	mux.HandleFunc("POST /grant", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("la_pending")
		a.mu.Lock()
		ok := err == nil && a.pending[c.Value]
		a.mu.Unlock()
		if !ok {
			http.Error(w, "not logged in", http.StatusForbidden)
			return
		}
		id := a.random()
		a.mu.Lock()
		a.session[id] = true
		a.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "la_session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /home", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("la_session")
		a.mu.Lock()
		ok := err == nil && a.session[c.Value]
		a.mu.Unlock()
		if !ok {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Home · Actions</title><p>Welcome, `+laUser+`</p>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *laApp) random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	v := hex.EncodeToString(b)
	a.mu.Lock()
	a.issued = append(a.issued, v)
	a.mu.Unlock()
	return v
}

func (a *laApp) secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string{laPassword}, a.issued...)
}

func laFlow(base, form string) string {
	return fmt.Sprintf(`name: login-actions
every: 1m
timeout: 30s
steps:
  - id: login
    kind: form_login
    url: %s/login
    timeout: 20s
    browser: true
    username: %s
    password: ${env:LA_PASSWORD}
    session_cookie: la_session
%s`, base, laUser, form)
}

// laActions are the actions that pass the app; tail replaces the last ones.
func laActions(tail string) string {
	return `    form:
      error_selector: .login-error
      actions:
        - fill: {selector: "#username", value: ` + laUser + `}
        - fill: {selector: "#password", value: "${env:LA_PASSWORD}"}
        - click: "#login button[type=submit]"
` + tail
}

// TestFormLoginBrowserActions: without actions the walker stops at the
// script-driven "Grant access" button with nothing to submit; with them
// the login passes; a missing selector, a missing text and a shown error
// say which action and what.
//
// proves: login_form_changed, assertion_failed, login_rejected
func TestFormLoginBrowserActions(t *testing.T) {
	t.Parallel()
	pool := flNeedChromium(t)
	app := laStartApp(t)
	for _, c := range []struct {
		name, form, password string
		want                 flows.Reason
		summary              []string
	}{
		// form_login's walker ends at an idle page: the grant page, where
		// no session was made yet.
		{name: "automatic_walker_stops_at_script_button",
			want: flows.ReasonSessionCookieMissing, summary: []string{`"la_session"`, "la_pending"}},
		{name: "actions_pass", form: laActions(`        - click: button.grant
        - wait_for: "p"
        - expect_text: "Welcome, ` + laUser + `"
`)},
		{name: "selector_missing", form: laActions(`        - click: button.approve
`), want: flows.ReasonLoginFormChanged, summary: []string{"form.actions[3]", `"button.approve"`, "/grant"}},
		{name: "text_missing", form: laActions(`        - click: button.grant
        - expect_text: Willkommen
`), want: flows.ReasonAssertionFailed, summary: []string{"form.actions[4]", `"Willkommen"`}},
		{name: "error_selector_shown", form: laActions(`        - click: button.grant
`), password: "canary-wrong-actions-pw-81c2",
			// Every filled value is redacted from the text, the username too.
			want: flows.ReasonLoginRejected, summary: []string{"Wrong password for [redacted] (you typed [redacted])", "form.error_selector"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			password := laPassword
			if c.password != "" {
				password = c.password
			}
			r := itNewRunner(itLookupFrom(map[string]string{"LA_PASSWORD": password}, nil))
			r.Browsers = pool
			res := itRunYAML(t, r, laFlow(app.URL, c.form))
			t.Logf("result:\n%s", itDescribe(res))
			if c.want == "" {
				itMustPass(t, res)
			} else {
				f := itMustFail(t, res, "login", c.want)
				itSummaryHas(t, f, c.summary...)
			}
			itAssertNoSecrets(t, append(app.secrets(), password), res)
		})
	}
}

// TestFormActionsFilledValuesRedacted: values typed by fill actions other
// than the step's username and password, a literal and a reference, are
// redacted from the error the page echoes them in, and the literal one is
// warned about at load like a literal password.
func TestFormActionsFilledValuesRedacted(t *testing.T) {
	t.Parallel()
	pool := flNeedChromium(t)
	app := laStartApp(t)
	const literal, filled = "canary-literal-fill-4c1e9a", "canary-filled-pw-9b27d0"
	// No error_selector: the message is found in the page's HTML, which
	// the browser does not scrub.
	form := `    form:
      actions:
        - fill: {selector: "#username", value: ` + literal + `}
        - fill: {selector: "#password", value: "${env:LA_FILLED}"}
        - click: "#login button[type=submit]"
        - click: button.grant
`
	y := laFlow(app.URL, form)
	set, err := flows.LoadBytes(flows.LoadOptions{}, "la.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if w := set.Warnings.Error(); !strings.Contains(w, "steps[0].form.actions[0].fill.value: a literal secret") || strings.Contains(w, "actions[1].fill.value: a literal") || strings.Contains(w, literal) {
		t.Errorf("warnings %v, want one for the literal fill value, without it", set.Warnings)
	}
	r := itNewRunner(itLookupFrom(map[string]string{"LA_PASSWORD": laPassword, "LA_FILLED": filled}, nil))
	r.Browsers = pool
	res := itRunYAML(t, r, y)
	t.Logf("result:\n%s", itDescribe(res))
	f := itMustFail(t, res, "login", flows.ReasonLoginRejected)
	itSummaryHas(t, f, "Wrong password for [redacted", "(you typed [redacted")
	itAssertNoSecrets(t, append(app.secrets(), literal, filled), res)
}

// TestFormActionsLoadErrors: actions are checked at load, each error at
// its field.
func TestFormActionsLoadErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"without_browser", `    form:
      actions:
        - click: button.go
`, "form.actions: needs browser: true"},
		{"two_in_one", `    browser: true
    form:
      actions:
        - {click: button.go, wait_for: "#x"}
`, "form.actions[0]: give exactly one of"},
		{"bad_selector", `    browser: true
    form:
      actions:
        - click: "button[["
`, "form.actions[0].click: not a CSS selector"},
		{"bad_error_selector", `    browser: true
    form:
      error_selector: "p::"
`, "form.error_selector: not a CSS selector"},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := fmt.Sprintf(`name: bad-actions
every: 1m
steps:
  - id: login
    kind: form_login
    url: http://127.0.0.1:1/login
    username: u
    password: ${env:LA_PASSWORD}
%s`, c.yaml)
			_, err := flows.LoadBytes(flows.LoadOptions{}, "bad.yaml", []byte(y))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.yaml:") {
				t.Errorf("load error %v; want one with bad.yaml:line:col and %q", err, c.want)
			}
		})
	}
}

// TestLoginBrowserActionsScriptConsent: the login step against the npm
// oidc-provider whose consent page has only a script-driven "Grant access"
// button (CONSENT=script). The automatic walker, even told to approve,
// finds nothing to submit there; form.actions pass it and the login
// completes (code exchange and ID token checked).
//
// proves: idp_error
func TestLoginBrowserActionsScriptConsent(t *testing.T) {
	t.Parallel()
	lopNeedChromium(t)
	p := lopProvider(t, map[string]string{"CONSENT": "script"})
	canary := lopNewCanary(t)
	r := lopRunner(t, true)
	t.Run("automatic_walker", func(t *testing.T) {
		res := canary.run(t, r, lopLogin("script-consent-walker", p.Issuer, lopAlice+"    browser: true\n    form: {consent: approve}\n"))
		f := itMustFail(t, res, "login", flows.ReasonIdPError)
		itSummaryHas(t, f, "after submitting the password", "nothing to submit", "Authorize access")
	})
	t.Run("actions", func(t *testing.T) {
		res := canary.run(t, r, lopLogin("script-consent-actions", p.Issuer, lopAlice+`    browser: true
    form:
      error_selector: p.error
      actions:
        - fill: {selector: "#login-form [name=login]", value: alice}
        - fill: {selector: "#login-form [name=password]", value: "${env:ALICE_PASSWORD}"}
        - click: "#login-form button[type=submit]"
        - expect_text: Authorize access
        - click: "#grant"
`))
		itMustPass(t, res)
	})
	t.Run("actions_wrong_password", func(t *testing.T) {
		res := canary.run(t, r, lopLogin("script-consent-wrong", p.Issuer, lopAlice+`    browser: true
    form:
      error_selector: p.error
      actions:
        - fill: {selector: "#login-form [name=login]", value: alice}
        - fill: {selector: "#login-form [name=password]", value: "${env:WRONG_PASSWORD}"}
        - click: "#login-form button[type=submit]"
        - click: "#grant"
`))
		f := itMustFail(t, res, "login", flows.ReasonLoginRejected)
		itSummaryHas(t, f, "form.error_selector")
	})
}
