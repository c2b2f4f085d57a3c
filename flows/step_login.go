package flows

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/jwtinspect"
	"github.com/authwatch/authwatch/internal/loginpage"
)

// LoginStep logs the synthetic user in through the IdP's own login page with
// the authorization code grant, PKCE (S256) and OpenID Connect: it walks the
// pages like a browser (or drives one), stops at the redirect_uri without
// needing a listener there, checks state, exchanges the code with the
// verifier and verifies the ID token (signature, iss, aud, nonce, exp,
// at_hash).
type LoginStep struct {
	TokenRequest     `yaml:",inline"`
	UserCredentials  `yaml:",inline"`
	RedirectURI      string                   `yaml:"redirect_uri" json:"redirect_uri" jsonschema:"required,description=A redirect URI registered for the client; nothing needs to listen there: the walk stops when the IdP redirects to it."`
	AuthorizationURL conf.Template            `yaml:"authorization_url,omitempty" json:"authorization_url,omitempty" jsonschema:"description=Authorization endpoint (instead of\\, or overriding\\, discovery); may be a template such as ${steps.ID.authorization_endpoint}."`
	Prompt           string                   `yaml:"prompt,omitempty" json:"prompt,omitempty" jsonschema:"description=OIDC prompt parameter (e.g. login)."`
	ACRValues        string                   `yaml:"acr_values,omitempty" json:"acr_values,omitempty"`
	AuthParams       map[string]conf.Template `yaml:"auth_params,omitempty" json:"auth_params,omitempty" jsonschema:"description=Extra authorization request parameters."`
	Form             LoginForm                `yaml:"form,omitempty" json:"form,omitempty" jsonschema:"description=How to find and fill the login pages (defaults fit common IdPs)."`
	UserInfo         bool                     `yaml:"userinfo,omitempty" json:"userinfo,omitempty" jsonschema:"description=Call the userinfo endpoint with the access token and check its sub."`
	Browser          bool                     `yaml:"browser,omitempty" json:"browser,omitempty" jsonschema:"description=Drive headless Chromium (Debian package chromium) for login pages that need JavaScript."`
	PAR              *bool                    `yaml:"par,omitempty" json:"par,omitempty" jsonschema:"description=Pushed authorization requests (RFC 9126): true sends the authorization request's parameters to the IdP's PAR endpoint with the client's authentication first and the browser only a request_uri; false never; default: when discovery says require_pushed_authorization_requests."`
	PARURL           conf.Template            `yaml:"par_url,omitempty" json:"par_url,omitempty" jsonschema:"description=PAR endpoint (instead of\\, or overriding\\, discovery's pushed_authorization_request_endpoint)."`

	redirect *url.URL
}

var reservedAuthParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "acr_values"}

var (
	_ Step         = (*LoginStep)(nil)
	_ OutputLister = (*LoginStep)(nil)
)

// Validate implements Step.
func (s *LoginStep) Validate() error {
	errs := []error{s.TokenRequest.Validate()}
	errs = append(errs, s.UserCredentials.validate()...)
	if s.RedirectURI == "" {
		errs = append(errs, conf.FieldErrorf("redirect_uri", "required: a redirect URI registered for the client (nothing needs to listen there)"))
	} else if err := validateHTTPURL(s.RedirectURI, true); err != nil {
		errs = append(errs, conf.FieldError{Path: "redirect_uri", Err: err})
	} else {
		s.redirect, _ = url.Parse(s.RedirectURI)
	}
	if s.Issuer.IsZero() && s.AuthorizationURL.IsZero() {
		errs = append(errs, conf.FieldErrorf("authorization_url", "give issuer (discovery finds the authorization endpoint) or authorization_url"))
	}
	errs = append(errs, validateEndpoint("authorization_url", s.AuthorizationURL, false), validateEndpoint("par_url", s.PARURL, false))
	if s.PAR != nil && *s.PAR && s.Issuer.IsZero() && s.PARURL.IsZero() {
		errs = append(errs, conf.FieldErrorf("par", "par: true needs the PAR endpoint: give issuer (discovery names it) or par_url"))
	}
	for k := range s.AuthParams {
		if containsStr(reservedAuthParams, k) {
			errs = append(errs, conf.FieldErrorf("auth_params."+conf.PathKey(k), "%s is set by the step itself; use the step's own field", k))
		}
	}
	if s.Expect.Error != "" {
		errs = append(errs, conf.FieldErrorf("expect.error", "a login step cannot expect a token endpoint error; expect a failure reason with a separate flow instead"))
	}
	if s.UserInfo && s.Issuer.IsZero() {
		errs = append(errs, conf.FieldErrorf("userinfo", "needs issuer: the userinfo endpoint comes from discovery"))
	}
	errs = append(errs, s.Form.validate("form")...)
	errs = append(errs, s.Form.validateBrowserOnly(s.Browser))
	return joinErrs(compact(errs))
}

// Outputs implements OutputLister.
func (s *LoginStep) Outputs() []string {
	return append(s.TokenRequest.Outputs(), "sub")
}

// loginTx is one authorization request's one-time values.
type loginTx struct {
	state, nonce, verifier string
}

func newLoginTx() loginTx {
	return loginTx{state: randomToken(), nonce: randomToken(), verifier: oauth2.GenerateVerifier()}
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Run implements Step.
func (s *LoginStep) Run(ctx context.Context, st *State) error {
	user, totp, err := s.UserCredentials.expand(st)
	if err != nil {
		return err
	}
	if err := s.Form.expandFields(st, &user); err != nil {
		return err
	}
	authURL, doc, err := s.authorizationEndpoint(ctx, st)
	if err != nil {
		return err
	}
	clientID, err := st.Expand(s.ClientID)
	if err != nil {
		return err
	}
	tx := newLoginTx()
	st.Secrets.Add(tx.verifier, tx.state, tx.nonce)
	start, params, err := s.authorizationRequest(st, authURL, clientID, tx)
	if err != nil {
		return err
	}
	if s.usePAR(doc) {
		if start, err = s.pushAuthorizationRequest(ctx, st, authURL, doc, params); err != nil {
			return err
		}
	}
	pol := walkPolicy{form: &s.Form, approve: s.Form.Consent == consentApprove, browserOption: !s.Browser}
	var callback *url.URL
	if s.Browser {
		callback, err = browserWalk(ctx, st, s.TLSOptions, start, s.redirect, user, pol, totp)
	} else {
		callback, err = s.httpLogin(ctx, st, start, user, pol, totp)
	}
	if err != nil {
		return err
	}
	code, err := s.readCallback(st, callback, tx, doc)
	if err != nil {
		return err
	}
	return s.exchange(ctx, st, code, clientID, tx, doc)
}

func (s *LoginStep) httpLogin(ctx context.Context, st *State, start string, user loginUser, pol walkPolicy, totp func() (string, error)) (*url.URL, error) {
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions, NoRedirects: true, UseJar: true})
	if err != nil {
		return nil, err
	}
	w := &httpWalk{client: client, user: user, policy: pol, stopAt: s.redirect, totp: totp}
	return w.run(ctx, start)
}

// expandFields resolves form.fields into u.
func (f *LoginForm) expandFields(st *State, u *loginUser) error {
	if len(f.Fields) == 0 {
		return nil
	}
	u.fields = make(map[string]string, len(f.Fields))
	for k, t := range f.Fields {
		v, err := st.Expand(t)
		if err != nil {
			return err
		}
		u.fields[k] = v
	}
	return nil
}

// expand resolves the user's credentials; totp is nil without a secret.
func (c *UserCredentials) expand(st *State) (loginUser, func() (string, error), error) {
	var u loginUser
	var err error
	if u.username, err = st.Expand(c.Username); err != nil {
		return u, nil, err
	}
	if u.password, err = st.Expand(c.Password); err != nil {
		return u, nil, err
	}
	// A literal password in the flow file is still a password: never echo it.
	st.Secrets.Add(u.password)
	if !c.OTP.IsZero() {
		code, err := st.Expand(c.OTP)
		if err != nil {
			return u, nil, err
		}
		st.Secrets.Add(code)
		return u, func() (string, error) { return code, nil }, nil
	}
	if c.TOTPSecret.IsZero() {
		return u, nil, nil
	}
	if u.totpSecret, err = st.Expand(c.TOTPSecret); err != nil {
		return u, nil, err
	}
	st.Secrets.Add(u.totpSecret)
	secret := u.totpSecret
	return u, func() (string, error) {
		code, err := totpCode(secret, st.Now())
		if err == nil {
			st.Secrets.Add(code)
		}
		return code, err
	}, nil
}

func (s *LoginStep) authorizationEndpoint(ctx context.Context, st *State) (string, *DiscoveryDoc, error) {
	u, err := s.urls(st)
	if err != nil {
		return "", nil, err
	}
	authURL, err := expandEndpoint(st, "authorization_url", s.AuthorizationURL, false)
	if err != nil || u.issuer == "" {
		return authURL, nil, err
	}
	need := []string{"authorization_endpoint", "token_endpoint"}
	if authURL != "" {
		need = nil
	}
	doc, err := st.Discover(ctx, u.issuer, s.TLSOptions, false, need...)
	if err != nil {
		return "", nil, err
	}
	if authURL != "" {
		return authURL, doc, nil
	}
	return doc.AuthorizationEndpoint, doc, nil
}

// authorizationRequest builds the URL the user's browser would be sent to,
// and the request's own parameters (what a pushed request sends).
func (s *LoginStep) authorizationRequest(st *State, endpoint, clientID string, tx loginTx) (string, url.Values, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", nil, Fail(ReasonDiscoveryFailed, "the authorization endpoint %q is not a URL", truncate(endpoint, 80))
	}
	q := url.Values{}
	q.Set("response_type", "code")
	q.Set("client_id", clientID)
	q.Set("redirect_uri", s.RedirectURI)
	scopes := s.Scopes
	if !containsStr(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	q.Set("scope", strings.Join(scopes, " "))
	q.Set("state", tx.state)
	q.Set("nonce", tx.nonce)
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(tx.verifier))
	q.Set("code_challenge_method", "S256")
	if s.Prompt != "" {
		q.Set("prompt", s.Prompt)
	}
	if s.ACRValues != "" {
		q.Set("acr_values", s.ACRValues)
	}
	if s.Audience != "" {
		q.Set("audience", s.Audience)
	}
	for _, r := range s.Resource {
		q.Add("resource", r)
	}
	for k, t := range s.AuthParams {
		v, err := st.Expand(t)
		if err != nil {
			return "", nil, err
		}
		q.Set(k, v)
	}
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	u.RawQuery = all.Encode()
	return u.String(), q, nil
}

// readCallback checks the redirect_uri request the IdP sent the user to.
func (s *LoginStep) readCallback(st *State, cb *url.URL, tx loginTx, doc *DiscoveryDoc) (string, error) {
	q := cb.Query()
	if code := q.Get("code"); code != "" {
		st.Secrets.Add(code)
	}
	// A different state first: an answer to another login, error or not,
	// says nothing about this one. No state on an error is common (some
	// IdPs drop it there), so the error is reported.
	if got := q.Get("state"); got != "" && got != tx.state {
		return "", Fail(ReasonStateMismatch, "the IdP redirected to the redirect_uri with a different state than the authorization request sent: the answer belongs to another login, or a proxy rewrote the redirect").
			With(F("state_present", true))
	}
	if e := q.Get("error"); e != "" {
		return "", callbackError(e, q.Get("error_description"), s.Form.patterns)
	}
	if q.Get("state") == "" {
		return "", Fail(ReasonStateMismatch, "the IdP redirected to the redirect_uri with no state, although the authorization request sent one: the IdP dropped it, or a proxy rewrote the redirect").
			With(F("state_present", false))
	}
	u, err := s.urls(st)
	if err != nil {
		return "", err
	}
	if iss := q.Get("iss"); iss != "" && u.issuer != "" && iss != u.issuer && (doc == nil || iss != doc.Issuer) {
		return "", Fail(ReasonIssuerMismatch, "the redirect carries iss %q, but the flow's issuer is %q (RFC 9207: a mix-up, or the wrong issuer configured)", iss, u.issuer).
			With(F("callback_iss", iss), F("issuer", u.issuer))
	}
	code := q.Get("code")
	if code == "" {
		return "", Fail(ReasonIdPError, "the IdP redirected to the redirect_uri without a code or an error")
	}
	return code, nil
}

// callbackError classifies error= on the redirect (RFC 6749 §4.1.2.1).
func callbackError(code, desc string, pats loginpage.Patterns) *Failure {
	said := code
	if desc != "" {
		said += ": " + desc
	}
	page := &loginpage.Page{Messages: nonEmpty(desc)}
	f := judgeMessages(page, pats)
	if f == nil || f.Reason == ReasonLoginRejected {
		f = Fail(ReasonIdPError, "the IdP redirected back with an error: %s", said)
		if code == "access_denied" {
			f.Next = "The IdP or the synthetic user denied the request (consent refused, policy, or a denied device approval): check the IdP's audit log for this client and user."
		}
	} else {
		f.Summary = fmt.Sprintf("the IdP redirected back with %s", said)
	}
	f.With(F("error", code))
	if desc != "" {
		f.With(F("error_description", desc))
	}
	return f
}

// exchange trades the code for tokens (with the PKCE verifier), then
// verifies the ID token and calls userinfo.
func (s *LoginStep) exchange(ctx context.Context, st *State, code, clientID string, tx loginTx, doc *DiscoveryDoc) error {
	params := url.Values{"code": {code}, "redirect_uri": {s.RedirectURI}, "code_verifier": {tx.verifier}}
	if s.authMethod() == authNone {
		params.Set("client_id", clientID)
	}
	var tok *oauth2.Token
	err := s.grantThen(ctx, st, grantAuthorizationCode, params, func(t *oauth2.Token) error { tok = t; return nil })
	if tok == nil {
		return err
	}
	u, uerr := s.urls(st) // resolved already by the token request
	if uerr != nil {
		return uerr
	}
	if err != nil {
		// The token expectations failed; the ID token still explains more
		// when it is itself wrong.
		if idErr := st.verifyIDToken(ctx, tok, clientID, tx.nonce, keySource{Issuer: u.issuer, JWKSURL: u.jwks, TLS: s.TLSOptions, Doc: doc}, s.Expect.IDToken); idErr != nil {
			return idErr
		}
		return err
	}
	ks := keySource{Issuer: u.issuer, JWKSURL: u.jwks, TLS: s.TLSOptions, Doc: doc}
	if err := st.verifyIDToken(ctx, tok, clientID, tx.nonce, ks, s.Expect.IDToken); err != nil {
		return err
	}
	if s.UserInfo && doc != nil {
		return s.userinfo(ctx, st, tok, clientID, ks)
	}
	return nil
}

// verifyIDToken checks the ID token of a login: present, signed by the
// issuer's key, iss, aud (the client id by default), times, nonce, and the
// at_hash binding to the access token when present.
func (st *State) verifyIDToken(ctx context.Context, tok *oauth2.Token, clientID, nonce string, ks keySource, checks *TokenChecks) error {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Fail(ReasonIdPError, "the token response has no id_token although the openid scope was requested")
	}
	c := TokenChecks{}
	if checks != nil {
		c = *checks
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{clientID}
	}
	if err := st.checkToken(ctx, "ID token", raw, &c, ks); err != nil {
		return err
	}
	t, err := jwtinspect.Parse(raw)
	if err != nil {
		return Fail(ReasonAssertionFailed, "the ID token does not decode: %v", err)
	}
	ev := tokenEvidence(raw, t)
	got, _ := t.Claims["nonce"].(string)
	if got != nonce {
		what := "a different nonce"
		if got == "" {
			what = "no nonce"
		}
		f := Fail(ReasonStateMismatch, "the ID token carries %s than the authorization request sent: it was not issued for this login (replay, or an IdP that drops nonce)", what)
		f.Evidence.Token = ev
		return f
	}
	if atHash, _ := t.Claims["at_hash"].(string); atHash != "" {
		if want, ok := leftHalfHash(t.Alg, tok.AccessToken); ok && want != atHash {
			f := Fail(ReasonSignatureInvalid, "the ID token's at_hash does not match the access token it came with (OIDC Core §3.1.3.6): the tokens were swapped or altered")
			f.Evidence.Token = ev
			return f
		}
	}
	if sub, _ := t.Claims["sub"].(string); sub != "" {
		st.SetOutput("sub", sub, false)
	}
	return nil
}

func (s *LoginStep) userinfo(ctx context.Context, st *State, tok *oauth2.Token, clientID string, ks keySource) error {
	doc := ks.Doc
	if doc.UserinfoEndpoint == "" {
		return Fail(ReasonDiscoveryFailed, "userinfo: the discovery document has no userinfo_endpoint")
	}
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions})
	if err != nil {
		return err
	}
	// A certificate-bound token is only accepted over mutual TLS.
	endpoint := mtlsEndpoint(st, s.TLSOptions, doc, "userinfo_endpoint", doc.UserinfoEndpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return err
	}
	if i := controlCharAt(tok.AccessToken); i >= 0 {
		return Fail(ReasonIdPError, "userinfo: the access token the token endpoint issued holds a control character (%U at byte %d), which an HTTP header cannot carry",
			rune(tok.AccessToken[i]), i)
	}
	cred := credential{kind: "bearer", bearer: tok.AccessToken}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if key := st.dpopState().keyFor(tok.AccessToken); key != nil {
		// A DPoP-bound token goes with its scheme and a proof (RFC 9449 §7).
		req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		client, cred.kind = withDPoP(st, client, key, tok.AccessToken), credDPoP
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		err := classifyStatus(st, &answer{resp: resp, body: body, cred: cred}, []int{http.StatusOK})
		if f, ok := err.(*Failure); ok && (len(s.Resource) > 0 || s.Audience != "") && resp.StatusCode == http.StatusUnauthorized {
			f.Summary = "userinfo refused the access token: " + f.Summary + "; the token was requested for another API (resource/audience), which some IdPs do not accept at userinfo"
			f.Next = "Drop userinfo from this step, or check userinfo in a login step without resource/audience."
		}
		return err
	}
	var sub string
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/jwt" {
		if sub, err = st.signedUserinfo(ctx, string(body), clientID, ks); err != nil {
			return err
		}
	} else {
		var info struct {
			Sub string `json:"sub"`
		}
		if err := json.Unmarshal(body, &info); err != nil || info.Sub == "" {
			return Fail(ReasonIdPError, "the userinfo endpoint answered 200 without a JSON sub")
		}
		sub = info.Sub
	}
	if idSub, ok := st.Output(st.StepID(), "sub"); ok && sub != idSub {
		return Fail(ReasonAssertionFailed, "userinfo's sub %q differs from the ID token's sub %q (OIDC Core §5.3.2 requires them equal)", sub, idSub)
	}
	return nil
}

// signedUserinfo checks a userinfo answer the client registered as signed
// (see verifiedUserinfo) and returns its sub.
func (st *State) signedUserinfo(ctx context.Context, raw, clientID string, ks keySource) (string, error) {
	t, err := st.verifiedUserinfo(ctx, raw, clientID, ks)
	if err != nil {
		return "", err
	}
	return t.Subject, nil
}

func (ks keySource) issuer() string {
	if ks.Doc != nil && ks.Doc.Issuer != "" {
		return ks.Doc.Issuer
	}
	return ks.Issuer
}

// leftHalfHash is at_hash/c_hash (OIDC Core §3.1.3.6): the left half of
// the hash named by the JWS alg, base64url. ok is false for algs it cannot
// judge.
func leftHalfHash(alg, value string) (string, bool) {
	var h hash.Hash
	switch {
	case strings.HasSuffix(alg, "256"):
		h = sha256.New()
	case strings.HasSuffix(alg, "384"):
		h = sha512.New384()
	case strings.HasSuffix(alg, "512"):
		h = sha512.New()
	default:
		return "", false
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), true
}

// totpCode is the RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret.
func totpCode(secret string, at time.Time) (string, error) {
	code, err := totp.GenerateCodeCustom(strings.ToUpper(strings.ReplaceAll(secret, " ", "")), at, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", errors.New("not a base32 TOTP secret")
	}
	return code, nil
}
