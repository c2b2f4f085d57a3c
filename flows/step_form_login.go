package flows

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/exchange"
	"github.com/authwatch/authwatch/internal/setcookie"
)

// FormLoginStep logs in to a session-cookie web app through its login form:
// it GETs the page, keeps its hidden inputs (CSRF tokens), posts the
// credentials, follows the redirects, and expects a session cookie that a
// browser would store and send back. Later http steps reuse the run's
// cookie jar, so they call the app as the logged-in user.
type FormLoginStep struct {
	URL             conf.Template `yaml:"url" json:"url" jsonschema:"required,description=The login page."`
	UserCredentials `yaml:",inline"`
	Form            LoginForm       `yaml:"form,omitempty" json:"form,omitempty" jsonschema:"description=How to find and fill the login form (defaults fit common apps)."`
	SessionCookie   string          `yaml:"session_cookie,omitempty" json:"session_cookie,omitempty" jsonschema:"description=Name of the session cookie (default: any cookie the login sets)."`
	CheckURL        conf.Template   `yaml:"check_url,omitempty" json:"check_url,omitempty" jsonschema:"description=A page that needs the session: fetched after the login\\, it must not redirect to the login page. The cookie's attributes are judged against it (default: the page the login landed on\\, after the redirects of its POST)."`
	Browser         bool            `yaml:"browser,omitempty" json:"browser,omitempty" jsonschema:"description=Drive headless Chromium (Debian package chromium) for login pages that need JavaScript."`
	Expect          FormLoginExpect `yaml:"expect,omitempty" json:"expect,omitempty" jsonschema:"description=What the login must answer."`
	TLSOptions      `yaml:",inline"`
}

// FormLoginExpect is what a form_login step checks besides the session.
type FormLoginExpect struct {
	LoginStatus int `yaml:"login_status,omitempty" json:"login_status,omitempty" jsonschema:"minimum=100,maximum=599,description=The HTTP status the app answers the login POST with (the last POST of the login\\, before its redirects are followed)\\, e.g. 303."`
}

// formLanding is where a login ended: the page it landed on and the
// status of its last POST (0: none seen).
type formLanding struct {
	page        *url.URL
	loginStatus int
}

var (
	_ Step         = (*FormLoginStep)(nil)
	_ OutputLister = (*FormLoginStep)(nil)
)

// Validate implements Step.
func (s *FormLoginStep) Validate() error {
	errs := []error{validateTemplateURL("url", s.URL)}
	if s.URL.IsZero() {
		errs = append(errs, conf.FieldErrorf("url", "required: the login page"))
	}
	errs = append(errs, s.UserCredentials.validate()...)
	if !s.CheckURL.IsZero() {
		errs = append(errs, validateTemplateURL("check_url", s.CheckURL))
	}
	if st := s.Expect.LoginStatus; st != 0 && (st < 100 || st > 599) {
		errs = append(errs, conf.FieldErrorf("expect.login_status", "must be 100..599, got %d", st))
	}
	errs = append(errs, s.TLSOptions.Validate())
	errs = append(errs, s.Form.validate("form")...)
	errs = append(errs, s.Form.validateBrowserOnly(s.Browser))
	return joinErrs(compact(errs))
}

// Outputs implements OutputLister.
func (s *FormLoginStep) Outputs() []string { return []string{"session_cookie"} }

// Run implements Step.
func (s *FormLoginStep) Run(ctx context.Context, st *State) error {
	user, totp, err := s.UserCredentials.expand(st)
	if err != nil {
		return err
	}
	loginURL, err := st.Expand(s.URL)
	if err != nil {
		return err
	}
	start, err := url.Parse(loginURL)
	if err != nil {
		return Fail(ReasonConfigInvalid, "url: %v", err)
	}
	// The check target defaults to the page the login lands on: an app
	// under a prefix scopes its cookie to that prefix (Path=/app).
	target := &url.URL{Scheme: start.Scheme, Host: start.Host, Path: "/"}
	if !s.CheckURL.IsZero() {
		raw, err := st.Expand(s.CheckURL)
		if err != nil {
			return err
		}
		if target, err = url.Parse(raw); err != nil {
			return Fail(ReasonConfigInvalid, "check_url: %v", err)
		}
	}
	if err := s.Form.expandFields(st, &user); err != nil {
		return err
	}
	pol := walkPolicy{form: &s.Form, approve: s.Form.Consent == consentApprove, stopWhenIdle: true, browserOption: !s.Browser}
	var set []*http.Cookie
	var refused []browser.RefusedCookie // by Chromium, in browser mode
	var landed formLanding
	if s.Browser {
		set, landed, refused, err = browserFormLogin(ctx, st, s.TLSOptions, loginURL, user, pol, totp)
		if err != nil {
			return s.orRefused(st, err, refused, target)
		}
	} else {
		client, err := st.Client(ClientOptions{TLS: s.TLSOptions, NoRedirects: true, UseJar: true})
		if err != nil {
			return err
		}
		w := &httpWalk{client: client, user: user, policy: pol, totp: totp}
		if _, err := w.run(ctx, loginURL); err != nil {
			return s.explainWalk(st, err)
		}
		exs := st.Recorder().Exchanges()
		set = cookiesSet(exs, true)
		landed = landing(exs)
	}
	if s.CheckURL.IsZero() && landed.page != nil {
		target = landed.page
	}
	if err := s.checkLoginStatus(landed); err != nil {
		return err
	}
	name, err := s.checkSession(st, set, target)
	if err != nil {
		return s.orRefused(st, err, refused, target)
	}
	st.SetOutput("session_cookie", name, false)
	if !s.CheckURL.IsZero() {
		return s.checkAccess(ctx, st, target)
	}
	return nil
}

// landing reads where an HTTP login ended from its exchanges: the last
// page fetched, and the status of the last POST.
func landing(exs []*exchange.Exchange) formLanding {
	var l formLanding
	for _, ex := range exs {
		if ex.Method == http.MethodPost {
			l.loginStatus = ex.Status
		}
	}
	if n := len(exs); n > 0 && exs[n-1].URL != nil && !isRedirect(exs[n-1].Status) {
		l.page = pageOnly(exs[n-1].URL)
	}
	return l
}

// pageOnly is u without its query and fragment: a check target.
func pageOnly(u *url.URL) *url.URL {
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
}

// checkLoginStatus compares the login POST's status with expect.login_status.
func (s *FormLoginStep) checkLoginStatus(l formLanding) error {
	want := s.Expect.LoginStatus
	if want == 0 || l.loginStatus == want {
		return nil
	}
	if l.loginStatus == 0 {
		return Fail(ReasonUnexpectedStatus, "expect.login_status is %d, but the login made no POST whose answer was seen", want).
			With(F("expected_status", want))
	}
	return Fail(ReasonUnexpectedStatus, "the app answered the login POST with %d, want %d (expect.login_status)", l.loginStatus, want).
		With(F("status", l.loginStatus), F("expected_status", want))
}

// explainWalk turns "the login form came back" into session_cookie_missing
// when the app set no cookie at all: the form returned because the session
// was not kept, not because the password was wrong.
func (s *FormLoginStep) explainWalk(st *State, err error) error {
	f, ok := err.(*Failure)
	if !ok || f.Reason != ReasonLoginRejected || strings.Contains(f.Summary, "refused the login:") {
		return err
	}
	exs := st.Recorder().Exchanges()
	set := cookiesSet(exs, true)
	if len(set) == 0 {
		return Fail(ReasonSessionCookieMissing, "after the credentials were posted the app showed its login form again and set no cookie: it does not keep a session (or a proxy strips Set-Cookie)")
	}
	// The app took the password and set a cookie, then sent the user back
	// to the login page: the cookie did not come back with the next request.
	bounced := bouncedToLogin(exs)
	if bounced == nil {
		return err
	}
	if _, cerr := s.checkSession(st, set, bounced); cerr != nil {
		return cerr
	}
	return Fail(ReasonRedirectedToLogin, "the app accepted the login and set the session cookie, but %s then redirected to the login page: the cookie was not sent back or not accepted (a proxy may drop the Cookie header)",
		hopText(bounced)).With(F("bounced_at", hopText(bounced)))
}

// orRefused explains a browser login that kept no session when Chromium
// refused to store the session cookie (the login page came back, or no
// session cookie was found); any other error is returned as it is.
func (s *FormLoginStep) orRefused(st *State, err error, refused []browser.RefusedCookie, target *url.URL) error {
	f, ok := err.(*Failure)
	if !ok || !(f.Reason == ReasonSessionCookieMissing || f.Reason == ReasonLoginRejected && !strings.Contains(f.Summary, "refused the login:")) {
		return err
	}
	for _, r := range refused {
		if s.SessionCookie != "" && r.Name != s.SessionCookie {
			continue
		}
		at := target
		if u, err := url.Parse(r.URL); err == nil && u.Host != "" {
			at = u
		}
		detail, attribute := "", "Set-Cookie"
		// The same judgement as in HTTP mode, on the line without its value.
		if c, err := http.ParseSetCookie(r.Name + "=x" + r.Attributes); err == nil {
			if ps := setcookie.CheckAt(c, at, st.Now()); len(ps) > 0 {
				detail, attribute = ps[0].Detail+" ", ps[0].Attribute
			}
		}
		reasons := strings.Join(r.Reasons, ", ")
		return Fail(ReasonCookieAttributesInvalid, "Chromium refused the session cookie %q that %s set: %s(Chromium: %s)", r.Name, hopText(at), detail, reasons).
			With(F("cookie", r.Name), F("attribute", attribute), F("set_cookie", r.SetCookie), F("browser_reasons", reasons), F("target", hopText(target)))
	}
	return err
}

// bouncedToLogin is the first page after the credentials' POST that
// redirected to a login page, if any.
func bouncedToLogin(exs []*exchange.Exchange) *url.URL {
	posted := false
	for _, ex := range exs {
		if ex.Method == http.MethodPost {
			posted = true
			continue
		}
		if !posted || !isRedirect(ex.Status) || ex.ResponseHeader == nil || looksLikeLogin(ex.URL) {
			continue
		}
		if loc, err := ex.URL.Parse(ex.ResponseHeader.Get("Location")); err == nil && looksLikeLogin(loc) {
			return ex.URL
		}
	}
	return nil
}

// cookiesSet lists the cookies the answers set, in order; afterLogin keeps
// only those set from the credentials' POST on.
func cookiesSet(exs []*exchange.Exchange, afterLogin bool) []*http.Cookie {
	var out []*http.Cookie
	posted := !afterLogin
	for _, ex := range exs {
		if ex.Method == http.MethodPost {
			posted = true
		}
		if !posted || ex.ResponseHeader == nil {
			continue
		}
		out = append(out, (&http.Response{Header: ex.ResponseHeader}).Cookies()...)
	}
	return out
}

// checkSession finds the session cookie among those set and judges whether
// a browser would store it and send it to target.
func (s *FormLoginStep) checkSession(st *State, set []*http.Cookie, target *url.URL) (string, error) {
	var candidates []*http.Cookie
	for _, c := range set {
		if s.SessionCookie == "" || c.Name == s.SessionCookie {
			candidates = append(candidates, c)
		}
		st.Secrets.Add(c.Value)
	}
	if len(candidates) == 0 {
		names := cookieNames(set)
		if s.SessionCookie != "" {
			return "", Fail(ReasonSessionCookieMissing, "the login did not set the session cookie %q (cookies set: %s)", s.SessionCookie, orNone(names)).
				With(F("cookies_set", orNone(names)))
		}
		return "", Fail(ReasonSessionCookieMissing, "the login set no cookie: the app keeps no session, or a proxy strips Set-Cookie")
	}
	var problems []setcookie.Problem
	for _, c := range candidates {
		ps := setcookie.CheckAt(c, target, st.Now())
		if len(ps) == 0 && (c.MaxAge >= 0) {
			return c.Name, nil
		}
		problems = append(problems, ps...)
	}
	if len(problems) == 0 {
		return "", Fail(ReasonSessionCookieMissing, "the login only deleted cookies (%s): no session was kept", strings.Join(cookieNames(candidates), ", "))
	}
	p := problems[0]
	f := Fail(ReasonCookieAttributesInvalid, "the session cookie %q cannot work for %s: %s", p.Cookie, hopText(target), p.Detail).
		With(F("cookie", p.Cookie), F("attribute", p.Attribute), F("target", hopText(target)))
	for _, c := range candidates {
		if c.Name == p.Cookie {
			f.With(F("set_cookie", setcookie.Describe(c)))
			break
		}
	}
	return "", f
}

// checkAccess fetches check_url with the session and expects the resource,
// not the login page.
func (s *FormLoginStep) checkAccess(ctx context.Context, st *State, target *url.URL) error {
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions, UseJar: true})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return err
	}
	if cs := st.jar.Cookies(target); !slices.ContainsFunc(cs, func(c *http.Cookie) bool { return s.SessionCookie == "" || c.Name == s.SessionCookie }) {
		return Fail(ReasonSessionCookieMissing, "the session cookie was set but would not be sent to %s (its Domain or Path does not cover it)", hopText(target))
	}
	before := len(st.Recorder().Exchanges())
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	a := &answer{resp: resp, body: body}
	if f := redirectedToLogin(a, st.Recorder().Exchanges()[before:]); f != nil {
		return f
	}
	if resp.StatusCode >= 400 {
		return classifyStatus(st, a, []int{http.StatusOK})
	}
	return nil
}

func cookieNames(cs []*http.Cookie) []string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
