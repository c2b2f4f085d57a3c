package flows

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/authwatch/authwatch/internal/loginpage"
)

// A login walk goes through an IdP's pages as the synthetic user: it finds
// the form the page asks for (username, password, one-time code, device
// user code, consent), fills it and submits it, and follows redirects until
// the redirect_uri is reached. The decisions (decide) are shared by the
// HTTP walker here and the browser walker, so both modes judge pages alike.

// loginUser is what the synthetic user knows, expanded for one run.
type loginUser struct {
	username, password, totpSecret string
	userCode                       string            // device flow: the code to enter
	fields                         map[string]string // form.fields, expanded: set beside the credentials
}

// walkProgress counts what the walker has submitted so far.
type walkProgress struct {
	username, password, otp, userCode, consent int
}

func (p walkProgress) submittedAny() bool {
	return p.username+p.password+p.otp+p.userCode+p.consent > 0
}

// pageAction is what the walker does next on a page.
type pageAction struct {
	form   *loginpage.Form
	fill   map[string]string // field name → value
	button *loginpage.Button
	link   string // follow this URL instead of submitting a form
	what   string // for messages: "the password", "the one-time code", ...
	secret bool   // fill holds a credential (password, one-time code, user code)
}

// walkPolicy is the per-step configuration of decide.
type walkPolicy struct {
	form         *LoginForm
	approve      bool // consent and device confirmation pages are approved
	stopWhenIdle bool // device flow: a page with nothing left to do ends the walk
	// browserOption: the step walks without a browser but has browser:
	// true to offer for a page built by JavaScript.
	browserOption bool
}

// loginSeen is one page as the walk saw it, for messages.
type loginSeen struct {
	status int
	page   *loginpage.Page
}

var redirectURIProblem = regexp.MustCompile(`(?i)redirect[_ ]?ur[il]|callback url|reply url|AADSTS50011|redirect_uri_mismatch|invalid_redirect`)
var clientProblem = regexp.MustCompile(`(?i)invalid_client|unknown client|client not found|(retrieve|find|load) (the )?client|client_id.*(invalid|unknown|not found)|invalid (value for )?'?client_?id|AADSTS700016`)

// decide says what to do on a page: an action, nothing (done), or a failure.
func decide(seen loginSeen, user loginUser, prog *walkProgress, pol walkPolicy, totp func() (string, error)) (*pageAction, *Failure) {
	page, status := seen.page, seen.status
	where := pageName(page)
	if status >= 500 {
		return nil, Fail(ReasonIdPError, "the IdP answered %d at %s%s", status, where, saying(page))
	}
	if prog.submittedAny() {
		if f := pol.errorShown(page); f != nil {
			return nil, f
		}
	}
	form, f := pol.pickForm(page)
	if f != nil {
		return nil, f
	}
	var act *pageAction
	if form != nil {
		var f *Failure
		act, f = pol.formAction(page, form, user, prog, totp)
		if f != nil {
			return nil, f
		}
	}
	if act == nil && pol.approve && prog.submittedAny() {
		act = pol.approveLink(page)
	}
	if act != nil {
		return act, nil
	}
	// Nothing to act on: an error page, the end of a device approval, or a
	// page authwatch does not understand.
	if f := judgeStuck(page, status, pol, prog); f != nil {
		return nil, f
	}
	if pol.stopWhenIdle && (prog.password > 0 || prog.consent > 0) && status < 400 {
		return nil, nil
	}
	if !prog.submittedAny() {
		if status >= 400 {
			return nil, Fail(ReasonIdPError, "the IdP answered %d at %s instead of a login page%s", status, where, saying(page))
		}
		if pol.browserOption && page.ScriptBuilt() {
			return nil, scriptBuiltPage(page)
		}
		return nil, Fail(ReasonLoginFormChanged, "%s has no login form authwatch can fill (%s)%s", where, page.DescribeForms(), saying(page))
	}
	return nil, Fail(ReasonIdPError, "after %s, the IdP showed %s (status %d) with nothing to submit and no redirect%s",
		prog.last(), where, status, saying(page))
}

// errorShown is a refusal when form.error_selector matches an element
// with text on the page.
func (pol walkPolicy) errorShown(page *loginpage.Page) *Failure {
	sel := pol.form.ErrorSelector
	if sel == "" {
		return nil
	}
	text, ok := page.VisibleText(sel)
	if !ok || text == "" {
		return nil
	}
	return errorSelectorFailure(sel, text, pageName(page), pol.form.patterns)
}

// errorSelectorFailure quotes the text the page shows in
// form.error_selector (the runner redacts secrets from it): account_locked
// or mfa_required when the message patterns say so, else login_rejected.
func errorSelectorFailure(sel, text, where string, pats loginpage.Patterns) *Failure {
	var f *Failure
	switch pats.JudgeMessage(text) {
	case loginpage.Locked:
		f = Fail(ReasonAccountLocked, "the IdP says the account is locked or disabled: %q (form.error_selector %q, at %s)", truncate(text, 200), sel, where)
	case loginpage.MFA:
		f = Fail(ReasonMFARequired, "the login stopped at a second-factor or interaction page: %q (form.error_selector %q, at %s)", truncate(text, 200), sel, where)
	default:
		f = Fail(ReasonLoginRejected, "the IdP refused the login: %q (form.error_selector %q, at %s)", truncate(text, 200), sel, where)
	}
	return f.With(F("error_selector", sel))
}

// scriptBuiltPage explains a page whose form a script would build: the
// HTTP walker runs no scripts, so it sees "Loading..." and no form.
func scriptBuiltPage(page *loginpage.Page) *Failure {
	built := fmt.Sprintf("%d script elements", page.Scripts)
	if page.Scripts == 1 {
		built = "1 script element"
	}
	if page.Noscript {
		built += " and a noscript message"
	}
	f := Fail(ReasonLoginFormChanged, "%s needs JavaScript: its HTML has no forms and hardly any text, but %s%s; the HTTP walker runs no scripts: set browser: true on the step",
		pageName(page), built, saying(page))
	f.Next = "Set browser: true on the step, so that headless Chromium runs the page's scripts and fills the form they build."
	return f.With(F("scripts", page.Scripts))
}

// pickForm finds the form to work on: the configured selector's, or the
// first form with a password, one-time code, username or user code field,
// or a consent form.
func (pol walkPolicy) pickForm(page *loginpage.Page) (*loginpage.Form, *Failure) {
	if sel := pol.form.Selector; sel != "" {
		form, err := page.FormBySelector(sel)
		if err != nil {
			return nil, Fail(ReasonConfigInvalid, "form.selector %q: %v", sel, err)
		}
		if form != nil {
			return form, nil
		}
		// Not every page of a walk is the login form (consent, device
		// pages): fall back to the heuristics, and blame the selector only
		// when nothing else fits.
	}
	for _, f := range page.Forms {
		if passwordField(f) != nil {
			if pol.form.Selector != "" {
				// The login form itself, and the selector misses it.
				return nil, Fail(ReasonLoginFormChanged, "no form on %s matches form.selector %q (%s)", pageName(page), pol.form.Selector, page.DescribeForms())
			}
			return f, nil
		}
	}
	for _, f := range page.Forms {
		if f.OTPField() != nil || f.UsernameField() != nil || userCodeField(f) != nil {
			return f, nil
		}
	}
	for _, f := range page.Forms {
		if len(visibleFields(f)) == 0 && (f.SubmitButton(pol.form.consentButton) != nil || continueOnly(f)) {
			return f, nil
		}
	}
	if pol.form.Selector != "" && len(page.Forms) > 0 && !pageHasError(page) {
		return nil, Fail(ReasonLoginFormChanged, "no form on %s matches form.selector %q (%s)", pageName(page), pol.form.Selector, page.DescribeForms())
	}
	return nil, nil
}

// formAction fills the form with what it asks for.
func (pol walkPolicy) formAction(page *loginpage.Page, form *loginpage.Form, user loginUser, prog *walkProgress, totp func() (string, error)) (*pageAction, *Failure) {
	lf := pol.form
	pass := namedOr(form, lf.PasswordField, func() *loginpage.Field { return passwordField(form) })
	otp := namedOr(form, lf.OTPField, form.OTPField)
	name := namedOr(form, lf.UsernameField, form.UsernameField)
	code := userCodeField(form)
	if lf.PasswordField != "" && pass == nil && passwordField(form) != nil {
		return nil, Fail(ReasonLoginFormChanged, "%s has no field named %q (form.password_field): %s", pageName(page), lf.PasswordField, form.Describe())
	}
	if isPasswordChange(form) {
		// Submitting would change the synthetic user's password: never.
		return nil, Fail(ReasonMFARequired, "the IdP asks the synthetic user to set a new password on %s%s (the password expired, or a change is required): authwatch never changes a password; set a new one in the IdP and in the flow's secret, or exempt the user from expiry",
			pageName(page), saying(page))
	}
	act := &pageAction{form: form, fill: map[string]string{}, button: form.SubmitButton(lf.submit)}
	if act.button == nil && lf.submit != nil {
		act.button = form.SubmitButton(nil)
	}
	switch {
	case pass != nil:
		if prog.password > 0 {
			return nil, pol.rejected(page, "the password", prog)
		}
		if lf.PasswordField != "" && form.Field(lf.PasswordField) == nil {
			return nil, Fail(ReasonLoginFormChanged, "%s has no field named %q (form.password_field): %s", pageName(page), lf.PasswordField, form.Describe())
		}
		if name != nil && !(name.Type == "hidden" && name.Value != "") {
			act.fill[name.Name] = user.username
			prog.username++
		} else if lf.UsernameField != "" && form.Field(lf.UsernameField) == nil && prog.username == 0 {
			return nil, Fail(ReasonLoginFormChanged, "%s has no field named %q (form.username_field): %s", pageName(page), lf.UsernameField, form.Describe())
		}
		act.fill[pass.Name] = user.password
		act.what, act.secret = "the password", true
		prog.password++
		user.addFields(act)
	case otp != nil && (code == nil || user.userCode == "" || prog.userCode > 0):
		if prog.otp > 0 {
			return nil, pol.rejected(page, "the one-time code", prog)
		}
		if totp == nil {
			return nil, Fail(ReasonMFARequired, "the login stopped at a second-factor page (%s, field %q)%s: give the step a totp_secret (or a fixed code in otp), or exempt the synthetic user from MFA",
				pageName(page), otp.Name, saying(page))
		}
		v, err := totp()
		if err != nil {
			return nil, Fail(ReasonConfigInvalid, "totp_secret: %v", err)
		}
		act.fill[otp.Name] = v
		act.what, act.secret = "the one-time code", true
		prog.otp++
	case code != nil && user.userCode != "":
		if prog.password > 0 || prog.consent > 0 {
			// Back at the user code page after the login or the approval:
			// the IdP says why, or the device side will learn it by polling
			// (a denial shows here and answers access_denied there).
			if f := judgeMessages(page, pol.form.patterns); f != nil {
				return nil, f
			}
			return nil, nil
		}
		if prog.userCode > 0 {
			return nil, Fail(ReasonIdPError, "the IdP did not accept the device user code on %s%s", pageName(page), saying(page))
		}
		act.fill[code.Name] = user.userCode
		act.what, act.secret = "the device user code", true
		prog.userCode++
	case name != nil && !(name.Type == "hidden"):
		if prog.username > 0 {
			return nil, pol.rejected(page, "the username", prog)
		}
		act.fill[name.Name] = user.username
		act.what = "the username"
		prog.username++
		user.addFields(act)
	default:
		if !prog.submittedAny() && (len(visibleFields(form)) > 0 || !pol.approve) {
			// Consent comes after the credentials were accepted: a form
			// before them without the fields the flow fills is a login
			// page that changed, not a consent page.
			return nil, fieldsNotFound(page, form, lf)
		}
		b := form.SubmitButton(lf.consentButton)
		if b == nil && pol.approve && continueOnly(form) {
			// An auto-submitting page (it posts itself by script): press
			// its one button, as the script would.
			act.button = &form.Buttons[0]
			act.what = "the page's only button (" + buttonLabel(&form.Buttons[0]) + ")"
			return act, nil
		}
		if b == nil {
			return nil, nil
		}
		if !pol.approve {
			return nil, Fail(ReasonMFARequired, "the login stopped at a consent page (%s, button %q): set form.consent: approve, or grant consent to the client in the IdP",
				pageName(page), buttonLabel(b))
		}
		if prog.consent > 2 {
			return nil, Fail(ReasonIdPError, "the IdP showed its approval page (%s) again after it was approved%s", pageName(page), saying(page))
		}
		act.button = b
		act.what = "the consent (" + buttonLabel(b) + ")"
		prog.consent++
	}
	return act, nil
}

// addFields sets form.fields on the form that takes the credentials.
func (u loginUser) addFields(act *pageAction) {
	for k, v := range u.fields {
		act.fill[k] = v
	}
}

// fieldsNotFound explains a first page whose form has none of the fields
// the flow fills, listing the fields it has.
func fieldsNotFound(page *loginpage.Page, form *loginpage.Form, lf *LoginForm) *Failure {
	var named []string
	if lf.UsernameField != "" {
		named = append(named, fmt.Sprintf("username_field %q", lf.UsernameField))
	}
	if lf.PasswordField != "" {
		named = append(named, fmt.Sprintf("password_field %q", lf.PasswordField))
	}
	var f *Failure
	if len(named) > 0 {
		f = Fail(ReasonLoginFormChanged, "%s has none of the fields the flow names (form.%s); it shows %s%s: the login page changed",
			pageName(page), strings.Join(named, ", form."), form.Describe(), saying(page))
		f.Next = "Look at the login page: if it was redesigned (an identifier-first page asks for the username alone), set form.username_field and form.password_field to its fields' names."
	} else {
		f = Fail(ReasonLoginFormChanged, "%s has no username, password or one-time code field authwatch recognises; it shows %s%s",
			pageName(page), form.Describe(), saying(page))
		f.Next = "Look at the login page and name its fields with form.username_field and form.password_field."
	}
	return f.With(F("form", form.Describe()))
}

// approveLink follows a link or script button that approves (zitadel's
// device confirmation page has buttons with location.href and no form).
func (pol walkPolicy) approveLink(page *loginpage.Page) *pageAction {
	for _, a := range page.Actions {
		if a.Kind != "refresh" && pol.form.consentButton.MatchString(a.Text) {
			return &pageAction{link: a.URL, what: "the approval (" + strings.TrimSpace(a.Text) + ")"}
		}
	}
	for _, a := range page.Actions {
		if a.Kind == "refresh" {
			return &pageAction{link: a.URL, what: "a refresh"}
		}
	}
	return nil
}

// rejected explains a form that came back after it was submitted.
func (pol walkPolicy) rejected(page *loginpage.Page, what string, prog *walkProgress) *Failure {
	if f := judgeMessages(page, pol.form.patterns); f != nil {
		return f
	}
	return Fail(ReasonLoginRejected, "the IdP showed its form again after %s was submitted, without a message authwatch recognises%s (add the wording to form.errors if it is a known one)",
		what, saying(page))
}

// judgeMessages classifies a page by its messages, most specific first.
func judgeMessages(page *loginpage.Page, pats loginpage.Patterns) *Failure {
	verdict, msg := pats.Judge(page)
	switch verdict {
	case loginpage.Locked:
		return Fail(ReasonAccountLocked, "the IdP says the account is locked or disabled: %q (at %s)", msg, pageName(page))
	case loginpage.MFA:
		return Fail(ReasonMFARequired, "the login stopped at a second-factor or interaction page: %q (at %s)", msg, pageName(page))
	case loginpage.Rejected:
		return Fail(ReasonLoginRejected, "the IdP refused the login: %q (at %s)", msg, pageName(page))
	}
	return nil
}

// judgeStuck explains a page with nothing to submit.
func judgeStuck(page *loginpage.Page, status int, pol walkPolicy, prog *walkProgress) *Failure {
	text := strings.Join(append(append([]string{}, page.Messages...), page.Title, page.Text), "\n")
	if !prog.submittedAny() || status >= 400 {
		if redirectURIProblem.MatchString(text) {
			return Fail(ReasonRedirectURIMismatch, "the IdP refused the authorization request's redirect_uri%s", saying(page))
		}
		if clientProblem.MatchString(text) {
			return Fail(ReasonInvalidClient, "the IdP's authorization endpoint does not know the client%s", saying(page))
		}
	}
	return judgeMessages(page, pol.form.patterns)
}

func pageHasError(page *loginpage.Page) bool { return len(page.Messages) > 0 }

func (p walkProgress) last() string {
	switch {
	case p.consent > 0:
		return "approving the consent"
	case p.otp > 0:
		return "submitting the one-time code"
	case p.password > 0:
		return "submitting the password"
	case p.userCode > 0:
		return "submitting the device user code"
	default:
		return "submitting the username"
	}
}

func namedOr(form *loginpage.Form, name string, guess func() *loginpage.Field) *loginpage.Field {
	if name != "" {
		return form.Field(name)
	}
	return guess()
}

var passwordName = regexp.MustCompile(`(?i)^(password|passwd|pass|pwd)$`)

// passwordField is the type=password input, or else a visible input named
// like a password (zitadel's device login page forgets the type).
func passwordField(f *loginpage.Form) *loginpage.Field {
	if p := f.PasswordField(); p != nil {
		return p
	}
	for i := range f.Fields {
		fl := &f.Fields[i]
		if fl.Type == "text" && !fl.Hidden && passwordName.MatchString(fl.Name) {
			return fl
		}
	}
	return nil
}

var newPasswordName = regexp.MustCompile(`(?i)(new|confirm)[-_ ]?pass|pass(word)?[-_ ]?(new|confirm)|repeat[-_ ]?pass`)

// isPasswordChange: a form that sets a password (new and confirm fields),
// such as Keycloak's "Update password" required action, not a login.
func isPasswordChange(f *loginpage.Form) bool {
	n := 0
	for _, fl := range f.Fields {
		if fl.Hidden || fl.Type == "hidden" {
			continue
		}
		if fl.Type == "password" {
			n++
		}
		if (fl.Type == "password" || fl.Type == "text") && (newPasswordName.MatchString(fl.Name) || newPasswordName.MatchString(fl.ID)) {
			return true
		}
	}
	return n >= 2
}

var userCodeName = regexp.MustCompile(`(?i)^(user_?code|usercode|device_?code|code)$`)

func userCodeField(f *loginpage.Form) *loginpage.Field {
	for i := range f.Fields {
		fl := &f.Fields[i]
		if fl.Type != "hidden" && fl.Type != "password" && (userCodeName.MatchString(fl.Name) || userCodeName.MatchString(fl.ID)) {
			return fl
		}
	}
	return nil
}

var negativeButton = regexp.MustCompile(`(?i)deny|abort|cancel|reject|decline|log ?out|sign ?out|^\s*no\b`)

// continueOnly: a form of hidden fields with one button that is not a
// refusal or a logout (oidc-provider's auto-submitting device page).
func continueOnly(f *loginpage.Form) bool {
	return len(visibleFields(f)) == 0 && len(f.Buttons) == 1 && !negativeButton.MatchString(buttonLabel(&f.Buttons[0]))
}

func visibleFields(f *loginpage.Form) []loginpage.Field {
	var out []loginpage.Field
	for _, fl := range f.Fields {
		if fl.Type != "hidden" && fl.Type != "submit" {
			out = append(out, fl)
		}
	}
	return out
}

func buttonLabel(b *loginpage.Button) string {
	if t := strings.TrimSpace(b.Text); t != "" {
		return t
	}
	return b.Value
}

// pageName names a page for messages: its path, never its query (which
// can carry codes and session ids), and its title.
func pageName(page *loginpage.Page) string {
	if page == nil || page.URL == nil {
		return "the page"
	}
	name := page.URL.Scheme + "://" + page.URL.Host + page.URL.Path
	if page.Title != "" {
		name += fmt.Sprintf(" (%q)", truncate(page.Title, 60))
	}
	return name
}

// saying quotes what a page says, for the summary: its messages, else the
// start of its text.
func saying(page *loginpage.Page) string {
	if page == nil {
		return ""
	}
	if len(page.Messages) > 0 {
		return fmt.Sprintf("; the page says %q", truncate(strings.Join(page.Messages, " / "), 200))
	}
	if t := strings.TrimSpace(page.Text); t != "" {
		return fmt.Sprintf("; the page says %q", truncate(t, 160))
	}
	return ""
}

// ---------------------------------------------------------------- HTTP mode

// httpWalk walks the IdP's pages with the run's HTTP client and cookie jar.
type httpWalk struct {
	client *http.Client // redirects returned, not followed; the run's jar
	user   loginUser
	policy walkPolicy
	stopAt *url.URL // the redirect_uri; nil: walk until idle (device flow)
	totp   func() (string, error)
	prog   walkProgress

	secretBody bool // the current request's body holds a credential
}

// run walks from start. It returns the redirect_uri as requested (with the
// code), or nil when a device walk is done.
func (w *httpWalk) run(ctx context.Context, start string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start, nil)
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "cannot build the request to %s: %v", redactURL(start), err)
	}
	maxPages := w.policy.form.maxPages()
	for n := 0; ; n++ {
		if n >= maxPages {
			return nil, Fail(ReasonIdPError, "the login did not finish within %d requests (last: %s); the IdP may be looping (raise form.max_pages if the login really has more pages)",
				maxPages, redactURL(req.URL.String()))
		}
		resp, err := w.client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := readBody(resp)
		if err != nil {
			return nil, err
		}
		if isRedirect(resp.StatusCode) {
			loc, err := resp.Location()
			if err != nil {
				return nil, Fail(ReasonIdPError, "the IdP answered %d at %s without a usable Location", resp.StatusCode, redactURL(req.URL.String()))
			}
			if w.stopAt != nil && sameEndpoint(loc, w.stopAt) {
				return loc, nil
			}
			req, err = w.redirectRequest(ctx, req, resp.StatusCode, loc)
			if err != nil {
				return nil, err
			}
			continue
		}
		page := parsePage(resp, body)
		if w.stopAt != nil {
			if cb := formPostCallback(page, w.stopAt); cb != nil {
				return cb, nil
			}
		}
		act, f := decide(loginSeen{status: resp.StatusCode, page: page}, w.user, &w.prog, w.policy, w.totp)
		if f != nil {
			return nil, f
		}
		if act == nil {
			return nil, nil
		}
		if req, err = w.request(ctx, page, act); err != nil {
			return nil, err
		}
		if w.stopAt != nil && req.Method == http.MethodGet && sameEndpoint(req.URL, w.stopAt) {
			// A GET form or link to the redirect_uri: its query is the answer,
			// and nothing listens there.
			return req.URL, nil
		}
	}
}

// formPostCallback reads a response_mode=form_post answer: a page whose
// form posts to the redirect_uri (by script, as soon as it loads). The
// form's fields are what the redirect's query would carry; nothing is
// sent to the redirect_uri. Nil when the page is no such answer.
func formPostCallback(page *loginpage.Page, stopAt *url.URL) *url.URL {
	for _, f := range page.Forms {
		target, err := url.Parse(f.Action)
		if err != nil || f.Method != http.MethodPost || !sameEndpoint(target, stopAt) {
			continue
		}
		q := target.Query()
		for k, vs := range f.Values(nil) {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		target.RawQuery = q.Encode()
		return target
	}
	return nil
}

// request builds the submission of an action, as a browser would send it.
func (w *httpWalk) request(ctx context.Context, page *loginpage.Page, act *pageAction) (*http.Request, error) {
	if act.link != "" {
		w.secretBody = false
		return http.NewRequestWithContext(ctx, http.MethodGet, act.link, nil)
	}
	values := act.form.Values(act.button)
	for k, v := range act.fill {
		values.Set(k, v)
	}
	action, method := act.form.Action, act.form.Method
	if b := act.button; b != nil {
		// formaction/formmethod on the pressed button override the form's.
		if b.Action != "" {
			action = b.Action
		}
		if b.Method != "" {
			method = b.Method
		}
	}
	target, err := url.Parse(action)
	if err != nil {
		return nil, Fail(ReasonLoginFormChanged, "the form's action %q is not a URL", truncate(action, 80))
	}
	if target.Scheme != "http" && target.Scheme != "https" {
		// javascript:void(0) and friends: a script submits this form.
		return nil, Fail(ReasonLoginFormChanged, "%s submits its form by script (action %q), which the HTTP walker cannot run: set browser: true on the step",
			pageName(page), truncate(target.Scheme+":", 20))
	}
	var req *http.Request
	w.secretBody = method == http.MethodPost && act.secret
	if method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(values.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		target.RawQuery = values.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	}
	if err != nil {
		return nil, err
	}
	if page.URL != nil {
		// Browsers send both; CSRF defences of some IdPs check them.
		req.Header.Set("Origin", page.URL.Scheme+"://"+page.URL.Host)
		req.Header.Set("Referer", page.URL.Scheme+"://"+page.URL.Host+page.URL.Path)
	}
	return req, nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirectRequest follows a redirect as a browser does: 307/308 repeat the
// method and body, the others become a GET. Unlike a browser, it never
// repeats a body holding a credential at another origin.
func (w *httpWalk) redirectRequest(ctx context.Context, prev *http.Request, status int, loc *url.URL) (*http.Request, error) {
	if (status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect) && prev.GetBody != nil {
		if w.secretBody && !sameOrigin(prev.URL, loc) {
			return nil, secretBodyRedirect(prev.Method, prev.URL, status, loc)
		}
		body, err := prev.GetBody()
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, prev.Method, loc.String(), body)
		if err != nil {
			return nil, err
		}
		req.Header = prev.Header.Clone()
		return req, nil
	}
	w.secretBody = false
	return http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
}

// parsePage reads an answer as a page; a non-HTML answer becomes a page
// with its text, so that its message can still be judged.
func parsePage(resp *http.Response, body []byte) *loginpage.Page {
	u := resp.Request.URL
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/html" || mt == "application/xhtml+xml" || (mt == "" && looksHTML(body)) {
		if p, err := loginpage.Parse(u, body); err == nil {
			return p
		}
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	return &loginpage.Page{URL: u, Text: truncate(text, 2000), Messages: nonEmpty(truncate(text, 300))}
}

func looksHTML(b []byte) bool {
	s := strings.ToLower(strings.TrimSpace(string(b[:min(len(b), 512)])))
	return strings.HasPrefix(s, "<!doctype html") || strings.HasPrefix(s, "<html")
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// sameEndpoint compares a redirect target with the redirect_uri: scheme,
// host, port (an explicit default port is the same endpoint) and path; the
// query carries the answer.
func sameEndpoint(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b) &&
		strings.TrimSuffix(a.Path, "/") == strings.TrimSuffix(b.Path, "/")
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// redactURL drops a URL's query, fragment, user info and path parameters
// (";jsessionid=..."): they can carry codes, tokens and session ids.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	if i := strings.IndexByte(u.Path, ';'); i >= 0 {
		u.Path, u.RawPath = u.Path[:i], ""
	}
	return u.String()
}
