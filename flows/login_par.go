package flows

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/oautherr"
)

// parEndpoint is the pushed authorization request endpoint (RFC 9126): it
// takes client credentials like the token endpoint, so a redirect from it is
// refused the same way.
var parEndpoint = &credentialEndpoint{"pushed authorization request endpoint", "par_url"}

// Discovery fields of RFC 9126 §5.
const (
	discoveryPAREndpoint = "pushed_authorization_request_endpoint"
	discoveryRequirePAR  = "require_pushed_authorization_requests"
)

// usePAR decides whether this login pushes its authorization request: the
// flow's par when set, else what the IdP's discovery demands.
func (s *LoginStep) usePAR(doc *DiscoveryDoc) bool {
	if s.PAR != nil {
		return *s.PAR
	}
	return doc.requiresPAR()
}

// parURL finds the PAR endpoint: par_url, or discovery (its mTLS alias
// when the step presents a client certificate: RFC 9126 §5).
func (s *LoginStep) parURL(st *State, doc *DiscoveryDoc) (string, error) {
	u, err := expandEndpoint(st, "par_url", s.PARURL, false)
	if err != nil || u != "" {
		return u, err
	}
	if doc != nil && doc.PAREndpoint != "" {
		return mtlsEndpoint(st, s.TLSOptions, doc, discoveryPAREndpoint, doc.PAREndpoint), nil
	}
	if doc == nil {
		return "", Fail(ReasonConfigInvalid, "par: true needs the PAR endpoint: give issuer (discovery names it) or par_url")
	}
	f := Fail(ReasonDiscoveryFailed, "the flow pushes its authorization request (par: true), but the IdP's discovery document names no %s: the IdP does not offer PAR (RFC 9126), or it was turned off", discoveryPAREndpoint).
		With(F("missing_fields", discoveryPAREndpoint))
	f.Next = "Turn pushed authorization requests on at the IdP for this client again, or set par: false if plain authorization requests are meant to be used now."
	return "", f
}

// pushAuthorizationRequest sends the authorization request's parameters to
// the PAR endpoint with the client's authentication (RFC 9126 §2.1) and
// returns the URL the browser is sent to: the authorization endpoint with
// client_id and the request_uri the IdP gave (§4).
func (s *LoginStep) pushAuthorizationRequest(ctx context.Context, st *State, authURL string, doc *DiscoveryDoc, params url.Values) (string, error) {
	endpoint, err := s.parURL(st, doc)
	if err != nil {
		return "", err
	}
	st.Note("the authorization request was pushed to the PAR endpoint (RFC 9126); the browser got only its request_uri")
	form, user, pass, err := s.parClientAuth(ctx, st, params)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", Fail(ReasonConfigInvalid, "par_url %q is not a URL: %v", truncate(endpoint, 80), err).Wrap(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions, Endpoint: parEndpoint})
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		var f *Failure
		if errors.As(err, &f) {
			return "", f
		}
		return "", err // the runner classifies network errors
	}
	body, err := readBody(resp)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", s.parRefused(st, endpoint, resp, body)
	}
	var answer struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  any    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.RequestURI == "" {
		return "", Fail(ReasonIdPError, "the PAR endpoint %s answered %d without a request_uri (RFC 9126 §2.2 answers 201 with request_uri and expires_in)", endpoint, resp.StatusCode).
			With(F("status", resp.StatusCode))
	}
	// The request_uri stands for the whole authorization request until it
	// is used: one more one-time value not to show.
	st.Secrets.Add(answer.RequestURI)
	u, err := url.Parse(authURL)
	if err != nil {
		return "", Fail(ReasonDiscoveryFailed, "the authorization endpoint %q is not a URL", truncate(authURL, 80))
	}
	q := u.Query()
	q.Set("client_id", params.Get("client_id"))
	q.Set("request_uri", answer.RequestURI)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// parClientAuth adds the client's authentication to the pushed parameters,
// the same methods as at the token endpoint; user and pass are the Basic
// credentials when that is the method.
func (s *LoginStep) parClientAuth(ctx context.Context, st *State, params url.Values) (form url.Values, user, pass string, err error) {
	form = cloneValues(params)
	if s.authMethod() == authNone || s.usesTLSClientAuth() {
		// The connection's certificate authenticates a mutual TLS client:
		// the body has only its client_id (RFC 8705 §2).
		return form, "", "", nil
	}
	// The client's credentials, as the token request would send them.
	// A private_key_jwt assertion is addressed as for the token endpoint
	// (RFC 9126 §2: the AS accepts its issuer, token endpoint or PAR
	// endpoint as aud; client_assertion_audience chooses).
	tokenURL, _, err := s.tokenEndpoint(ctx, st)
	if err != nil {
		return nil, "", "", err
	}
	cfg, err := s.config(st, tokenURL, "", nil)
	if err != nil {
		return nil, "", "", err
	}
	if cfg, err = s.withClientAssertion(st, cfg); err != nil {
		return nil, "", "", err
	}
	for _, k := range []string{"client_assertion_type", "client_assertion"} {
		if v := cfg.EndpointParams.Get(k); v != "" {
			form.Set(k, v)
		}
	}
	switch {
	case s.usesAssertion():
		return form, "", "", nil
	case cfg.AuthStyle == oauth2.AuthStyleInHeader:
		// RFC 6749 §2.3.1: both form-encoded, as x/oauth2 does.
		return form, url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret), nil
	default:
		form.Set("client_secret", cfg.ClientSecret)
		return form, "", "", nil
	}
}

// parRefused classifies a refused PAR request as a token request's refusal
// is classified (RFC 9126 §2.3 uses the token endpoint's errors), naming the
// PAR endpoint.
func (s *LoginStep) parRefused(st *State, endpoint string, resp *http.Response, body []byte) error {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	if oe, ok := oautherr.Parse(resp.Header.Get("Content-Type"), body); ok {
		re.ErrorCode, re.ErrorDescription = oe.Code, oe.Description
	}
	// invalid_redirect_uri is RFC 9126's own code; oidc-provider (and
	// others) say invalid_request and name the redirect_uri.
	d := strings.ToLower(re.ErrorDescription)
	if re.ErrorCode == "invalid_redirect_uri" || (re.ErrorCode == "invalid_request" && (strings.Contains(d, "redirect_uri") || strings.Contains(d, "redirect uri"))) {
		said := describeOAuthError(resp.StatusCode, oauthError(re, resp.Header))
		return Fail(ReasonRedirectURIMismatch, "the PAR endpoint refused the authorization request's redirect_uri: %s", said).
			With(F("status", resp.StatusCode), F("error", re.ErrorCode), F("redirect_uri", s.RedirectURI))
	}
	err := s.tokenError(st, grantAuthorizationCode, endpoint, re)
	var f *Failure
	if errors.As(err, &f) {
		f.Summary = strings.Replace(f.Summary, "the token endpoint", "the PAR endpoint", 1)
		f.Summary = strings.Replace(f.Summary, "the authorization_code grant", "the pushed authorization request", 1)
		f.With(F("endpoint", "pushed_authorization_request"))
	}
	return err
}

// requiresPAR reads require_pushed_authorization_requests leniently: only a
// JSON true demands PAR; any other value is the IdP's problem, not a reason
// to refuse the whole discovery document.
func (d *DiscoveryDoc) requiresPAR() bool {
	return d != nil && strings.TrimSpace(string(d.fields[discoveryRequirePAR])) == "true"
}
