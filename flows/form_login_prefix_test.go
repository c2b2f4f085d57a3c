package flows_test

// form_login against an app mounted under a path prefix (/app), as behind
// a reverse proxy: its session cookie is scoped to the prefix (Path=/app),
// its login form asks for a tenant and a "remember me" checkbox besides the
// credentials, and it answers the login POST with 303.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

const (
	fpUser     = "synthetic-prefix"
	fpPassword = "canary-prefix-pw-0b7d31"
	fpTenant   = "acme-tenant-4f2e" // given as a secret reference
)

// fpApp is the app under /app.
type fpApp struct {
	URL string

	mu       sync.Mutex
	sessions map[string]bool
	remember []string // the remember values of accepted logins
}

const fpLoginPage = `<!doctype html><html><head><title>Sign in · Prefixed</title></head><body>
%s<form method="post" action="/app/login">
  <input name="username" autocomplete="username">
  <input name="password" type="password">
  <select name="tenant"><option value="">Choose your organisation</option><option value="%s">Acme</option><option value="other">Other</option></select>
  <label><input type="checkbox" name="remember"> Keep me signed in</label>
  <button type="submit">Sign in</button>
</form></body></html>`

func fpStartApp(t *testing.T) *fpApp {
	t.Helper()
	a := &fpApp{sessions: map[string]bool{}}
	mux := http.NewServeMux()
	login := func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		if msg != "" {
			msg = `<div class="alert" role="alert">` + msg + `</div>`
		}
		fmt.Fprintf(w, fpLoginPage, msg, fpTenant)
	}
	mux.HandleFunc("GET /app/login", func(w http.ResponseWriter, r *http.Request) { login(w, http.StatusOK, "") })
	mux.HandleFunc("POST /app/login", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if r.PostForm.Get("tenant") != fpTenant {
			login(w, http.StatusOK, "Choose your organisation.")
			return
		}
		if r.PostForm.Get("username") != fpUser || r.PostForm.Get("password") != fpPassword {
			login(w, http.StatusOK, "Invalid username or password.")
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		a.mu.Lock()
		a.sessions[id] = true
		a.remember = append(a.remember, r.PostForm.Get("remember"))
		a.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "prefixed_session", Value: id, Path: "/app", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/app/home", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /app/home", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("prefixed_session")
		a.mu.Lock()
		ok := err == nil && a.sessions[c.Value]
		a.mu.Unlock()
		if !ok {
			http.Redirect(w, r, "/app/login", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Home · Prefixed</title><p>Welcome</p>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *fpApp) remembered() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.remember...)
}

func fpFlow(name, base, extra string) string {
	return fmt.Sprintf(`name: %s
every: 1m
timeout: 20s
steps:
  - id: login
    kind: form_login
    url: %s/app/login
    username: %s
    password: ${env:FP_PASSWORD}
    session_cookie: prefixed_session
%s`, name, base, fpUser, extra)
}

// TestFormLoginAppUnderPrefix: the session cookie of an app under /app is
// judged against the page the login landed on (/app/home), not the
// origin's root; expect.login_status checks the POST's answer; form.fields
// sets the tenant (a secret reference) and checks "remember me", in both
// walkers.
//
// proves: unexpected_status, cookie_attributes_invalid
func TestFormLoginAppUnderPrefix(t *testing.T) {
	t.Parallel()
	app := fpStartApp(t)
	fields := "    form:\n      fields: {tenant: \"${env:FP_TENANT}\", remember: \"on\"}\n"
	for _, c := range []struct {
		name, extra string
		browser     bool
		want        flows.Reason
		summary     []string
	}{
		{name: "http", extra: fields + "    expect: {login_status: 303}\n"},
		{name: "browser", extra: fields + "    expect: {login_status: 303}\n    browser: true\n", browser: true},
		{name: "http_other_login_status", extra: fields + "    expect: {login_status: 302}\n",
			want: flows.ReasonUnexpectedStatus, summary: []string{"login POST with 303, want 302"}},
		{name: "browser_other_login_status", extra: fields + "    expect: {login_status: 200}\n    browser: true\n", browser: true,
			want: flows.ReasonUnexpectedStatus, summary: []string{"login POST with 303, want 200"}},
		{name: "http_without_tenant", extra: "    form: {errors: {rejected: [Choose your organisation]}}\n",
			want: flows.ReasonLoginRejected, summary: []string{"Choose your organisation."}},
		// A check_url outside the cookie's path is still judged as given.
		{name: "http_check_url_outside_prefix", extra: fields + "    check_url: " + app.URL + "/\n",
			want: flows.ReasonCookieAttributesInvalid, summary: []string{`"prefixed_session"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := itNewRunner(itLookupFrom(map[string]string{"FP_PASSWORD": fpPassword, "FP_TENANT": fpTenant}, nil))
			if c.browser {
				// One browser at a time: a loaded machine starts them slowly.
				r.Browsers = flNeedChromium(t)
			} else {
				t.Parallel()
			}
			res := itRunYAML(t, r, fpFlow("fp-"+strings.ReplaceAll(c.name, "_", "-"), app.URL, c.extra))
			t.Logf("result:\n%s", itDescribe(res))
			if c.want == "" {
				itMustPass(t, res)
			} else {
				f := itMustFail(t, res, "login", c.want)
				itSummaryHas(t, f, c.summary...)
			}
			secrets := []string{fpPassword}
			if strings.Contains(c.extra, "FP_TENANT") {
				// A secret of the flow only where it is referenced (the
				// login page itself lists it as an option).
				secrets = append(secrets, fpTenant)
			}
			itAssertNoSecrets(t, secrets, res)
		})
	}
	t.Run("remember_checked", func(t *testing.T) {
		// After the parallel rows: every accepted login checked the box.
		for _, v := range app.remembered() {
			if v != "on" {
				t.Errorf("a login sent remember=%q, want on", v)
			}
		}
	})
}
