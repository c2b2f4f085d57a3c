package flows

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
)

// DeviceCodeStep runs the device authorization grant (RFC 8628) with both
// sides automated: it asks for a device code as the device would, walks the
// verification page as the synthetic user (log in, enter or confirm the user
// code, approve), then polls the token endpoint as the device does,
// honouring interval and slow_down.
type DeviceCodeStep struct {
	TokenRequest           `yaml:",inline"`
	UserCredentials        `yaml:",inline"`
	DeviceAuthorizationURL conf.Template `yaml:"device_authorization_url,omitempty" json:"device_authorization_url,omitempty" jsonschema:"description=Device authorization endpoint (instead of\\, or overriding\\, discovery); may be a template such as ${steps.ID.device_authorization_endpoint}."`
	Form                   LoginForm     `yaml:"form,omitempty" json:"form,omitempty" jsonschema:"description=How to find and fill the verification pages (defaults fit common IdPs; approval pages are always approved)."`
}

var (
	_ Step         = (*DeviceCodeStep)(nil)
	_ OutputLister = (*DeviceCodeStep)(nil)
)

// maxDeviceInterval bounds the wait between polls, whatever the IdP says.
const maxDeviceInterval = 60 * time.Second

// Validate implements Step.
func (s *DeviceCodeStep) Validate() error {
	errs := []error{s.TokenRequest.Validate()}
	errs = append(errs, s.UserCredentials.validate()...)
	if s.Issuer.IsZero() && s.DeviceAuthorizationURL.IsZero() {
		errs = append(errs, conf.FieldErrorf("device_authorization_url", "give issuer (discovery finds the device authorization endpoint) or device_authorization_url"))
	}
	errs = append(errs, validateEndpoint("device_authorization_url", s.DeviceAuthorizationURL, false))
	if s.Expect.Error != "" {
		errs = append(errs, conf.FieldErrorf("expect.error", "a device_code step cannot expect a token endpoint error"))
	}
	errs = append(errs, s.Form.validate("form")...)
	if len(s.Form.Actions) > 0 {
		errs = append(errs, conf.FieldErrorf("form.actions", "the device_code step walks the verification pages without a browser: actions need a login or form_login step with browser: true"))
	}
	return joinErrs(compact(errs))
}

// deviceAuth is the device authorization response (RFC 8628 §3.2).
type deviceAuth struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`

	received time.Time // when the response arrived: expires_in counts from here
}

// expiry is when the device code dies; zero when the IdP did not say.
func (da *deviceAuth) expiry() time.Time {
	if da.ExpiresIn <= 0 {
		return time.Time{}
	}
	// Clamped: a hostile expires_in must not overflow.
	return da.received.Add(time.Duration(min(da.ExpiresIn, 24*3600)) * time.Second)
}

// Run implements Step.
func (s *DeviceCodeStep) Run(ctx context.Context, st *State) error {
	user, totp, err := s.UserCredentials.expand(st)
	if err != nil {
		return err
	}
	if err := s.Form.expandFields(st, &user); err != nil {
		return err
	}
	da, err := s.authorize(ctx, st)
	if err != nil {
		return err
	}
	start := da.VerificationURIComplete
	if start == "" {
		start = da.VerificationURI
	}
	if err := validateHTTPURL(start, true); err != nil {
		return Fail(ReasonIdPError, "the device authorization response has no usable verification_uri: %v", err)
	}
	user.userCode = da.UserCode
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions, NoRedirects: true, UseJar: true})
	if err != nil {
		return err
	}
	w := &httpWalk{client: client, user: user, totp: totp,
		policy: walkPolicy{form: &s.Form, approve: true, stopWhenIdle: true}}
	if _, err := w.run(ctx, start); err != nil {
		return err
	}
	return s.poll(ctx, st, da)
}

// authorize asks for a device code, authenticating as the client does at
// the token endpoint (RFC 8628 §3.1).
func (s *DeviceCodeStep) authorize(ctx context.Context, st *State) (*deviceAuth, error) {
	endpoint, err := expandEndpoint(st, "device_authorization_url", s.DeviceAuthorizationURL, false)
	if err != nil {
		return nil, err
	}
	if endpoint == "" {
		u, err := s.urls(st)
		if err != nil {
			return nil, err
		}
		doc, err := st.Discover(ctx, u.issuer, s.TLSOptions, false, "device_authorization_endpoint")
		if err != nil {
			return nil, err
		}
		endpoint = mtlsEndpoint(st, s.TLSOptions, doc, "device_authorization_endpoint", doc.DeviceAuthorizationEndpoint)
	}
	id, err := st.Expand(s.ClientID)
	if err != nil {
		return nil, err
	}
	form := url.Values{}
	if len(s.Scopes) > 0 {
		form.Set("scope", strings.Join(s.Scopes, " "))
	}
	if s.Audience != "" {
		form.Set("audience", s.Audience)
	}
	for _, r := range s.Resource {
		form.Add("resource", r)
	}
	var basicUser, basicPass string
	switch s.authMethod() {
	case authClientSecretBasic, authClientSecretPost:
		secret, err := st.Expand(s.ClientSecret)
		if err != nil {
			return nil, err
		}
		if s.authMethod() == authClientSecretPost {
			form.Set("client_id", id)
			form.Set("client_secret", secret)
		} else {
			basicUser, basicPass = url.QueryEscape(id), url.QueryEscape(secret)
		}
	default:
		form.Set("client_id", id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "device_authorization_url: %v", err)
	}
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
		st.Secrets.Add(strings.TrimPrefix(req.Header.Get("Authorization"), "Basic "))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions, Endpoint: deviceAuthorizationEndpoint})
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	raw, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := &oauth2.RetrieveError{Response: resp, Body: raw}
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(raw, &oe) == nil {
			re.ErrorCode, re.ErrorDescription = oe.Error, oe.Description
		}
		err := classifyTokenError(st, grantDeviceCode, endpoint, re)
		if f, ok := err.(*Failure); ok {
			f.Summary = strings.Replace(f.Summary, "the token endpoint", "the device authorization endpoint", 1)
		}
		return nil, err
	}
	var da deviceAuth
	if err := json.Unmarshal(raw, &da); err != nil || da.DeviceCode == "" || da.UserCode == "" {
		return nil, Fail(ReasonIdPError, "the device authorization endpoint answered %d without device_code and user_code (RFC 8628 §3.2)", resp.StatusCode)
	}
	st.Secrets.Add(da.DeviceCode, da.UserCode)
	if da.VerificationURIComplete != "" {
		st.Secrets.Add(da.VerificationURIComplete)
	}
	da.received = time.Now()
	return &da, nil
}

// pollInterval is the wait between polls the IdP asked for: RFC 8628's
// 5 s default when absent, at least 1 s, at most maxDeviceInterval.
func pollInterval(seconds int) time.Duration {
	if seconds == 0 {
		return 5 * time.Second // RFC 8628 §3.2
	}
	// Clamp before converting: a hostile interval must not overflow.
	return time.Duration(min(max(seconds, 1), int(maxDeviceInterval/time.Second))) * time.Second
}

// poll asks the token endpoint until the grant is approved, refused or
// expired, or the step's deadline passes.
func (s *DeviceCodeStep) poll(ctx context.Context, st *State, da *deviceAuth) error {
	interval := pollInterval(da.Interval)
	params := url.Values{"device_code": {da.DeviceCode}}
	for polls := 1; ; polls++ {
		tok, endpoint, doc, err := s.requestToken(ctx, st, grantDeviceCode, cloneValues(params))
		if err == nil {
			return s.accept(ctx, st, tok, endpoint, doc, nil)
		}
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			return s.tokenError(st, grantDeviceCode, endpoint, err)
		}
		switch re.ErrorCode {
		case "authorization_pending":
			if exp := da.expiry(); !exp.IsZero() && time.Now().After(exp) {
				// Polling on would only wait for the step's deadline.
				return Fail(ReasonIdPError, "the device code expired (expires_in %d s) while the token endpoint still answered authorization_pending after %d polls: the synthetic user's approval did not reach the IdP",
					da.ExpiresIn, polls).With(F("error", re.ErrorCode)).Wrap(err)
			}
		case "slow_down":
			interval = min(interval+5*time.Second, maxDeviceInterval) // RFC 8628 §3.5
		case "expired_token", "access_denied":
			f := Fail(ReasonIdPError, "the token endpoint answered %s after the synthetic user's approval (poll %d): %s",
				re.ErrorCode, polls, quoteOr(re.ErrorDescription, "no description"))
			if re.ErrorCode == "access_denied" {
				f.Next = "The approval was denied: check the IdP's audit log for the synthetic user and this client (policy, consent, a denied device)."
			} else {
				f.Next = "The device code expired before it was approved: the approval page may not have finished; check the IdP's device code lifetime."
			}
			return f.With(F("error", re.ErrorCode)).Wrap(err)
		default:
			return s.tokenError(st, grantDeviceCode, endpoint, err)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return Fail(ReasonTimeout, "the device grant was still pending after %d polls when the step's deadline passed (last answer %s): the approval did not reach the IdP",
				polls, re.ErrorCode).Wrap(context.Cause(ctx))
		case <-t.C:
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Outputs implements OutputLister.
func (s *DeviceCodeStep) Outputs() []string { return s.TokenRequest.Outputs() }
