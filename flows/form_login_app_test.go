package flows_test

// A small session-cookie web app for the form_login tests
// (form_login_test.go), as a classic server-rendered app is built:
//
//   - GET /login renders the sign-in form with a hidden CSRF token tied to
//     a pre-session cookie (fl_csrf, set without Path or Domain, so it
//     defaults to the login page's directory and host);
//   - POST /login checks the CSRF token and the credentials; on success it
//     sets app_session=<random>; Path=/; HttpOnly; SameSite=Lax and
//     answers 303 to /dashboard (or to a local ?next= target); a wrong
//     password re-renders the form with "Invalid username or password";
//     a missing or wrong CSRF token re-renders it (403) with "Your sign-in
//     form expired, please try again";
//   - GET /dashboard and GET /api/me need a valid session, else 302 to
//     /login?next=<path>; /api/me answers JSON;
//   - POST /logout ends the session.
//
// It listens on 127.0.0.1 only and remembers every secret it issued (the
// session and CSRF cookie values), for the secret checks.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	flAppUser       = "synthetic-monitor"
	flAppPassword   = "canary-form-login-pw-7c1e94"
	flSessionCookie = "app_session"
	flCSRFCookie    = "fl_csrf"
)

// flAppOptions vary the app the way a deployment's settings do.
type flAppOptions struct {
	// CookieDomain, when set, is the session cookie's Domain attribute
	// (SESSION_COOKIE_DOMAIN in many frameworks).
	CookieDomain string
}

// flApp is the running app.
type flApp struct {
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	opts flAppOptions
	key  []byte // CSRF HMAC key

	mu       sync.Mutex
	sessions map[string]string // session id → user
	issued   []string          // every cookie value the app set
	logins   int               // successful logins
	rejected int               // wrong credentials
	csrfBad  int               // POSTs with a missing or wrong CSRF token
}

func flStartApp(t *testing.T, opts flAppOptions) *flApp {
	t.Helper()
	a := &flApp{opts: opts, key: []byte(flRandom(t)), sessions: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /dashboard", a.needSession(a.dashboard))
	mux.HandleFunc("GET /api/me", a.needSession(a.me))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard", http.StatusFound)
	})
	srv := httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	a.Addr = strings.TrimPrefix(srv.URL, "http://")
	return a
}

// Secrets returns every value the app put in a cookie, and the password.
func (a *flApp) Secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append(slices.Clone(a.issued), flAppPassword)
}

// SessionValues returns the session ids issued so far.
func (a *flApp) SessionValues() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for id := range a.sessions {
		out = append(out, id)
	}
	return out
}

func (a *flApp) counts() (logins, rejected, csrfBad int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logins, a.rejected, a.csrfBad
}

func flRandom(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (a *flApp) random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	v := hex.EncodeToString(b)
	a.mu.Lock()
	a.issued = append(a.issued, v)
	a.mu.Unlock()
	return v
}

func (a *flApp) csrfFor(presession string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(presession))
	return hex.EncodeToString(m.Sum(nil))
}

var flLoginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in · Acme Admin</title></head>
<body>
  <header><a href="/">Acme Admin</a></header>
  <main>
    <h1>Sign in</h1>
    {{if .Error}}<div class="alert alert-danger" role="alert">{{.Error}}</div>{{end}}
    <form id="login-form" method="post" action="/login{{if .Next}}?next={{.Next}}{{end}}">
      <input type="hidden" name="csrf_token" value="{{.CSRF}}">
      <label for="username">Username</label>
      <input id="username" name="username" type="text" autocomplete="username" value="{{.Username}}" required>
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required>
      <label><input type="checkbox" name="remember" value="1"> Keep me signed in</label>
      <button type="submit">Sign in</button>
    </form>
    <p><a href="/forgot">Forgot your password?</a></p>
  </main>
</body>
</html>
`))

type flLoginView struct {
	Error, CSRF, Username, Next string
}

// presession returns the visitor's pre-session id, setting a new one when
// there is none.
func (a *flApp) presession(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(flCSRFCookie); err == nil && c.Value != "" {
		return c.Value
	}
	v := a.random()
	// No Path and no Domain: a host-only cookie for the login page's
	// directory ("/").
	http.SetCookie(w, &http.Cookie{Name: flCSRFCookie, Value: v, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return v
}

func (a *flApp) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg, username string) {
	pre := a.presession(w, r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = flLoginTmpl.Execute(w, flLoginView{Error: msg, CSRF: a.csrfFor(pre), Username: username, Next: localNext(r.URL.Query().Get("next"))})
}

func (a *flApp) loginPage(w http.ResponseWriter, r *http.Request) {
	a.renderLogin(w, r, http.StatusOK, "", "")
}

func (a *flApp) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(flCSRFCookie)
	if err != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf_token")), []byte(a.csrfFor(c.Value))) {
		a.mu.Lock()
		a.csrfBad++
		a.mu.Unlock()
		a.renderLogin(w, r, http.StatusForbidden, "Your sign-in form expired, please try again.", "")
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	if user != flAppUser || !hmac.Equal([]byte(pass), []byte(flAppPassword)) {
		a.mu.Lock()
		a.rejected++
		a.mu.Unlock()
		a.renderLogin(w, r, http.StatusOK, "Invalid username or password.", user)
		return
	}
	id := a.random()
	a.mu.Lock()
	a.sessions[id] = user
	a.logins++
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: flSessionCookie, Value: id, Path: "/", Domain: a.opts.CookieDomain,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	// The pre-session is spent.
	http.SetCookie(w, &http.Cookie{Name: flCSRFCookie, Value: "", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	next := localNext(r.URL.Query().Get("next"))
	if next == "" {
		next = "/dashboard"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *flApp) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(flSessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: flSessionCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// needSession sends visitors without a valid session to the login page,
// with where they wanted to go.
func (a *flApp) needSession(h func(w http.ResponseWriter, r *http.Request, user string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(flSessionCookie); err == nil {
			a.mu.Lock()
			user, ok := a.sessions[c.Value]
			a.mu.Unlock()
			if ok {
				h(w, r, user)
				return
			}
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
	}
}

func (a *flApp) dashboard(w http.ResponseWriter, _ *http.Request, user string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><title>Dashboard · Acme Admin</title></head>
<body>
  <header>Signed in as %s
    <form method="post" action="/logout"><button type="submit">Sign out</button></form>
  </header>
  <main><h1>Dashboard</h1><p>3 open orders.</p></main>
</body></html>
`, template.HTMLEscapeString(user))
}

func (a *flApp) me(w http.ResponseWriter, _ *http.Request, user string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"user": user, "roles": []string{"viewer"}, "authenticated": true})
}

// localNext keeps a ?next= target only when it is a path on this app.
func localNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	return next
}
