package flows

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/redact"
)

// HTTPStep calls a URL and checks the answer. Auth comes from earlier steps
// (a bearer token, basic credentials) or the run's cookie jar.
type HTTPStep struct {
	Method     string                   `yaml:"method,omitempty" json:"method,omitempty" jsonschema:"description=HTTP method (default GET)."`
	URL        conf.Template            `yaml:"url" json:"url" jsonschema:"required"`
	Headers    map[string]conf.Template `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body       conf.Template            `yaml:"body,omitempty" json:"body,omitempty" jsonschema:"description=Request body (set Content-Type in headers)."`
	Auth       *HTTPAuth                `yaml:"auth,omitempty" json:"auth,omitempty"`
	Redirects  *RedirectPolicy          `yaml:"redirects,omitempty" json:"redirects,omitempty"`
	Cookies    *bool                    `yaml:"cookies,omitempty" json:"cookies,omitempty" jsonschema:"description=Send and keep cookies in the run's cookie jar (default true)."`
	TLSOptions `yaml:",inline"`
	Expect     HTTPExpect         `yaml:"expect,omitempty" json:"expect,omitempty"`
	Extract    map[string]Extract `yaml:"extract,omitempty" json:"extract,omitempty" jsonschema:"description=Values published to later steps as ${steps.ID.NAME}."`
}

// HTTPAuth is how a request authenticates. At most one of bearer and basic.
type HTTPAuth struct {
	Bearer conf.Template `yaml:"bearer,omitempty" json:"bearer,omitempty" jsonschema:"description=A bearer token\\, e.g. ${steps.token.access_token}."`
	Basic  *BasicAuth    `yaml:"basic,omitempty" json:"basic,omitempty"`
	DPoP   conf.Template `yaml:"dpop,omitempty" json:"dpop,omitempty" jsonschema:"description=A DPoP-bound access token (RFC 9449)\\, e.g. ${steps.token.access_token} of a step with dpop: true: sent as Authorization: DPoP with a proof (htm\\, htu\\, iat\\, jti\\, ath) of the key it was issued to; one retry on use_dpop_nonce."`
	// CheckBinding sends the request again as Bearer and with another
	// key's proof; the API must refuse both.
	CheckBinding bool `yaml:"check_binding,omitempty" json:"check_binding,omitempty" jsonschema:"description=With dpop: after the call passes\\, send it again with the token as Bearer (no proof) and with a proof of another key: the API must refuse both\\, else token_binding_mismatch (a stolen token would work). GET and HEAD only."`
	// Audience is the identifier the API expects in aud; it lets a 401 be
	// explained as audience_mismatch with both values.
	Audience string `yaml:"audience,omitempty" json:"audience,omitempty" jsonschema:"description=The audience the API expects (used to explain a refused token)."`
}

// validate: exactly one credential; check_binding only with dpop and a
// request that is safe to send three times.
func (a *HTTPAuth) validate(method string) []error {
	n := 0
	for _, given := range []bool{!a.Bearer.IsZero(), a.Basic != nil, !a.DPoP.IsZero()} {
		if given {
			n++
		}
	}
	var errs []error
	switch {
	case n > 1:
		errs = append(errs, conf.FieldErrorf("auth", "give one of bearer, basic or dpop, not several"))
	case n == 0:
		errs = append(errs, conf.FieldErrorf("auth", "give bearer, basic or dpop (or drop auth for an unauthenticated request)"))
	}
	if a.CheckBinding && a.DPoP.IsZero() {
		errs = append(errs, conf.FieldErrorf("auth.check_binding", "goes with auth.dpop: it checks that the API refuses the DPoP-bound token without its proof"))
	}
	if a.CheckBinding && method != http.MethodGet && method != http.MethodHead {
		errs = append(errs, conf.FieldErrorf("auth.check_binding", "sends the request three times, so only GET and HEAD; got %s", method))
	}
	return errs
}

// BasicAuth is HTTP Basic credentials (RFC 7617).
type BasicAuth struct {
	Username conf.Template `yaml:"username" json:"username" jsonschema:"required"`
	Password conf.Template `yaml:"password" json:"password" jsonschema:"required"`
}

// RedirectPolicy says whether and how far redirects are followed.
type RedirectPolicy struct {
	Follow *bool `yaml:"follow,omitempty" json:"follow,omitempty" jsonschema:"description=Follow redirects (default true)."`
	Max    int   `yaml:"max,omitempty" json:"max,omitempty" jsonschema:"description=Most requests in a redirect chain\\, the first included (default 10)."`
}

// Extract publishes a value of the answer: a jq path into the JSON body, or
// a response header. Secret marks it as a credential (redacted everywhere).
type Extract struct {
	JSON   string `yaml:"json,omitempty" json:"json,omitempty" jsonschema:"description=jq expression on the JSON body\\, e.g. .items[0].id"`
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	Secret bool   `yaml:"secret,omitempty" json:"secret,omitempty"`

	query *jqQuery
}

var (
	_ Step         = (*HTTPStep)(nil)
	_ OutputLister = (*HTTPStep)(nil)
)

var validMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// Validate implements Step.
func (s *HTTPStep) Validate() error {
	var errs []error
	s.Method = strings.ToUpper(s.Method)
	if s.Method == "" {
		s.Method = http.MethodGet
	}
	if !containsStr(validMethods, s.Method) {
		errs = append(errs, conf.FieldErrorf("method", "must be one of %s, got %q", strings.Join(validMethods, ", "), s.Method))
	}
	errs = append(errs, validateTemplateURL("url", s.URL))
	if s.Auth != nil {
		errs = append(errs, s.Auth.validate(s.Method)...)
	}
	for name, t := range s.Headers {
		errs = append(errs, validateHeader(name, t))
	}
	if s.Redirects != nil && s.Redirects.Max < 0 {
		errs = append(errs, conf.FieldErrorf("redirects.max", "must not be negative"))
	}
	for name, e := range s.Extract {
		errs = append(errs, conf.PrefixErrors("extract."+conf.PathKey(name), e.validate(name)))
		s.Extract[name] = e
	}
	errs = append(errs, s.TLSOptions.Validate(), conf.PrefixErrors("expect", s.Expect.Validate()), s.validateRevoked())
	return joinErrs(compact(errs))
}

// validateRevoked: a revocation check sends the revoked token as a bearer
// token and expects only refusals.
func (s *HTTPStep) validateRevoked() error {
	switch {
	case !s.Expect.Revoked:
		return nil
	case s.Auth == nil || s.Auth.Bearer.IsZero():
		return conf.FieldErrorf("expect.revoked", "needs auth.bearer: the revoked token, e.g. ${steps.token.access_token}")
	case len(s.Expect.Status.codes) > 0 && !isNegativeCheck(s.Expect.Status.codes):
		return conf.FieldErrorf("expect.status", "with expect.revoked only refusals (401, 403) may be expected")
	}
	return nil
}

func (e *Extract) validate(name string) error {
	if !stepIDPattern.MatchString(name) {
		return conf.FieldErrorf("", "output names are lower-case letters, digits and _")
	}
	if name == "status" || name == "location" {
		return conf.FieldErrorf("", "%q is a built-in output of http steps; choose another name", name)
	}
	if (e.JSON == "") == (e.Header == "") {
		return conf.FieldErrorf("", "give exactly one of json or header")
	}
	if e.JSON != "" {
		q, err := compileJQ(e.JSON)
		if err != nil {
			return conf.FieldError{Path: "json", Err: err}
		}
		e.query = q
	}
	return nil
}

// Outputs implements OutputLister.
func (s *HTTPStep) Outputs() []string {
	out := []string{"status", "location"}
	for name := range s.Extract {
		out = append(out, name)
	}
	return out
}

// Run implements Step.
func (s *HTTPStep) Run(ctx context.Context, st *State) error {
	req, cred, err := s.request(ctx, st)
	if err != nil {
		return err
	}
	opts := s.clientOptions()
	opts.SecretHeaders = cred.headers
	client, err := st.Client(opts)
	if err != nil {
		return err
	}
	if cred.kind == credDPoP {
		if client, err = st.dpopClient(client, cred.bearer); err != nil {
			return err
		}
	}
	resp, err := client.Do(req)
	if s.Expect.ClientCertificate == clientCertRefused {
		return s.expectCertificateRefused(st, resp, err)
	}
	if err != nil {
		return err
	}
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	st.SetOutput("status", strconv.Itoa(resp.StatusCode), false)
	st.SetOutput("location", resp.Header.Get("Location"), false)
	ans := &answer{resp: resp, body: body, cred: cred, audience: s.auth().Audience}
	if f := redirectedToLogin(ans, st.Recorder().Exchanges()); f != nil {
		return f.With(F("status", resp.StatusCode))
	}
	if !s.Expect.statusOK(resp.StatusCode) {
		if s.Expect.Revoked && resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return revokedTokenAccepted(st, ans)
		}
		err := classifyStatus(st, ans, s.Expect.statuses())
		if resp.StatusCode == http.StatusUnauthorized && cred.kind == "bearer" {
			st.dropRefusedToken(cred.bearer, err)
		}
		return err
	}
	if err := s.Expect.check(st, ans); err != nil {
		return err
	}
	if err := s.extract(st, ans); err != nil {
		return err
	}
	if err := checkLatency(st, s.Expect.MaxLatency); err != nil {
		return err
	}
	if s.auth().CheckBinding {
		st.step.answer = st.lastExchange() // the probes' refusals are not the step's status
		return s.checkBindingEnforced(ctx, st, cred.bearer)
	}
	return nil
}

// revokedTokenAccepted is an API's 2xx to a token that was revoked.
func revokedTokenAccepted(st *State, a *answer) *Failure {
	by := "it was revoked before this step"
	revokedBy, revoked := revokedEarlier(st, a.cred.bearer)
	if revoked {
		by = fmt.Sprintf("step %q of this run revoked it (the revocation endpoint answered 200)", revokedBy)
	}
	f := Fail(ReasonRevocationIneffective, "%s %s answered %d to a revoked token: %s; a logout or offboarding that revokes tokens does not reach this API (a self-contained JWT stays valid until exp unless the API introspects it)",
		a.resp.Request.Method, a.resp.Request.URL.Redacted(), a.resp.StatusCode, by).
		With(F("status", a.resp.StatusCode), F("token_fingerprint", redact.Fingerprint(a.cred.bearer)))
	if revoked {
		f.With(F("revoked_by_step", revokedBy))
	}
	if t := inspectBearer(a.cred.bearer); t != nil {
		f.Evidence.Token = tokenEvidence(a.cred.bearer, t)
	}
	return f
}

func (s *HTTPStep) auth() HTTPAuth {
	if s.Auth == nil {
		return HTTPAuth{}
	}
	return *s.Auth
}

func (s *HTTPStep) clientOptions() ClientOptions {
	o := ClientOptions{TLS: s.TLSOptions, UseJar: s.Cookies == nil || *s.Cookies}
	if s.Expect.ClientCertificate == "" {
		o.ExpectedStatuses = s.Expect.statuses()
	}
	if s.Redirects != nil {
		o.NoRedirects = s.Redirects.Follow != nil && !*s.Redirects.Follow
		o.MaxRedirects = s.Redirects.Max
	}
	return o
}

// credential is what the request carried to authenticate, for explaining
// a refusal.
type credential struct {
	kind    string   // "bearer", "basic", "header" or ""
	bearer  string   // the raw bearer token (never shown)
	headers []string // headers other than Authorization that carry credentials
}

func (s *HTTPStep) request(ctx context.Context, st *State) (*http.Request, credential, error) {
	var cred credential
	url, err := expandURL(st, s.URL)
	if err != nil {
		return nil, cred, err
	}
	body, err := st.Expand(s.Body)
	if err != nil {
		return nil, cred, err
	}
	req, err := http.NewRequestWithContext(ctx, s.Method, url, strings.NewReader(body))
	if err != nil {
		return nil, cred, Fail(ReasonConfigInvalid, "cannot build the request: %v", err).Wrap(err)
	}
	if body == "" {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	if err := s.setHeaders(st, req, &cred); err != nil {
		return nil, cred, err
	}
	if err := s.setAuth(st, req, &cred); err != nil {
		return nil, cred, err
	}
	return req, cred, nil
}

// setHeaders sets the step's headers and notes which carry credentials.
func (s *HTTPStep) setHeaders(st *State, req *http.Request, cred *credential) error {
	for name, t := range s.Headers {
		v, err := st.Expand(t)
		if err != nil {
			return err
		}
		if err := headerValueProblem(st, "header "+name, t, v); err != nil {
			return err
		}
		req.Header.Set(name, v)
		if s.secretHeader(st, name, t) {
			cred.headers = append(cred.headers, http.CanonicalHeaderKey(name))
		}
	}
	if req.Header.Get("Authorization") != "" {
		cred.kind = "header"
	}
	return nil
}

// setAuth sets Authorization from auth: bearer or basic.
func (s *HTTPStep) setAuth(st *State, req *http.Request, cred *credential) error {
	a := s.auth()
	switch {
	case !a.Bearer.IsZero():
		tok, err := st.Expand(a.Bearer)
		if err != nil {
			return err
		}
		if err := headerValueProblem(st, "auth.bearer (the Authorization header)", a.Bearer, tok); err != nil {
			return err
		}
		st.Secrets.Add(tok)
		req.Header.Set("Authorization", "Bearer "+tok)
		cred.kind, cred.bearer = "bearer", tok
	case !a.DPoP.IsZero():
		tok, err := st.Expand(a.DPoP)
		if err != nil {
			return err
		}
		if err := headerValueProblem(st, "auth.dpop (the Authorization header)", a.DPoP, tok); err != nil {
			return err
		}
		st.Secrets.Add(tok)
		req.Header.Set("Authorization", "DPoP "+tok)
		cred.kind, cred.bearer = credDPoP, tok
	case a.Basic != nil:
		user, err := st.Expand(a.Basic.Username)
		if err != nil {
			return err
		}
		pass, err := st.Expand(a.Basic.Password)
		if err != nil {
			return err
		}
		st.Secrets.Add(pass, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		req.SetBasicAuth(user, pass)
		cred.kind = "basic"
	}
	return nil
}

// secretHeader: a header carries credentials when it is one by name
// (Cookie, X-Api-Key, ...) or its value comes from a secret reference or a
// secret output of an earlier step.
func (s *HTTPStep) secretHeader(st *State, name string, t conf.Template) bool {
	if redact.SensitiveHeader(name) {
		return true
	}
	for _, r := range t.Refs() {
		if r.IsSecret() || st.isSecretOutput(r.Name, r.Output) {
			return true
		}
	}
	return false
}

func (s *HTTPStep) extract(st *State, ans *answer) error {
	for name, e := range s.Extract {
		var v string
		if e.Header != "" {
			v = ans.resp.Header.Get(e.Header)
		} else {
			doc, err := ans.json()
			if err != nil {
				return Fail(ReasonAssertionFailed, "extract %s: the body is not JSON: %v", name, err)
			}
			got, err := e.query.first(doc)
			if err != nil {
				return Fail(ReasonAssertionFailed, "extract %s: %s: %v", name, e.JSON, err)
			}
			v = scalarText(got)
		}
		if v == "" {
			return Fail(ReasonAssertionFailed, "extract %s: %s gave nothing", name, e.describe())
		}
		st.SetOutput(name, v, e.Secret)
	}
	return nil
}

func (e Extract) describe() string {
	if e.Header != "" {
		return "header " + e.Header
	}
	return "json " + e.JSON
}

// validateHeader checks what is known at load: the name, and the literal
// text of the value.
func validateHeader(name string, t conf.Template) error {
	path := "headers." + conf.PathKey(name)
	if !httpguts.ValidHeaderFieldName(name) {
		return conf.FieldErrorf(path, "not a valid header name (letters, digits and !#$%%&'*+-.^_`|~ only)")
	}
	if i := controlCharAt(t.String()); i >= 0 {
		return conf.FieldErrorf(path, "the value holds a control character (%U at byte %d), which an HTTP header cannot carry", rune(t.String()[i]), i)
	}
	return nil
}

// controlCharAt is the index of the first byte an HTTP header value cannot
// carry (a control character other than tab), or -1.
func controlCharAt(v string) int {
	return strings.IndexFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f })
}

// headerValueProblem fails a header value HTTP cannot carry before it is
// sent: from a secret it is the configuration's fault (config_invalid),
// from an earlier step's output the fault of the answer it came from.
func headerValueProblem(st *State, what string, t conf.Template, v string) error {
	i := controlCharAt(v)
	if i < 0 {
		return nil
	}
	at := fmt.Sprintf("%U at byte %d", rune(v[i]), i)
	var secrets, outputs []string
	for _, r := range t.Refs() {
		if r.IsSecret() {
			secrets = append(secrets, r.String())
		} else {
			outputs = append(outputs, r.String())
		}
	}
	switch {
	case len(secrets) > 0:
		return Fail(ReasonConfigInvalid, "%s: the value of %s holds a control character (%s), which an HTTP header cannot carry; fix the secret (a trailing newline in a file?)",
			what, strings.Join(secrets, ", "), at)
	case len(outputs) > 0:
		ref := t.Refs()[0]
		return Fail(outputReason(st, ref.Name), "%s: %s holds a control character (%s), which an HTTP header cannot carry: step %q got a malformed value from its target",
			what, strings.Join(outputs, ", "), at, ref.Name)
	}
	return Fail(ReasonConfigInvalid, "%s: the value holds a control character (%s), which an HTTP header cannot carry", what, at)
}

// outputReason blames the layer an output came from: an API's answer
// (http steps) or the IdP's (token and login steps).
func outputReason(st *State, stepID string) Reason {
	for _, spec := range st.Flow.Steps {
		if spec.ID == stepID && spec.Kind == "http" {
			return ReasonAssertionFailed
		}
	}
	return ReasonIdPError
}

func validateTemplateURL(path string, t conf.Template) error {
	if t.IsZero() {
		return conf.FieldErrorf(path, "required")
	}
	if len(t.Refs()) > 0 && strings.HasPrefix(t.String(), "${") {
		return nil // the URL itself comes from an earlier step
	}
	if err := validateHTTPURL(t.String(), true); err != nil && len(t.Refs()) == 0 {
		return conf.FieldError{Path: path, Err: err}
	}
	return nil
}

func scalarText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	default:
		return fmt.Sprint(t)
	}
}

// expandURL expands a URL template and checks the result, which may come
// from an earlier step's output (a relative Location, say).
func expandURL(st *State, t conf.Template) (string, error) {
	u, err := st.Expand(t)
	if err != nil {
		return "", err
	}
	if err := validateHTTPURL(u, true); err != nil {
		return "", Fail(ReasonConfigInvalid, "url %s expanded to a value that is not usable: %v", t, err)
	}
	return u, nil
}
