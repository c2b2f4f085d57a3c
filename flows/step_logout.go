package flows

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/loginpage"
)

// LogoutStep ends the synthetic user's IdP session the way a relying party
// does (OpenID Connect RP-Initiated Logout 1.0: the end_session_endpoint
// with id_token_hint), with the run's cookies, confirming the IdP's
// "sign out?" page when it shows one; then it checks that the session is
// gone: an authorization request with prompt=none must come back with
// login_required (or a login page), not a code or interaction_required. A
// session that survives its logout is revocation_ineffective. The same
// check before the logout makes sure there was a session to end.
type LogoutStep struct {
	Issuer                conf.Template `yaml:"issuer,omitempty" json:"issuer,omitempty" jsonschema:"description=Issuer URL: the end_session_endpoint and authorization_endpoint come from its discovery document."`
	EndSessionURL         conf.Template `yaml:"end_session_url,omitempty" json:"end_session_url,omitempty" jsonschema:"description=The end_session_endpoint (instead of\\, or overriding\\, discovery)."`
	ClientID              conf.Template `yaml:"client_id" json:"client_id" jsonschema:"required"`
	IDTokenHint           conf.Template `yaml:"id_token_hint,omitempty" json:"id_token_hint,omitempty" jsonschema:"description=The ID token of the session\\, usually ${steps.login.id_token}."`
	PostLogoutRedirectURI string        `yaml:"post_logout_redirect_uri,omitempty" json:"post_logout_redirect_uri,omitempty" jsonschema:"description=A post-logout redirect URI registered for the client; nothing needs to listen there."`
	RedirectURI           string        `yaml:"redirect_uri,omitempty" json:"redirect_uri,omitempty" jsonschema:"description=A redirect URI registered for the client\\, for the prompt=none checks of the session (required unless expect.session_ended is false)."`
	ConfirmButton         string        `yaml:"confirm_button,omitempty" json:"confirm_button,omitempty" jsonschema:"description=Regular expression for the button that confirms the logout on the IdP's page (default: yes\\, sign out\\, log out\\, logout)."`
	TLSOptions            `yaml:",inline"`
	Expect                LogoutExpect `yaml:"expect,omitempty" json:"expect,omitempty"`

	confirm  *regexp.Regexp
	redirect *url.URL
}

// LogoutExpect says what the logout must achieve.
type LogoutExpect struct {
	SessionEnded *bool `yaml:"session_ended,omitempty" json:"session_ended,omitempty" jsonschema:"description=Check with prompt=none before and after the logout that there was a session and that it is gone (default true)."`
}

var _ Step = (*LogoutStep)(nil)

var defaultConfirmButton = regexp.MustCompile(`(?i)\b(yes|sign[ -]?out|log[ -]?out|logout|confirm)\b`)

// maxLogoutRequests bounds each walk (the logout, each session check).
const maxLogoutRequests = 10

func (s *LogoutStep) checksSession() bool {
	return s.Expect.SessionEnded == nil || *s.Expect.SessionEnded
}

// Validate implements Step.
func (s *LogoutStep) Validate() error {
	var errs []error
	if s.ClientID.IsZero() {
		errs = append(errs, conf.FieldErrorf("client_id", "required"))
	}
	if s.Issuer.IsZero() && s.EndSessionURL.IsZero() {
		errs = append(errs, conf.FieldErrorf("issuer", "give issuer (discovery finds the end_session_endpoint) or end_session_url"))
	}
	if s.checksSession() && s.Issuer.IsZero() {
		errs = append(errs, conf.FieldErrorf("expect.session_ended", "checking the session needs issuer (the authorization endpoint comes from discovery); set session_ended: false to only call end_session_url"))
	}
	errs = append(errs, validateEndpoint("issuer", s.Issuer, true), validateEndpoint("end_session_url", s.EndSessionURL, false))
	if s.checksSession() {
		if s.RedirectURI == "" {
			errs = append(errs, conf.FieldErrorf("redirect_uri", "required to check the session: a redirect URI registered for the client (nothing needs to listen there)"))
		} else if err := validateHTTPURL(s.RedirectURI, true); err != nil {
			errs = append(errs, conf.FieldError{Path: "redirect_uri", Err: err})
		} else {
			s.redirect, _ = url.Parse(s.RedirectURI)
		}
	}
	if s.PostLogoutRedirectURI != "" {
		if err := validateHTTPURL(s.PostLogoutRedirectURI, true); err != nil {
			errs = append(errs, conf.FieldError{Path: "post_logout_redirect_uri", Err: err})
		}
	}
	s.confirm = defaultConfirmButton
	if s.ConfirmButton != "" {
		re, err := regexp.Compile(s.ConfirmButton)
		if err != nil {
			errs = append(errs, conf.FieldErrorf("confirm_button", "not a regular expression: %v", err))
		} else {
			s.confirm = re
		}
	}
	errs = append(errs, s.TLSOptions.Validate())
	return joinErrs(compact(errs))
}

// Run implements Step.
func (s *LogoutStep) Run(ctx context.Context, st *State) error {
	clientID, err := st.Expand(s.ClientID)
	if err != nil {
		return err
	}
	endSession, doc, err := s.endpoints(ctx, st)
	if err != nil {
		return err
	}
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions, NoRedirects: true, UseJar: true})
	if err != nil {
		return err
	}
	w := &httpWalk{client: client}
	before := ""
	if s.checksSession() {
		if before, err = s.probeSession(ctx, st, w, doc, clientID); err != nil {
			return err
		}
		if before == probeNoSession {
			return Fail(ReasonAssertionFailed, "there is no IdP session to log out of: a prompt=none authorization request before the logout already came back with login_required; log the user in earlier in this flow (a login step: its cookies are the run's)")
		}
	}
	if err := s.logout(ctx, st, w, endSession, clientID); err != nil {
		return err
	}
	if !s.checksSession() {
		return nil
	}
	after, err := s.probeSession(ctx, st, w, doc, clientID)
	if err != nil {
		return err
	}
	if after != probeNoSession {
		f := Fail(ReasonRevocationIneffective, "the IdP session survived the logout: after the end_session_endpoint answered, an authorization request with prompt=none still came back with %s (before the logout: %s), not login_required", after, before).
			With(F("prompt_none_before", before), F("prompt_none_after", after))
		f.Next = "Check the IdP's logout: the end_session_endpoint must end the session (its cookies and the server-side session), also when called with id_token_hint; a logout that does not take leaves shared or stolen browsers signed in."
		return f
	}
	st.Note("the session is gone: a prompt=none authorization request after the logout came back with login_required (before: %s)", before)
	return nil
}

func (s *LogoutStep) endpoints(ctx context.Context, st *State) (string, *DiscoveryDoc, error) {
	endSession, err := expandEndpoint(st, "end_session_url", s.EndSessionURL, false)
	if err != nil {
		return "", nil, err
	}
	issuer, err := expandEndpoint(st, "issuer", s.Issuer, true)
	if err != nil || issuer == "" {
		return endSession, nil, err
	}
	need := []string{"authorization_endpoint"}
	if endSession == "" {
		need = append(need, "end_session_endpoint")
	}
	doc, err := st.Discover(ctx, issuer, s.TLSOptions, false, need...)
	if err != nil {
		return "", nil, err
	}
	if endSession == "" {
		endSession = doc.EndSessionEndpoint
	}
	return endSession, doc, nil
}

// logout calls the end_session_endpoint and confirms the IdP's page.
func (s *LogoutStep) logout(ctx context.Context, st *State, w *httpWalk, endpoint, clientID string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return Fail(ReasonDiscoveryFailed, "the end_session_endpoint %q is not a URL", truncate(endpoint, 80))
	}
	q := u.Query()
	q.Set("client_id", clientID)
	if !s.IDTokenHint.IsZero() {
		hint, err := st.Expand(s.IDTokenHint)
		if err != nil {
			return err
		}
		st.Secrets.Add(hint)
		q.Set("id_token_hint", hint)
	}
	var stop *url.URL
	if s.PostLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", s.PostLogoutRedirectURI)
		state := randomToken()
		st.Secrets.Add(state)
		q.Set("state", state)
		stop, _ = url.Parse(s.PostLogoutRedirectURI)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Fail(ReasonConfigInvalid, "cannot build the logout request: %v", err)
	}
	confirmed := false
	for n := 0; n < maxLogoutRequests; n++ {
		resp, err := w.client.Do(req)
		if err != nil {
			return err
		}
		body, err := readBody(resp)
		if err != nil {
			return err
		}
		if isRedirect(resp.StatusCode) {
			loc, err := resp.Location()
			if err != nil {
				return Fail(ReasonIdPError, "the IdP answered %d at %s without a usable Location", resp.StatusCode, redactURL(req.URL.String()))
			}
			if stop != nil && sameEndpoint(loc, stop) {
				if e := loc.Query().Get("error"); e != "" {
					return Fail(ReasonIdPError, "the IdP redirected back from the logout with error=%s: %s", e, loc.Query().Get("error_description"))
				}
				return nil
			}
			if req, err = w.redirectRequest(ctx, req, resp.StatusCode, loc); err != nil {
				return err
			}
			continue
		}
		page := parsePage(resp, body)
		if resp.StatusCode >= 400 {
			return Fail(ReasonIdPError, "the end_session_endpoint answered %d%s", resp.StatusCode, saying(page)).With(F("status", resp.StatusCode))
		}
		form, button := s.confirmation(page)
		if form == nil || confirmed {
			// A page with nothing to confirm (or after the confirmation):
			// the IdP's "you are signed out" page.
			return nil
		}
		confirmed = true
		if req, err = w.request(ctx, page, &pageAction{form: form, button: button, what: "the logout confirmation"}); err != nil {
			return err
		}
	}
	return Fail(ReasonIdPError, "the logout did not finish within %d requests (last: %s)", maxLogoutRequests, redactURL(req.URL.String()))
}

// confirmation finds the form and button that confirm the logout.
func (s *LogoutStep) confirmation(page *loginpage.Page) (*loginpage.Form, *loginpage.Button) {
	for _, f := range page.Forms {
		for i := range f.Buttons {
			b := &f.Buttons[i]
			if !b.Disabled && (s.confirm.MatchString(b.Text) || s.confirm.MatchString(b.Value)) {
				return f, b
			}
		}
	}
	return nil, nil
}

// Answers of the prompt=none probe besides an error code.
const (
	probeCode      = "a code"
	probeNoSession = "login_required"
)

// sessionErrors are the prompt=none errors of an IdP that knows the user
// but wants an interaction (OIDC Core §3.1.2.6): the session is there.
var sessionErrors = []string{"interaction_required", "consent_required", "account_selection_required"}

// probeSession sends an authorization request with prompt=none and says
// what came back: a code or one of sessionErrors (the IdP knows the user),
// or login_required (it does not; a login page counts as that).
func (s *LogoutStep) probeSession(ctx context.Context, st *State, w *httpWalk, doc *DiscoveryDoc, clientID string) (string, error) {
	u, err := url.Parse(doc.AuthorizationEndpoint)
	if err != nil {
		return "", Fail(ReasonDiscoveryFailed, "the authorization endpoint %q is not a URL", truncate(doc.AuthorizationEndpoint, 80))
	}
	tx := newLoginTx()
	st.Secrets.Add(tx.state, tx.nonce, tx.verifier)
	q := u.Query()
	for k, v := range map[string]string{"response_type": "code", "client_id": clientID, "redirect_uri": s.RedirectURI, "scope": "openid",
		"prompt": "none", "state": tx.state, "nonce": tx.nonce, "code_challenge": oauth2.S256ChallengeFromVerifier(tx.verifier), "code_challenge_method": "S256"} {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	for n := 0; n < maxLogoutRequests; n++ {
		resp, err := w.client.Do(req)
		if err != nil {
			return "", err
		}
		body, err := readBody(resp)
		if err != nil {
			return "", err
		}
		if !isRedirect(resp.StatusCode) {
			page := parsePage(resp, body)
			if resp.StatusCode == http.StatusOK && hasPasswordForm(page) {
				return probeNoSession, nil // the IdP asks for credentials
			}
			return "", Fail(ReasonIdPError, "the IdP answered the prompt=none check with %d%s instead of redirecting back (OIDC Core §3.1.2.6)", resp.StatusCode, saying(page)).With(F("status", resp.StatusCode))
		}
		loc, err := resp.Location()
		if err != nil {
			return "", Fail(ReasonIdPError, "the IdP answered %d without a usable Location", resp.StatusCode)
		}
		if !sameEndpoint(loc, s.redirect) {
			if req, err = w.redirectRequest(ctx, req, resp.StatusCode, loc); err != nil {
				return "", err
			}
			continue
		}
		cq := loc.Query()
		if code := cq.Get("code"); code != "" {
			st.Secrets.Add(code)
			return probeCode, nil
		}
		switch e := cq.Get("error"); {
		case e == probeNoSession || containsStr(sessionErrors, e):
			return e, nil
		default:
			return "", Fail(ReasonIdPError, "the IdP refused the prompt=none check of the session with error=%q: %s (it must answer a code, login_required or interaction_required)", e, cq.Get("error_description")).
				With(F("error", e))
		}
	}
	return "", Fail(ReasonIdPError, "the prompt=none check did not come back to redirect_uri within %d requests", maxLogoutRequests)
}

func hasPasswordForm(page *loginpage.Page) bool {
	for _, f := range page.Forms {
		if passwordField(f) != nil {
			return true
		}
	}
	return strings.Contains(strings.ToLower(page.Text), "password")
}
