package flows

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/jwtinspect"
	"github.com/authwatch/authwatch/internal/redact"
)

// UserinfoStep calls the OpenID Provider's userinfo endpoint (OIDC Core
// §5.3) with an access token of an earlier step and checks the claims. A
// signed answer (application/jwt, §5.3.2) is verified against the
// issuer's JWKS, as the login step verifies its ID token.
type UserinfoStep struct {
	Issuer      conf.Template `yaml:"issuer,omitempty" json:"issuer,omitempty" jsonschema:"description=Issuer URL: the userinfo endpoint and the JWKS come from its discovery document."`
	UserinfoURL conf.Template `yaml:"userinfo_url,omitempty" json:"userinfo_url,omitempty" jsonschema:"description=Userinfo endpoint URL (instead of\\, or overriding\\, discovery's userinfo_endpoint); may be a template."`
	Token       conf.Template `yaml:"token" json:"token" jsonschema:"required,description=The access token\\, e.g. ${steps.login.access_token}."`
	ClientID    string        `yaml:"client_id,omitempty" json:"client_id,omitempty" jsonschema:"description=The client the token was issued to: a signed answer's aud must name it."`
	TLSOptions  `yaml:",inline"`
	Expect      UserinfoExpect `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// UserinfoExpect holds a userinfo step's expectations.
type UserinfoExpect struct {
	Sub        conf.Template     `yaml:"sub,omitempty" json:"sub,omitempty" jsonschema:"description=The sub the answer must carry\\, e.g. ${steps.login.sub}."`
	Claims     map[string]string `yaml:"claims,omitempty" json:"claims,omitempty" jsonschema:"description=Claims that must equal these values (e.g. email_verified: \"true\")."`
	Signed     *bool             `yaml:"signed,omitempty" json:"signed,omitempty" jsonschema:"description=true: the answer must be a signed JWT (application/jwt); false: plain JSON. Default: either."`
	MaxLatency conf.Duration     `yaml:"max_latency,omitempty" json:"max_latency,omitempty"`
}

var (
	_ Step         = (*UserinfoStep)(nil)
	_ OutputLister = (*UserinfoStep)(nil)
)

// userinfoOutputs are the standard claims published as outputs.
var userinfoOutputs = []string{"sub", "email", "name", "preferred_username"}

// Outputs implements OutputLister.
func (s *UserinfoStep) Outputs() []string { return userinfoOutputs }

// Validate implements Step.
func (s *UserinfoStep) Validate() error {
	var errs []error
	if s.Issuer.IsZero() && s.UserinfoURL.IsZero() {
		errs = append(errs, conf.FieldErrorf("issuer", "give issuer (discovery finds the userinfo endpoint) or userinfo_url"))
	}
	if s.Token.IsZero() {
		errs = append(errs, conf.FieldErrorf("token", "required, e.g. ${steps.login.access_token}"))
	}
	if s.Expect.Signed != nil && *s.Expect.Signed && s.Issuer.IsZero() {
		errs = append(errs, conf.FieldErrorf("expect.signed", "needs issuer: a signed answer is verified with the issuer's JWKS"))
	}
	errs = append(errs, validateEndpoint("issuer", s.Issuer, true), validateEndpoint("userinfo_url", s.UserinfoURL, false), s.TLSOptions.Validate())
	return joinErrs(compact(errs))
}

// Run implements Step.
func (s *UserinfoStep) Run(ctx context.Context, st *State) error {
	token, err := tokenToSend(st, s.Token)
	if err != nil {
		return err
	}
	endpoint, ks, err := s.endpoint(ctx, st)
	if err != nil {
		return err
	}
	if err := headerValueProblem(st, "token (the Authorization header)", s.Token, token); err != nil {
		return err
	}
	resp, body, err := s.call(ctx, st, endpoint, token)
	if err != nil {
		return err
	}
	info, err := s.read(ctx, st, resp, body, ks)
	if err != nil {
		return err
	}
	for _, name := range userinfoOutputs {
		st.SetOutput(name, scalarText(jsonScalar(info.Claims[name])), false)
	}
	if err := s.check(st, token, info); err != nil {
		return err
	}
	return checkLatency(st, s.Expect.MaxLatency)
}

// endpoint is userinfo_url, or discovery's userinfo_endpoint, and where
// the issuer's keys are.
func (s *UserinfoStep) endpoint(ctx context.Context, st *State) (string, keySource, error) {
	ks := keySource{TLS: s.TLSOptions}
	u, err := expandEndpoint(st, "userinfo_url", s.UserinfoURL, false)
	if err != nil {
		return "", ks, err
	}
	if ks.Issuer, err = expandEndpoint(st, "issuer", s.Issuer, true); err != nil || ks.Issuer == "" {
		return u, ks, err
	}
	need := []string{"userinfo_endpoint"}
	if u != "" {
		need = nil
	}
	if ks.Doc, err = st.Discover(ctx, ks.Issuer, s.TLSOptions, false, need...); err != nil {
		return "", ks, err
	}
	if u == "" {
		// A certificate-bound token is only accepted over mutual TLS.
		u = mtlsEndpoint(st, s.TLSOptions, ks.Doc, "userinfo_endpoint", ks.Doc.UserinfoEndpoint)
	}
	return u, ks, nil
}

// call GETs the endpoint with the bearer token; a refusal is classified as
// an API's (invalid_token, insufficient_scope, ...).
func (s *UserinfoStep) call(ctx context.Context, st *State, endpoint, token string) (*http.Response, []byte, error) {
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions})
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, nil, Fail(ReasonConfigInvalid, "bad userinfo URL %q: %v", endpoint, err).Wrap(err)
	}
	cred := credential{kind: "bearer", bearer: token}
	req.Header.Set("Authorization", "Bearer "+token)
	if key := st.dpopState().keyFor(token); key != nil {
		// A DPoP-bound token goes with its scheme and a proof (RFC 9449 §7).
		req.Header.Set("Authorization", "DPoP "+token)
		client, cred.kind = withDPoP(st, client, key, token), credDPoP
	}
	req.Header.Set("Accept", "application/json, application/jwt")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := readBody(resp)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, classifyStatus(st, &answer{resp: resp, body: body, cred: cred}, []int{http.StatusOK})
	}
	return resp, body, nil
}

// read decodes a plain or signed answer; a signed one is verified first.
func (s *UserinfoStep) read(ctx context.Context, st *State, resp *http.Response, body []byte, ks keySource) (*jwtinspect.Token, error) {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	signed := mt == "application/jwt"
	if want := s.Expect.Signed; want != nil && *want != signed {
		return nil, Fail(ReasonAssertionFailed, "the userinfo endpoint answered %s; the flow expects %s", describeUserinfoType(signed), describeUserinfoType(*want)).
			With(F("content_type", resp.Header.Get("Content-Type")))
	}
	if signed {
		return st.verifiedUserinfo(ctx, string(body), s.ClientID, ks)
	}
	info, err := parseUserinfo(body)
	if err != nil {
		return nil, Fail(ReasonIdPError, "the userinfo endpoint answered 200 without a userinfo answer: %v", err)
	}
	return info, nil
}

func describeUserinfoType(signed bool) string {
	if signed {
		return "a signed JWT (application/jwt)"
	}
	return "plain JSON"
}

// parseUserinfo reads a plain answer: one JSON object with a string sub
// (OIDC Core §5.3.2). Its errors never quote the body.
func parseUserinfo(body []byte) (*jwtinspect.Token, error) {
	m, err := decodeJSONObject(body)
	if err != nil {
		return nil, err
	}
	if len(m) > maxIntrospectionMembers {
		return nil, errors.New("it has more than 1000 members")
	}
	info := jwtinspect.FromClaims(m)
	if info.Subject == "" {
		return nil, errors.New(`it has no string "sub", which OIDC Core §5.3.2 requires`)
	}
	return info, nil
}

// verifiedUserinfo checks a signed answer (OIDC Core §5.3.2: a JWT that
// should carry iss and aud): the issuer's key, iss and aud when present.
func (st *State) verifiedUserinfo(ctx context.Context, raw, clientID string, ks keySource) (*jwtinspect.Token, error) {
	raw = strings.TrimSpace(raw)
	t, err := jwtinspect.Parse(raw)
	if err != nil {
		return nil, Fail(ReasonIdPError, "the userinfo endpoint answered application/jwt that is not a signed JWT: %v", err)
	}
	if f := st.verifySignature(ctx, "signed userinfo", raw, t, ks); f != nil {
		return nil, f
	}
	if want := ks.issuer(); t.Issuer != "" && want != "" && t.Issuer != want {
		return nil, issuerMismatch("the signed userinfo", t.Issuer, want)
	}
	if clientID != "" && len(t.Audience) > 0 && !containsStr(t.Audience, clientID) {
		return nil, Fail(ReasonAudienceMismatch, "the signed userinfo's aud is %s, not the client %q", strings.Join(t.Audience, ", "), clientID).
			With(F("aud", strings.Join(t.Audience, ",")), F("client_id", clientID))
	}
	if t.Subject == "" {
		return nil, Fail(ReasonIdPError, "the signed userinfo has no sub")
	}
	return t, nil
}

// check applies the expectations on sub and claims.
func (s *UserinfoStep) check(st *State, token string, info *jwtinspect.Token) error {
	if !s.Expect.Sub.IsZero() {
		want, err := st.Expand(s.Expect.Sub)
		if err != nil {
			return err
		}
		if info.Subject != want {
			return Fail(ReasonAssertionFailed, "userinfo's sub is %q, expected %q", info.Subject, want).With(F("sub", info.Subject))
		}
	}
	if f := st.checkClaims("userinfo", info, &TokenChecks{Claims: s.Expect.Claims}, ""); f != nil {
		f.Evidence.Token = &TokenEvidence{Fingerprint: redact.Fingerprint(token), Claims: info.SafeClaims()}
		return f
	}
	return nil
}
