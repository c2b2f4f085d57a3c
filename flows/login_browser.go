package flows

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/loginpage"
)

// Browser mode: the same walk and the same decisions as the HTTP walker,
// but the pages run in headless Chromium, so login pages built by
// JavaScript work. The browser's requests do not pass through the run's
// recorder; its hops are kept as notes.

// settleQuiet is how long the page must be idle before it is judged.
const settleQuiet = 400 * time.Millisecond

// browserPool returns the runner's pool of browsers, created on first use.
func (r *Runner) browserPool() *browser.Pool {
	r.browsersOnce.Do(func() {
		if r.Browsers == nil {
			r.Browsers = browser.NewPool(browser.PoolOptions{Max: r.MaxBrowsers})
		}
	})
	return r.Browsers
}

// browserSession opens a browser for the step, or explains why it cannot.
func browserSession(ctx context.Context, st *State, tlsOpts TLSOptions, stopAt *url.URL) (*browser.Session, error) {
	// Chromium keeps its own User-Agent unless the flow file names one.
	o := browser.SessionOptions{InsecureSkipVerify: tlsOpts.InsecureSkipVerify, UserAgent: st.chosenUserAgent()}
	if stopAt != nil {
		o.StopAt = stopAt.String()
	}
	if tlsOpts.InsecureSkipVerify {
		st.Note("TLS certificate verification is disabled for this step's browser (insecure_skip_verify: true)")
	}
	if tlsOpts.CAFile != "" && !tlsOpts.InsecureSkipVerify {
		ca, err := os.ReadFile(tlsOpts.CAFile)
		if err != nil {
			return nil, Fail(ReasonConfigInvalid, "ca_file: %v", err)
		}
		o.CACerts = ca
	}
	sess, err := st.runner.browserPool().Open(ctx, o)
	switch {
	case errors.Is(err, browser.ErrNoCertutil), errors.Is(err, browser.ErrBadCACerts):
		return nil, Fail(ReasonConfigInvalid, "ca_file with browser: true: %v", err).Wrap(err)
	case errors.Is(err, browser.ErrNoBrowser):
		return nil, Fail(ReasonConfigInvalid, "browser: true needs Chromium on the monitoring host (apt-get install chromium): %v", err).Wrap(err)
	case errors.Is(err, browser.ErrBusy):
		return nil, Fail(ReasonTimeout, "no browser became free before the step's deadline (%d in use): raise the browser limit or spread the browser flows", st.runner.browserPool().Max()).Wrap(err)
	case err != nil && ctx.Err() != nil:
		return nil, Fail(ReasonTimeout, "Chromium was still starting when the step's deadline passed (a loaded host starts it in seconds): raise the step's timeout").Wrap(err)
	case err != nil:
		return nil, Fail(ReasonInternalError, "starting Chromium failed: %v", err).Wrap(err)
	}
	return sess, nil
}

// browserWalk logs in through the browser and returns the intercepted
// redirect_uri request (nil for a walk that ends idle).
func browserWalk(ctx context.Context, st *State, tlsOpts TLSOptions, start string, stopAt *url.URL, user loginUser, pol walkPolicy, totp func() (string, error)) (*url.URL, error) {
	sess, err := browserSession(ctx, st, tlsOpts, stopAt)
	if err != nil {
		return nil, err
	}
	defer func() {
		noteHops(st, sess.Hops())
		_ = sess.Close()
	}()
	return walkBrowser(ctx, st, sess, start, user, pol, totp)
}

// browserFormLogin logs in to a session-cookie app through the browser and
// returns the browser's cookies (they are copied into the run's jar, so
// later http steps carry the session).
// refused lists the Set-Cookie lines Chromium would not store, also when
// the walk failed (they often explain why).
// landed is where the login ended: the page the browser shows, and the
// status of the last POST of a document.
func browserFormLogin(ctx context.Context, st *State, tlsOpts TLSOptions, start string, user loginUser, pol walkPolicy, totp func() (string, error)) (set []*http.Cookie, landed formLanding, refused []browser.RefusedCookie, err error) {
	sess, err := browserSession(ctx, st, tlsOpts, nil)
	if err != nil {
		return nil, landed, nil, err
	}
	defer func() {
		noteHops(st, sess.Hops())
		refused = sess.RefusedCookies()
		_ = sess.Close()
	}()
	set, err = browserFormWalk(ctx, st, sess, start, user, pol, totp)
	if err != nil {
		return set, landed, nil, err
	}
	for _, h := range sess.Hops() {
		if h.Type == "Document" && h.Method == http.MethodPost && h.Status != 0 {
			landed.loginStatus = h.Status
		}
	}
	if snap, err := sess.Snapshot(ctx); err == nil {
		if u, err := url.Parse(snap.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			landed.page = pageOnly(u)
		}
	}
	return set, landed, nil, nil
}

func browserFormWalk(ctx context.Context, st *State, sess *browser.Session, start string, user loginUser, pol walkPolicy, totp func() (string, error)) ([]*http.Cookie, error) {
	// Cookies the login page set before the credentials were posted (CSRF,
	// consent banners) are not the session.
	if err := sess.Navigate(ctx, start); err != nil {
		return nil, browserError(ctx, err, "opening "+redactURL(start))
	}
	if err := sess.Settle(ctx, settleQuiet); err != nil {
		return nil, browserError(ctx, err, "waiting for the page")
	}
	before, err := sess.Cookies(ctx)
	if err != nil {
		return nil, Fail(ReasonInternalError, "reading the browser's cookies failed: %v", err).Wrap(err)
	}
	if _, err := walkBrowser(ctx, st, sess, "", user, pol, totp); err != nil {
		return nil, err
	}
	all, err := sess.Cookies(ctx)
	if err != nil {
		return nil, Fail(ReasonInternalError, "reading the browser's cookies failed: %v", err).Wrap(err)
	}
	var cookies []*http.Cookie
	for _, c := range all {
		if !slices.ContainsFunc(before, func(b *http.Cookie) bool { return b.Name == c.Name && b.Value == c.Value }) {
			cookies = append(cookies, c)
		}
	}
	for _, c := range all {
		st.Secrets.Add(c.Value)
		u := &url.URL{Scheme: "http", Host: c.Domain, Path: c.Path}
		if c.Secure {
			u.Scheme = "https"
		}
		if len(u.Host) > 0 && u.Host[0] == '.' {
			u.Host = u.Host[1:]
		}
		st.jar.SetCookies(u, []*http.Cookie{c})
	}
	return cookies, nil
}

// walkBrowser walks from start ("": from the page already open).
func walkBrowser(ctx context.Context, st *State, sess *browser.Session, start string, user loginUser, pol walkPolicy, totp func() (string, error)) (*url.URL, error) {
	if start != "" {
		if err := sess.Navigate(ctx, start); err != nil {
			return nil, browserError(ctx, err, "opening "+redactURL(start))
		}
	}
	var prog walkProgress
	if len(pol.form.Actions) > 0 {
		if err := sess.Settle(ctx, settleQuiet); err != nil {
			return nil, browserError(ctx, err, "waiting for the page")
		}
		if _, err := runActions(ctx, st, sess, pol); err != nil {
			return nil, err
		}
		// The actions logged in: what comes back is judged as after
		// the password (the form again is a refusal, an idle page the end).
		prog.password = 1
	}
	for n := 0; n < pol.form.maxPages(); n++ {
		if err := sess.Settle(ctx, settleQuiet); err != nil {
			return nil, browserError(ctx, err, "waiting for the page")
		}
		if raw, ok := sess.Stopped(); ok {
			u, err := url.Parse(raw)
			if err != nil {
				return nil, Fail(ReasonIdPError, "the IdP redirected to an unparseable redirect_uri")
			}
			return u, nil
		}
		snap, err := sess.Snapshot(ctx)
		if err != nil {
			return nil, browserError(ctx, err, "reading the page")
		}
		if strings.HasPrefix(snap.URL, "chrome-error:") {
			return nil, browserErrorPage(sess.Hops())
		}
		pageURL, _ := url.Parse(snap.URL)
		page, err := loginpage.Parse(pageURL, []byte(snap.HTML))
		if err != nil {
			return nil, Fail(ReasonIdPError, "the page at %s could not be read: %v", redactURL(snap.URL), err)
		}
		act, f := decide(loginSeen{status: documentStatus(sess.Hops(), snap.URL), page: page}, user, &prog, pol, totp)
		if f != nil {
			return nil, f
		}
		if act == nil {
			return nil, nil
		}
		if act.link != "" {
			if err := sess.Navigate(ctx, act.link); err != nil {
				return nil, browserError(ctx, err, "following "+act.what)
			}
			continue
		}
		if err := sess.SubmitForm(ctx, act.form.Index, act.fill, buttonIndex(act.form, act.button)); err != nil {
			return nil, browserError(ctx, err, "submitting "+act.what)
		}
	}
	return nil, Fail(ReasonIdPError, "the login did not finish within %d pages; the IdP may be looping (raise form.max_pages if the login really has more pages)", pol.form.maxPages())
}

func buttonIndex(f *loginpage.Form, b *loginpage.Button) int {
	for i := range f.Buttons {
		if &f.Buttons[i] == b {
			return i
		}
	}
	return -1
}

// documentStatus is the status of the last document request for the page.
func documentStatus(hops []browser.Hop, pageURL string) int {
	for i := len(hops) - 1; i >= 0; i-- {
		if hops[i].Type == "Document" && hops[i].URL == pageURL && hops[i].Status != 0 {
			return hops[i].Status
		}
	}
	return http.StatusOK
}

// browserError explains a browser failure: a deadline, or a page that broke.
func browserError(ctx context.Context, err error, doing string) error {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if ctx.Err() != nil {
		return Fail(ReasonTimeout, "the browser was still %s when the step's deadline passed", doing).Wrap(err)
	}
	var le *chromedp.LoadError
	if errors.As(err, &le) {
		if f := browserNetFailure(le.ErrorText, doing); f != nil {
			return f.Wrap(err)
		}
	}
	return Fail(ReasonIdPError, "the browser failed %s: %v", doing, err).Wrap(err)
}

// browserErrorPage explains Chromium's own error page (a submission or a
// redirect that failed to load) from the last document request that failed.
func browserErrorPage(hops []browser.Hop) *Failure {
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		if h.Type != "Document" || h.Error == "" {
			continue
		}
		doing := "loading " + redactURL(h.URL)
		if f := browserNetFailure(h.Error, doing); f != nil {
			return f
		}
		return Fail(ReasonIdPError, "the browser failed %s: %s", doing, h.Error).With(F("browser_error", h.Error))
	}
	return Fail(ReasonIdPError, "the browser showed its own error page: a page of the login failed to load")
}

// browserNetFailure classifies Chromium's network error text
// ("net::ERR_CERT_AUTHORITY_INVALID") as the HTTP client's errors are;
// nil for other errors.
func browserNetFailure(errText, doing string) *Failure {
	code := strings.TrimPrefix(strings.TrimSpace(errText), "net::")
	var reason Reason
	next := ""
	switch {
	case strings.HasPrefix(code, "ERR_CERT_"), strings.HasPrefix(code, "ERR_SSL_"), code == "ERR_BAD_SSL_CLIENT_AUTH_CERT":
		reason = ReasonTLSCertificateInvalid
		if code == "ERR_CERT_AUTHORITY_INVALID" {
			next = "Chromium does not trust the certificate's issuer: for a private CA, give the step a ca_file (needs certutil, Debian package libnss3-tools)."
		}
	case code == "ERR_NAME_NOT_RESOLVED", code == "ERR_NAME_RESOLUTION_FAILED":
		reason = ReasonDNSFailure
	case code == "ERR_CONNECTION_REFUSED", code == "ERR_CONNECTION_RESET", code == "ERR_CONNECTION_CLOSED",
		code == "ERR_ADDRESS_UNREACHABLE", code == "ERR_CONNECTION_FAILED", code == "ERR_EMPTY_RESPONSE":
		reason = ReasonConnectionFailed
	case code == "ERR_TIMED_OUT", code == "ERR_CONNECTION_TIMED_OUT":
		reason = ReasonTimeout
	default:
		return nil
	}
	f := Fail(reason, "the browser failed %s: %s", doing, code).With(F("browser_error", code))
	f.Next = next
	return f
}

// noteHops keeps the browser's document requests as notes: path only.
func noteHops(st *State, hops []browser.Hop) {
	n := 0
	for _, h := range hops {
		if h.Type != "Document" || n >= 20 {
			continue
		}
		n++
		st.Note("browser: %s %s -> %d", h.Method, redactURL(h.URL), h.Status)
	}
}
