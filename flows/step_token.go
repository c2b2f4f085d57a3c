package flows

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authwatch/authwatch/internal/conf"
)

type grantType string

const (
	grantClientCredentials grantType = "client_credentials"
	grantPassword          grantType = "password"
	grantRefresh           grantType = "refresh_token"
	grantAuthorizationCode grantType = "authorization_code"
	grantDeviceCode        grantType = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client authentication methods at the token endpoint (RFC 6749 §2.3.1).
const (
	authClientSecretBasic = "client_secret_basic"
	authClientSecretPost  = "client_secret_post"
	authNone              = "none"
)

// TokenRequest is what every token grant step shares: where the token
// endpoint is, who the client is, what to ask for and what to expect.
// Every run asks the token endpoint afresh, so an outage of the token
// endpoint shows at once, unless the step opts in to the shared token cache
// (SharedCache, client_credentials and password only).
type TokenRequest struct {
	Issuer       conf.Template            `yaml:"issuer,omitempty" json:"issuer,omitempty" jsonschema:"description=Issuer URL: the token endpoint and JWKS come from its discovery document. May be a template such as ${env:ISSUER}."`
	TokenURL     conf.Template            `yaml:"token_url,omitempty" json:"token_url,omitempty" jsonschema:"description=Token endpoint URL (instead of\\, or overriding\\, discovery); may be a template such as ${steps.ID.token_endpoint} of a discovery step."`
	JWKSURL      conf.Template            `yaml:"jwks_url,omitempty" json:"jwks_url,omitempty" jsonschema:"description=JWKS URL for verifying JWTs when no issuer is given; may be a template such as ${steps.ID.jwks_uri}."`
	ClientID     conf.Template            `yaml:"client_id" json:"client_id" jsonschema:"required"`
	ClientSecret conf.Template            `yaml:"client_secret,omitempty" json:"client_secret,omitempty" jsonschema:"description=A secret reference such as ${env:CLIENT_SECRET}; never a literal in production."`
	ClientAuth   string                   `yaml:"client_auth,omitempty" json:"client_auth,omitempty" jsonschema:"enum=client_secret_basic,enum=client_secret_post,enum=private_key_jwt,enum=client_secret_jwt,enum=tls_client_auth,enum=self_signed_tls_client_auth,enum=none,description=Client authentication method (default client_secret_basic). Set explicitly: auto-detection hides the real error. private_key_jwt signs an assertion with client_key; client_secret_jwt with the client secret (HS256); tls_client_auth and self_signed_tls_client_auth (RFC 8705) authenticate with tls_client_certificate."`
	Scopes       []string                 `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	Audience     string                   `yaml:"audience,omitempty" json:"audience,omitempty" jsonschema:"description=Sent as the audience parameter (Auth0\\, Okta custom authorization servers)."`
	Resource     []string                 `yaml:"resource,omitempty" json:"resource,omitempty" jsonschema:"description=RFC 8707 resource indicators."`
	Params       map[string]conf.Template `yaml:"params,omitempty" json:"params,omitempty" jsonschema:"description=Extra token request parameters."`
	TLSOptions   `yaml:",inline"`
	Expect       TokenExpect `yaml:"expect,omitempty" json:"expect,omitempty"`

	// The options of client_auth private_key_jwt and client_secret_jwt.
	ClientAssertion `yaml:",inline"`
	// Sender-constrained tokens (RFC 9449).
	DPoPOptions `yaml:",inline"`
}

var reservedTokenParams = []string{"grant_type", "client_id", "client_secret", "scope", "audience", "resource", "username", "password", "refresh_token", "code", "code_verifier", "redirect_uri", "device_code", "assertion"}

// Validate checks the shared token request fields.
func (r *TokenRequest) Validate() error { return r.validate(false) }

// validate is Validate; refresh allows the rotation expectations.
func (r *TokenRequest) validate(refresh bool) error {
	var errs []error
	if r.Issuer.IsZero() && r.TokenURL.IsZero() {
		errs = append(errs, conf.FieldErrorf("issuer", "give issuer (discovery finds the token endpoint) or token_url"))
	}
	errs = append(errs, validateEndpoint("issuer", r.Issuer, true), validateEndpoint("token_url", r.TokenURL, false),
		validateEndpoint("jwks_url", r.JWKSURL, false))
	if r.ClientID.IsZero() {
		errs = append(errs, conf.FieldErrorf("client_id", "required"))
	}
	switch r.ClientAuth {
	case "", authClientSecretBasic, authClientSecretPost:
		if r.ClientSecret.IsZero() {
			errs = append(errs, conf.FieldErrorf("client_secret", "required for %s (use client_auth: none for a public client)", r.authMethod()))
		}
	case authNone, authPrivateKeyJWT, authClientSecretJWT, authTLSClientAuth, authSelfSignedTLSClientAuth:
	default:
		errs = append(errs, conf.FieldErrorf("client_auth", "must be client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt, tls_client_auth, self_signed_tls_client_auth or none, got %q", r.ClientAuth))
	}
	errs = append(errs, r.validateAssertion()...)
	errs = append(errs, r.validateTLSClientAuth()...)
	for k := range r.Params {
		if containsStr(reservedTokenParams, k) {
			errs = append(errs, conf.FieldErrorf("params."+conf.PathKey(k), "%s is set by the step itself; use the step's own field", k))
		}
	}
	errs = append(errs, r.DPoPOptions.validate()...)
	errs = append(errs, r.TLSOptions.Validate(), conf.PrefixErrors("expect", r.Expect.validate(refresh)))
	return joinErrs(compact(errs))
}

func (r *TokenRequest) authMethod() string {
	if r.ClientAuth == "" {
		return authClientSecretBasic
	}
	return r.ClientAuth
}

// Outputs are the values a token step publishes.
func (r *TokenRequest) Outputs() []string {
	return []string{"access_token", "id_token", "refresh_token", "token_type", "expires_in", "scope", "token_endpoint"}
}

// grant asks the token endpoint for a token with the given grant and
// parameters, checks the answer and publishes the tokens.
func (r *TokenRequest) grant(ctx context.Context, st *State, grant grantType, params url.Values) error {
	return r.grantThen(ctx, st, grant, params, nil)
}

// grantThen is grant with a hook that runs as soon as a token is received,
// before any expectation can fail (a rotated refresh token must be kept
// even when the new access token disappoints).
func (r *TokenRequest) grantThen(ctx context.Context, st *State, grant grantType, params url.Values, received func(*oauth2.Token) error) error {
	tok, endpoint, doc, err := r.requestToken(ctx, st, grant, params)
	if err != nil {
		return r.tokenError(st, grant, endpoint, err)
	}
	return r.accept(ctx, st, tok, endpoint, doc, received)
}

// requestToken sends one token request; errors are left unclassified.
func (r *TokenRequest) requestToken(ctx context.Context, st *State, grant grantType, params url.Values) (*oauth2.Token, string, *DiscoveryDoc, error) {
	cfg, endpoint, doc, err := r.prepare(ctx, st, grant, params)
	if err != nil {
		return nil, endpoint, doc, err
	}
	tok, err := r.fetch(ctx, st, cfg)
	return tok, endpoint, doc, err
}

// prepare finds the token endpoint and builds the request's configuration.
func (r *TokenRequest) prepare(ctx context.Context, st *State, grant grantType, params url.Values) (*clientcredentials.Config, string, *DiscoveryDoc, error) {
	endpoint, doc, err := r.tokenEndpoint(ctx, st)
	if err != nil {
		return nil, endpoint, nil, err
	}
	cfg, err := r.config(st, endpoint, grant, params)
	if err != nil {
		return nil, endpoint, doc, err
	}
	if grant == grantAuthorizationCode || grant == grantDeviceCode {
		// The scope was fixed by the authorization request (RFC 6749 §4.1.3, RFC 8628 §3.4).
		cfg.Scopes = nil
	}
	return cfg, endpoint, doc, nil
}

// fetch sends the token request cfg describes.
func (r *TokenRequest) fetch(ctx context.Context, st *State, cfg *clientcredentials.Config) (*oauth2.Token, error) {
	client, err := st.Client(ClientOptions{TLS: r.TLSOptions, Endpoint: tokenEndpoint})
	if err != nil {
		return nil, err
	}
	key, err := r.dpopKeyFor(st, cfg)
	if err != nil {
		return nil, err
	}
	if key != nil {
		client = withDPoP(st, client, key, "")
	}
	tok, err := r.send(ctx, st, cfg, client)
	if key != nil && isUseDPoPNonce(err) {
		// RFC 9449 §8: once more with the nonce the server gave (the
		// transport keeps it), as a new request: a client assertion's jti
		// is single-use, so it is signed afresh.
		tok, err = r.send(ctx, st, cfg, client)
	}
	if err == nil && key != nil {
		st.dpopState().bind(key, tok.AccessToken, tok.RefreshToken)
	}
	return tok, err
}

// send signs the client's assertion (when it uses one) and sends the token
// request.
func (r *TokenRequest) send(ctx context.Context, st *State, cfg *clientcredentials.Config, client *http.Client) (*oauth2.Token, error) {
	cfg, err := r.withClientAssertion(st, cfg)
	if err != nil {
		return nil, err
	}
	return cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, client))
}

// dpopKeyFor is the key the token request's proofs are signed with: the
// key a refresh token was bound to when this run got it (RFC 9449 §5:
// a public client's refresh token is bound to the key), else the step's
// own when it says dpop: true; nil for no proof.
func (r *TokenRequest) dpopKeyFor(st *State, cfg *clientcredentials.Config) (*dpopKey, error) {
	if rt := cfg.EndpointParams.Get("refresh_token"); rt != "" && st.dpop != nil {
		if key := st.dpop.keyFor(rt); key != nil {
			return key, nil
		}
	}
	if !r.DPoP {
		return nil, nil
	}
	return st.dpopKeyOf(r.DPoPOptions)
}

// accept publishes a received token and checks it against expectations.
func (r *TokenRequest) accept(ctx context.Context, st *State, tok *oauth2.Token, endpoint string, doc *DiscoveryDoc, received func(*oauth2.Token) error) error {
	r.publish(st, tok, endpoint)
	if left, ok := tokenLifetime(st, tok); ok {
		st.Measure(MeasureTokenLifetime, "", left.Seconds())
	}
	if received != nil {
		if err := received(tok); err != nil {
			return err
		}
	}
	if r.Expect.Error != "" {
		return Fail(ReasonAuthNotEnforced, "the token endpoint issued a token, but this grant must be refused with %s", r.Expect.Error)
	}
	if err := st.checkDPoPBinding(tok); err != nil {
		return err
	}
	u, err := r.urls(st)
	if err != nil {
		return err
	}
	return r.Expect.check(ctx, st, keySource{Issuer: u.issuer, JWKSURL: u.jwks, TLS: r.TLSOptions, Doc: doc}, tok)
}

// tokenError classifies a refused grant, or passes a negative check.
func (r *TokenRequest) tokenError(st *State, grant grantType, endpoint string, err error) error {
	if f := (*Failure)(nil); errors.As(err, &f) {
		return f // already classified (a missing secret, discovery, a refused redirect)
	}
	var re *oauth2.RetrieveError
	if r.Expect.Error != "" && errors.As(err, &re) && re.ErrorCode == r.Expect.Error {
		return nil
	}
	err = classifyTokenError(st, grant, endpoint, err)
	f, ok := err.(*Failure)
	if !ok {
		return err
	}
	facts := clientFacts(st, r)
	f.With(facts...)
	r.classifyAssertionRefusal(st, endpoint, f)
	r.classifyCertificateRefusal(st, endpoint, f)
	if f.Reason == ReasonInvalidClient {
		f.Summary += fmt.Sprintf(" (client %s, %s)", factValue(facts, "client_id"), r.authMethod())
	}
	if r.Expect.Error != "" {
		f.Summary += fmt.Sprintf("; the flow expected the error %s", r.Expect.Error)
	}
	return f
}

func factValue(facts []Fact, name string) string {
	for _, f := range facts {
		if f.Name == name {
			return strconv.Quote(f.Value)
		}
	}
	return "(unknown)"
}

// tokenURLs are a token request's endpoint fields, resolved for one run.
type tokenURLs struct{ issuer, token, jwks string }

func (r *TokenRequest) urls(st *State) (u tokenURLs, err error) {
	if u.issuer, err = expandEndpoint(st, "issuer", r.Issuer, true); err != nil {
		return u, err
	}
	if u.token, err = expandEndpoint(st, "token_url", r.TokenURL, false); err != nil {
		return u, err
	}
	u.jwks, err = expandEndpoint(st, "jwks_url", r.JWKSURL, false)
	return u, err
}

// tokenEndpoint finds the token endpoint: token_url, or discovery.
func (r *TokenRequest) tokenEndpoint(ctx context.Context, st *State) (string, *DiscoveryDoc, error) {
	u, err := r.urls(st)
	if err != nil || u.issuer == "" {
		return u.token, nil, err
	}
	need := []string{"token_endpoint"}
	if u.token != "" {
		need = nil
	}
	doc, err := st.Discover(ctx, u.issuer, r.TLSOptions, false, need...)
	if err != nil {
		return "", nil, err
	}
	if u.token != "" {
		return u.token, doc, nil
	}
	return r.mtlsTokenEndpoint(st, doc), doc, nil
}

func (r *TokenRequest) config(st *State, endpoint string, grant grantType, params url.Values) (*clientcredentials.Config, error) {
	id, err := st.Expand(r.ClientID)
	if err != nil {
		return nil, err
	}
	var secret string
	if r.authMethod() != authNone {
		if secret, err = st.Expand(r.ClientSecret); err != nil {
			return nil, err
		}
	}
	if params == nil {
		params = url.Values{}
	}
	// clientcredentials lets grant_type be overridden, which gives every
	// grant the same explicit client authentication and typed errors.
	params.Set("grant_type", string(grant))
	if r.Audience != "" {
		params.Set("audience", r.Audience)
	}
	for _, res := range r.Resource {
		params.Add("resource", res)
	}
	for k, t := range r.Params {
		v, err := st.Expand(t)
		if err != nil {
			return nil, err
		}
		params.Set(k, v)
	}
	// The Basic credential oauth2 builds (RFC 6749 §2.3.1: form-encoded
	// id and secret) is a secret in its own right.
	st.Secrets.Add(base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))),
		base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	style := oauth2.AuthStyleInHeader // never AutoDetect: it retries silently and hides the first error
	if r.authMethod() != authClientSecretBasic {
		style = oauth2.AuthStyleInParams
	}
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: endpoint, Scopes: r.Scopes,
		EndpointParams: params, AuthStyle: style}, nil
}

// publish makes the tokens available to later steps (as secrets).
func (r *TokenRequest) publish(st *State, tok *oauth2.Token, endpoint string) {
	st.SetOutput("access_token", tok.AccessToken, true)
	st.SetOutput("refresh_token", tok.RefreshToken, true)
	if id, ok := tok.Extra("id_token").(string); ok {
		st.SetOutput("id_token", id, true)
	}
	st.SetOutput("token_type", tok.Type(), false)
	st.SetOutput("scope", extraString(tok, "scope"), false)
	st.SetOutput("expires_in", extraString(tok, "expires_in"), false)
	st.SetOutput("token_endpoint", endpoint, false)
}

func extraString(tok *oauth2.Token, key string) string {
	switch v := tok.Extra(key).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// ClientCredentialsStep gets a token with the client_credentials grant (RFC 6749 §4.4).
type ClientCredentialsStep struct {
	TokenRequest `yaml:",inline"`
	SharedCache  `yaml:",inline"`
}

// PasswordStep gets a token with the resource owner password grant
// (RFC 6749 §4.3; deprecated by OAuth 2.1, still common for synthetic users).
type PasswordStep struct {
	TokenRequest `yaml:",inline"`
	SharedCache  `yaml:",inline"`
	Username     conf.Template `yaml:"username" json:"username" jsonschema:"required"`
	Password     conf.Template `yaml:"password" json:"password" jsonschema:"required,description=A secret reference such as ${env:SYNTHETIC_PASSWORD}."`
}

// RefreshStep gets a token with the refresh_token grant (RFC 6749 §6).
// With persist, the refresh token the IdP rotates in is kept in the state
// store before the run completes, and used by the next run: a restart or a
// crash never leaves the monitor holding a dead token.
type RefreshStep struct {
	TokenRequest `yaml:",inline"`
	RefreshToken conf.Template `yaml:"refresh_token" json:"refresh_token" jsonschema:"required,description=Usually ${steps.ID.refresh_token} of an earlier step; with persist the seed used until a rotated token is stored (e.g. ${credential:refresh_token})."`
	Persist      bool          `yaml:"persist,omitempty" json:"persist,omitempty" jsonschema:"description=Keep the rotated refresh token in the state store and use it on the next run."`
}

// TokenStore keeps rotated refresh tokens across runs and restarts. The
// daemon passes its state store; without one, persist falls back to the seed.
type TokenStore interface {
	LoadSecret(ctx context.Context, key string) (string, bool, error)
	SaveSecret(ctx context.Context, key, value string) error
}

var (
	_ Step = (*ClientCredentialsStep)(nil)
	_ Step = (*PasswordStep)(nil)
	_ Step = (*RefreshStep)(nil)
)

// Validate implements Step.
func (s *ClientCredentialsStep) Validate() error {
	return joinErrs(compact([]error{s.TokenRequest.Validate(), s.SharedCache.validate(s.Expect.Error != "", s.Expect.MaxLatency), dpopNotShared(s.SharedCache, s.DPoPOptions)}))
}

// Run implements Step.
func (s *ClientCredentialsStep) Run(ctx context.Context, st *State) error {
	return s.grantShared(ctx, st, grantClientCredentials, nil, s.SharedCache)
}

// Validate implements Step.
func (s *PasswordStep) Validate() error {
	errs := []error{s.TokenRequest.Validate(), s.SharedCache.validate(s.Expect.Error != "", s.Expect.MaxLatency), dpopNotShared(s.SharedCache, s.DPoPOptions)}
	if s.Username.IsZero() {
		errs = append(errs, conf.FieldErrorf("username", "required"))
	}
	if s.Password.IsZero() {
		errs = append(errs, conf.FieldErrorf("password", "required"))
	}
	return joinErrs(compact(errs))
}

// Run implements Step.
func (s *PasswordStep) Run(ctx context.Context, st *State) error {
	user, err := st.Expand(s.Username)
	if err != nil {
		return err
	}
	pass, err := st.Expand(s.Password)
	if err != nil {
		return err
	}
	return s.grantShared(ctx, st, grantPassword, url.Values{"username": {user}, "password": {pass}}, s.SharedCache)
}

// Validate implements Step.
func (s *RefreshStep) Validate() error {
	errs := []error{s.TokenRequest.validate(true)}
	if s.RefreshToken.IsZero() {
		errs = append(errs, conf.FieldErrorf("refresh_token", "required, e.g. ${steps.login.refresh_token}"))
	}
	if s.Persist && s.DPoP && s.DPoPKey.IsZero() && s.authMethod() == authNone {
		// RFC 9449 §5: a public client's refresh token is bound to the key.
		errs = append(errs, conf.FieldErrorf("dpop_key", "persist: true with dpop: true for a public client needs dpop_key: its refresh tokens are bound to the DPoP key, and a key generated for one run is gone by the next"))
	}
	if s.Persist && s.Expect.OldTokenRefused {
		// The stored token would be dead on the next run.
		errs = append(errs, conf.FieldErrorf("expect.old_token_refused", "cannot go with persist: an IdP with reuse detection (RFC 9700 §4.14.2) revokes the whole grant when the replaced token is sent again, so the token persist stores would be dead on the next run; check rotation in a flow that starts from a login"))
	}
	return joinErrs(compact(errs))
}

// Run implements Step.
func (s *RefreshStep) Run(ctx context.Context, st *State) error {
	held, err := s.lockStored(ctx, st)
	if err != nil {
		return err
	}
	if held != nil {
		defer held.Release()
	}
	rt, stored, err := s.currentToken(ctx, st, held)
	if err != nil {
		return err
	}
	st.Secrets.Add(rt)
	err = s.grantThen(ctx, st, grantRefresh, url.Values{"refresh_token": {rt}}, func(tok *oauth2.Token) error {
		if err := s.keep(ctx, st, rt, tok, held); err != nil {
			return err
		}
		if f := revokedRefreshAccepted(st, rt); f != nil {
			return f
		}
		return s.checkRotated(rt, tok)
	})
	if f, ok := err.(*Failure); ok && f.Reason == ReasonRefreshTokenRejected && stored {
		f.Summary += " (the refresh token was the one stored by an earlier run)"
	}
	if err == nil && s.Expect.OldTokenRefused {
		err = s.checkOldTokenRefused(ctx, st, rt)
	}
	return err
}

func (s *RefreshStep) storeKey(st *State) string {
	return "refresh_token/" + st.Flow.Name + "/" + st.StepID()
}

// currentToken is the stored rotated token (the locked one, when held is
// set), or else the seed.
func (s *RefreshStep) currentToken(ctx context.Context, st *State, held LockedToken) (token string, stored bool, err error) {
	if held != nil {
		if v, ok := held.Value(); ok {
			return v, true, nil
		}
	} else if s.Persist && st.runner.Tokens != nil {
		v, ok, err := st.runner.Tokens.LoadSecret(ctx, s.storeKey(st))
		if err != nil {
			return "", false, fmt.Errorf("reading the stored refresh token: %w", err)
		}
		if ok && v != "" {
			return v, true, nil
		}
	}
	if s.Persist && st.runner.Tokens == nil {
		st.Note("persist: no state store here (authwatch check/demo), so the seed refresh token is used")
	}
	rt, err := st.Expand(s.RefreshToken)
	return rt, false, err
}

// keep persists a rotated refresh token before anything else can fail
// (into the held lock, which it releases, when there is one). When the
// IdP did not rotate, the lock is released at once: the stored token is
// still the valid one, and the checks that follow (a JWKS fetch, claims)
// need not keep other nodes waiting.
func (s *RefreshStep) keep(ctx context.Context, st *State, used string, tok *oauth2.Token, held LockedToken) error {
	if tok.RefreshToken == "" || tok.RefreshToken == used {
		if held != nil {
			held.Release()
		}
		return nil
	}
	if !s.Persist || st.runner.Tokens == nil {
		return nil
	}
	// Saved even if the run's deadline passes now: the IdP has already
	// rotated, and the old token is dead.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	save := func() error { return st.runner.Tokens.SaveSecret(saveCtx, s.storeKey(st), tok.RefreshToken) }
	if held != nil {
		save = func() error { return held.Replace(saveCtx, tok.RefreshToken) }
	}
	if err := save(); err != nil {
		return &Failure{Reason: ReasonInternalError, Summary: "the IdP rotated the refresh token but authwatch could not store the new one: " + err.Error(), Err: err}
	}
	return nil
}

func validateHTTPURL(raw string, required bool) error {
	if raw == "" {
		if required {
			return errors.New("required")
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", truncate(raw, 80))
	}
	return nil
}

// tokenLifetime is what the access token had left when it was received:
// its exp claim when it is a JWT (the truth), else the expires_in the IdP
// announced. A token from the shared cache is measured from when it was
// fetched, so its age does not read as a shorter lifetime.
func tokenLifetime(st *State, tok *oauth2.Token) (time.Duration, bool) {
	received := st.received()
	if t := st.inspectJWT(tok.AccessToken); t != nil && t.ExpiresAt != nil {
		return t.ExpiresAt.Sub(received), true
	}
	if !tok.Expiry.IsZero() {
		return tok.Expiry.Sub(received), true
	}
	return 0, false
}
