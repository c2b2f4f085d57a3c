package flows_test

// form_login against a real session-cookie app (form_login_app_test.go),
// directly, through a correct nginx, and through nginx misconfigured one
// way per server block; and in headless Chromium. Every row runs a YAML
// flow through the real runner: a form_login step, then an http step that
// calls the app's JSON API with the run's cookie jar.

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/testenv"
)

// flCase is one row: where to log in, what the step adds, and the outcome.
type flCase struct {
	name string
	// base is the origin the flow talks to (the app or an nginx in front).
	base string
	// loginPath is the login page's path (default /login).
	loginPath string
	// check is check_url's path ("" for none); default /dashboard.
	check string
	// noCheck leaves check_url out.
	noCheck bool
	// extra is more YAML for the form_login step, indented by 4.
	extra string
	// password is the secret the flow sends (default the right one).
	password string
	// want is the form_login step's reason ("" means the flow passes).
	want flows.Reason
	// summary are substrings the failure's summary must contain.
	summary []string
	// facts are evidence facts the failure must carry.
	facts map[string]string
}

func flYAML(c flCase) string {
	login := c.loginPath
	if login == "" {
		login = "/login"
	}
	check := ""
	if !c.noCheck {
		p := c.check
		if p == "" {
			p = "/dashboard"
		}
		check = "    check_url: " + c.base + p + "\n"
	}
	return fmt.Sprintf(`name: fl-%s
every: 1m
timeout: 20s
steps:
  - id: login
    kind: form_login
    url: %s%s
    username: %s
    password: ${env:FL_APP_PASSWORD}
    session_cookie: %s
%s%s  - id: me
    kind: http
    url: %s/api/me
    redirects: {follow: false}
    expect:
      status: 200
      headers:
        Content-Type: {matches: '^application/json'}
      json:
        - {path: .user, equals: %s}
        - {path: .authenticated, equals: true}
`, strings.ReplaceAll(c.name, "_", "-"), c.base, login, flAppUser, flSessionCookie, check, c.extra, c.base, flAppUser)
}

func flRunner(password string) *flows.Runner {
	if password == "" {
		password = flAppPassword
	}
	return itNewRunner(itLookupFrom(map[string]string{"FL_APP_PASSWORD": password}, nil))
}

// flRunCase runs one row and asserts it; it returns the result.
func flRunCase(t *testing.T, r *flows.Runner, c flCase) *flows.Result {
	t.Helper()
	if r == nil {
		r = flRunner(c.password)
	}
	res := itRunYAML(t, r, flYAML(c))
	flAssert(t, res, c)
	return res
}

// flAssert asserts a row's outcome.
func flAssert(t *testing.T, res *flows.Result, c flCase) {
	t.Helper()
	t.Logf("result:\n%s", itDescribe(res))
	if c.want == "" {
		itMustPass(t, res)
		return
	}
	f := itMustFail(t, res, "login", c.want)
	itSummaryHas(t, f, c.summary...)
	for k, v := range c.facts {
		itFactIs(t, f, k, v)
	}
	if strings.Contains(f.Summary, "refused the login") && c.want != flows.ReasonLoginRejected {
		t.Errorf("summary blames the credentials: %s", f.Summary)
	}
}

// TestFormLoginDirect logs in to the app with nothing in between.
//
// proves: login_rejected, login_form_changed
func TestFormLoginDirect(t *testing.T) {
	t.Parallel()
	app := flStartApp(t, flAppOptions{})
	var results []*flows.Result
	for _, c := range []flCase{
		{name: "pass", base: app.URL},
		{name: "pass_without_check_url", base: app.URL, noCheck: true},
		{name: "pass_after_next_redirect", base: app.URL, loginPath: "/login?next=%2Fapi%2Fme", check: "/api/me"},
		{name: "wrong_password", base: app.URL, password: "not-the-password-3f9a",
			want:    flows.ReasonLoginRejected,
			summary: []string{"refused the login", `"Invalid username or password."`, app.URL + "/login"}},
		{name: "username_field_gone", base: app.URL, extra: "    form: {username_field: login_name}\n",
			want:    flows.ReasonLoginFormChanged,
			summary: []string{`"login_name"`, "form.username_field", "form#login-form", "username", "password"}},
		{name: "password_field_gone", base: app.URL, extra: "    form: {password_field: passwd}\n",
			want:    flows.ReasonLoginFormChanged,
			summary: []string{`"passwd"`, "form.password_field"}},
		// docs/flows.md: login_form_changed when "none matches form.selector".
		{name: "selector_matches_nothing", base: app.URL, extra: "    form: {selector: 'form#signin-form'}\n",
			want:    flows.ReasonLoginFormChanged,
			summary: []string{"form#signin-form", app.URL + "/login "},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			results = append(results, flRunCase(t, nil, c))
		})
	}
	logins, rejected, csrfBad := app.counts()
	// Only wrong_password may post wrong credentials: a form that
	// changed must be found out before anything is posted.
	if logins != 3 || rejected != 1 || csrfBad != 0 {
		t.Errorf("app saw %d logins, %d rejected, %d bad CSRF; want 3, 1, 0 (the walker must keep the hidden CSRF input and the pre-session cookie)", logins, rejected, csrfBad)
	}
	t.Run("canary", func(t *testing.T) {
		if len(app.SessionValues()) == 0 {
			t.Fatal("the app issued no session")
		}
		itAssertNoSecrets(t, app.Secrets(), results...)
	})
}

// TestFormLoginThroughNginx puts a real nginx in front of the app and
// misconfigures it one way per server block; control rows run the same
// flow through a correct proxy.
//
// proves: session_cookie_missing, cookie_attributes_invalid, redirected_to_login
func TestFormLoginThroughNginx(t *testing.T) {
	t.Parallel()
	app := flStartApp(t, flAppOptions{})
	// Sets Domain=127.0.0.1 on its session cookie (SESSION_COOKIE_DOMAIN).
	appD := flStartApp(t, flAppOptions{CookieDomain: "127.0.0.1"})

	ngx := testenv.Nginx(t, fmt.Sprintf(`
    # 0: a correct reverse proxy (the control).
    server {
        listen 127.0.0.1:{{port0}};
        location / { proxy_pass http://%[1]s; }
    }
    # 1: strips Set-Cookie from the login page's answers.
    server {
        listen 127.0.0.1:{{port1}};
        location /login {
            proxy_hide_header Set-Cookie;
            proxy_pass http://%[1]s;
        }
        location / { proxy_pass http://%[1]s; }
    }
    # 2: marks the session cookie SameSite=None, without Secure.
    server {
        listen 127.0.0.1:{{port2}};
        location / {
            proxy_cookie_flags app_session samesite=none nosecure;
            proxy_pass http://%[1]s;
        }
    }
    # 3: rewrites the cookie Domain to a domain the host is not in.
    server {
        listen 127.0.0.1:{{port3}};
        location / {
            proxy_cookie_domain 127.0.0.1 app.example.com;
            proxy_pass http://%[2]s;
        }
    }
    # 4: the control for 3: Domain=127.0.0.1 passed through as is.
    server {
        listen 127.0.0.1:{{port4}};
        location / { proxy_pass http://%[2]s; }
    }
    # 5: rewrites the cookie Path (as if the app were mounted at /other/).
    server {
        listen 127.0.0.1:{{port5}};
        location / {
            proxy_cookie_path / /other/;
            proxy_pass http://%[1]s;
        }
    }
    # 6: drops the Cookie header towards the app on /dashboard.
    server {
        listen 127.0.0.1:{{port6}};
        location /dashboard {
            proxy_set_header Cookie "";
            proxy_pass http://%[1]s;
        }
        location / { proxy_pass http://%[1]s; }
    }
`, app.Addr, appD.Addr))

	var results []*flows.Result
	for _, c := range []flCase{
		{name: "control_proxy", base: ngx.URL(0)},
		{name: "control_proxy_domain_cookie", base: ngx.URL(4)},
		{name: "proxy_hides_set_cookie", base: ngx.URL(1),
			want:    flows.ReasonSessionCookieMissing,
			summary: []string{"set no cookie", "strips Set-Cookie"}},
		{name: "proxy_samesite_none_without_secure", base: ngx.URL(2),
			want:    flows.ReasonCookieAttributesInvalid,
			summary: []string{`"app_session"`, "SameSite=None without Secure", ngx.Addr(2)},
			facts:   map[string]string{"cookie": "app_session", "attribute": "SameSite"}},
		{name: "proxy_cookie_domain_elsewhere", base: ngx.URL(3),
			want:    flows.ReasonCookieAttributesInvalid,
			summary: []string{`"app_session"`, "Domain=app.example.com", "127.0.0.1"},
			facts:   map[string]string{"cookie": "app_session", "attribute": "Domain"}},
		{name: "proxy_cookie_path_elsewhere", base: ngx.URL(5),
			want:    flows.ReasonCookieAttributesInvalid,
			summary: []string{`"app_session"`, "Path=/other/", "/dashboard"},
			facts:   map[string]string{"cookie": "app_session", "attribute": "Path"}},
		{name: "proxy_drops_cookie_on_dashboard", base: ngx.URL(6),
			want:    flows.ReasonRedirectedToLogin,
			summary: []string{ngx.Addr(6) + "/dashboard", "login page"}},
		// The same misconfiguration, with check_url on a page the app does
		// not land on after the login: the walk ends on /api/me's JSON
		// (next=), check_url /dashboard then bounces.
		{name: "proxy_drops_cookie_on_dashboard_after_next", base: ngx.URL(6), loginPath: "/login?next=%2Fapi%2Fme",
			want:    flows.ReasonRedirectedToLogin,
			summary: []string{ngx.Addr(6), "/login"}},
	} {
		t.Run(c.name, func(t *testing.T) { results = append(results, flRunCase(t, nil, c)) })
	}
	t.Run("canary", func(t *testing.T) {
		itAssertNoSecrets(t, append(app.Secrets(), appD.Secrets()...), results...)
	})
}

// flNeedChromium returns a browser pool on Debian's Chromium, or skips the
// test without it (fails under CI=true, as internal/statuspage's browser
// test does).
func flNeedChromium(t *testing.T) *browser.Pool {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("no Chromium at %s: %v", chromium, err)
	}
	return browser.NewPool(browser.PoolOptions{ExecPath: chromium, Max: 2})
}

// TestFormLoginBrowser logs in through headless Chromium: the session the
// browser got is copied into the run's jar, so the http step after it is
// the logged-in user too.
func TestFormLoginBrowser(t *testing.T) {
	t.Parallel()
	pool := flNeedChromium(t)
	app := flStartApp(t, flAppOptions{})
	appD := flStartApp(t, flAppOptions{CookieDomain: "127.0.0.1"})
	// The same misconfigured proxies as in TestFormLoginThroughNginx:
	// Chromium refuses these cookies, and the step says which and why.
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}};
        location / {
            proxy_cookie_flags app_session samesite=none nosecure;
            proxy_pass http://%[1]s;
        }
    }
    server {
        listen 127.0.0.1:{{port1}};
        location / {
            proxy_cookie_domain 127.0.0.1 app.example.com;
            proxy_pass http://%[2]s;
        }
    }
`, app.Addr, appD.Addr))
	var results []*flows.Result
	for _, c := range []flCase{
		{name: "browser_pass", base: app.URL, extra: "    browser: true\n"},
		{name: "browser_wrong_password", base: app.URL, extra: "    browser: true\n", password: "not-the-password-3f9a",
			want: flows.ReasonLoginRejected, summary: []string{`"Invalid username or password."`}},
		{name: "browser_refuses_samesite_none_without_secure", base: ngx.URL(0), extra: "    browser: true\n",
			want:    flows.ReasonCookieAttributesInvalid,
			summary: []string{"Chromium refused", `"app_session"`, "SameSite=None without Secure", "SameSiteNoneInsecure"},
			facts:   map[string]string{"cookie": "app_session", "attribute": "SameSite"}},
		{name: "browser_refuses_cookie_domain_elsewhere", base: ngx.URL(1), extra: "    browser: true\n",
			want:    flows.ReasonCookieAttributesInvalid,
			summary: []string{"Chromium refused", `"app_session"`, "Domain=app.example.com"},
			facts:   map[string]string{"cookie": "app_session", "attribute": "Domain"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := flRunner(c.password)
			r.Browsers = pool
			res := flRunBrowser(t, r, c)
			results = append(results, res)
			if c.want == "" {
				me := itStep(t, res, "me")
				if me.HTTPStatus != 200 {
					t.Errorf("the http step after the browser login got %d, want 200 with the session", me.HTTPStatus)
				}
			}
		})
	}
	if logins, _, csrfBad := app.counts(); logins < 1 || csrfBad != 0 {
		t.Errorf("app saw %d logins and %d bad CSRF tokens", logins, csrfBad)
	}
	t.Run("canary", func(t *testing.T) {
		itAssertNoSecrets(t, append(app.Secrets(), appD.Secrets()...), results...)
	})
}

// flRunBrowser runs a browser row. (Settle waits for a navigation the
// submission requested, so the walker never judges the old page: no retry.)
func flRunBrowser(t *testing.T, r *flows.Runner, c flCase) *flows.Result {
	t.Helper()
	res := itRunYAML(t, r, flYAML(c))
	flAssert(t, res, c)
	return res
}

// TestFormLoginBrowserPrivateCA logs in through headless Chromium to the
// app behind nginx with a certificate of a private CA: with ca_file the
// browser trusts it (and the http step after it too); without, the step
// says Chromium refused the certificate.
func TestFormLoginBrowserPrivateCA(t *testing.T) {
	t.Parallel()
	pool := flNeedChromium(t)
	testenv.Require(t, "certutil")
	certs := testenv.Certs(t)
	app := flStartApp(t, flAppOptions{})
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}} ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        location / { proxy_pass http://%s; proxy_set_header Host $http_host; }
    }`, certs.Valid.CertFile, certs.Valid.KeyFile, app.Addr))
	base := "https://" + ngx.Addr(0)
	var results []*flows.Result
	for _, c := range []flCase{
		{name: "browser_private_ca_with_ca_file", base: base, extra: "    browser: true\n    ca_file: " + certs.CAFile + "\n"},
		{name: "browser_private_ca_without_ca_file", base: base, extra: "    browser: true\n",
			want: flows.ReasonTLSCertificateInvalid, summary: []string{"ERR_CERT_AUTHORITY_INVALID"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := flRunner(c.password)
			r.Browsers = pool
			y := flYAML(c)
			// The http step after the login needs the CA as well.
			y = strings.Replace(y, "    redirects: {follow: false}\n", "    redirects: {follow: false}\n    ca_file: "+certs.CAFile+"\n", 1)
			res := itRunYAML(t, r, y)
			flAssert(t, res, c)
			results = append(results, res)
			if c.want != "" && !strings.Contains(itStep(t, res, "login").Failure.NextStep(), "ca_file") {
				t.Errorf("the next step does not name ca_file: %s", itStep(t, res, "login").Failure.NextStep())
			}
		})
	}
	t.Run("canary", func(t *testing.T) {
		itAssertNoSecrets(t, app.Secrets(), results...)
	})
}
