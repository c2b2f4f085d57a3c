package flows

import (
	"context"
	"net/http"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
)

// PreflightStep sends a CORS preflight (Fetch standard §3.2.2: OPTIONS with
// Origin and Access-Control-Request-*) and checks that the answer lets a
// browser send the real request. Preflights carry no credentials.
type PreflightStep struct {
	URL         conf.Template `yaml:"url" json:"url" jsonschema:"required"`
	Origin      string        `yaml:"origin" json:"origin" jsonschema:"required,description=The page's origin\\, e.g. https://app.example.com"`
	Method      string        `yaml:"method,omitempty" json:"method,omitempty" jsonschema:"description=The method of the real request (default GET)."`
	Headers     []string      `yaml:"headers,omitempty" json:"headers,omitempty" jsonschema:"description=Request headers the real request sends (e.g. Authorization)."`
	Credentials bool          `yaml:"credentials,omitempty" json:"credentials,omitempty" jsonschema:"description=The real request is sent with credentials (cookies): Allow-Credentials must be true and the origin exact."`
	TLSOptions  `yaml:",inline"`
	Expect      PreflightExpect `yaml:"expect,omitempty" json:"expect,omitempty"`
}

var (
	_ Step         = (*PreflightStep)(nil)
	_ OutputLister = (*PreflightStep)(nil)
)

// Outputs implements OutputLister: a preflight publishes nothing.
func (s *PreflightStep) Outputs() []string { return nil }

// simpleMethods need no Allow-Methods entry (Fetch: CORS-safelisted methods).
var simpleMethods = []string{"GET", "HEAD", "POST"}

// Validate implements Step.
func (s *PreflightStep) Validate() error {
	var errs []error
	errs = append(errs, validateTemplateURL("url", s.URL))
	if err := validateOrigin(s.Origin); err != nil {
		errs = append(errs, conf.FieldError{Path: "origin", Err: err})
	}
	s.Method = strings.ToUpper(s.Method)
	if s.Method == "" {
		s.Method = http.MethodGet
	}
	errs = append(errs, s.TLSOptions.Validate(), conf.PrefixErrors("expect", s.Expect.validate(s.Credentials)))
	return joinErrs(compact(errs))
}

// Run implements Step.
func (s *PreflightStep) Run(ctx context.Context, st *State) error {
	url, err := expandURL(st, s.URL)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, url, nil)
	if err != nil {
		return Fail(ReasonConfigInvalid, "cannot build the request: %v", err).Wrap(err)
	}
	req.Header.Set("Origin", s.Origin)
	req.Header.Set("Access-Control-Request-Method", s.Method)
	if len(s.Headers) > 0 {
		req.Header.Set("Access-Control-Request-Headers", strings.ToLower(strings.Join(s.Headers, ",")))
	}
	client, err := st.Client(ClientOptions{TLS: s.TLSOptions, NoRedirects: true})
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	if _, err := readBody(resp); err != nil {
		return err
	}
	if f := s.judge(resp); f != nil {
		return f.With(F("status", resp.StatusCode), F("origin", s.Origin), F("allow_origin", resp.Header.Get("Access-Control-Allow-Origin")),
			F("allow_methods", resp.Header.Get("Access-Control-Allow-Methods")), F("allow_headers", resp.Header.Get("Access-Control-Allow-Headers")),
			F("allow_credentials", resp.Header.Get("Access-Control-Allow-Credentials")), F("max_age", resp.Header.Get("Access-Control-Max-Age")))
	}
	return checkLatency(st, s.Expect.MaxLatency)
}

// judge checks the answer the way a browser does, in the browser's order,
// then against the flow's explicit expectations.
func (s *PreflightStep) judge(resp *http.Response) *Failure {
	if f := s.browserJudge(resp); f != nil {
		return f
	}
	return s.Expect.check(resp.Header, s.Credentials)
}

// browserJudge is what decides whether a browser sends the real request.
func (s *PreflightStep) browserJudge(resp *http.Response) *Failure {
	h := resp.Header
	if f := s.Expect.checkStatus(resp); f != nil {
		return f
	}
	switch {
	case resp.StatusCode == 401 || resp.StatusCode == 403:
		return preflightRejected(resp)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return Fail(ReasonUnexpectedStatus, "the preflight was answered %d; browsers need a 2xx (usually 204)", resp.StatusCode)
	}
	allowOrigin := h.Get("Access-Control-Allow-Origin")
	switch {
	case allowOrigin == "":
		return Fail(ReasonCORSOriginNotAllowed, "the preflight answer has no Access-Control-Allow-Origin: origin %s is not allowed", s.Origin)
	case allowOrigin == "*" && s.Credentials:
		return Fail(ReasonCORSCredentialsMisconfig, "Access-Control-Allow-Origin is * but the request is sent with credentials: browsers require the exact origin %s", s.Origin)
	case allowOrigin != "*" && allowOrigin != s.Origin:
		return Fail(ReasonCORSOriginNotAllowed, "Access-Control-Allow-Origin is %q, not the page's origin %s", allowOrigin, s.Origin)
	case s.Credentials && h.Get("Access-Control-Allow-Credentials") != "true":
		return Fail(ReasonCORSCredentialsMisconfig, "the request is sent with credentials but Access-Control-Allow-Credentials is %q, not \"true\"", h.Get("Access-Control-Allow-Credentials"))
	}
	if !containsStr(simpleMethods, s.Method) && !listAllows(h.Values("Access-Control-Allow-Methods"), s.Method, !s.Credentials, true) {
		return Fail(ReasonCORSMethodNotAllowed, "Access-Control-Allow-Methods (%q) does not include %s", h.Get("Access-Control-Allow-Methods"), s.Method)
	}
	for _, want := range s.Headers {
		// A wildcard never covers Authorization (Fetch standard).
		wildcardOK := !s.Credentials && !strings.EqualFold(want, "Authorization")
		if !listAllows(h.Values("Access-Control-Allow-Headers"), want, wildcardOK, false) {
			return Fail(ReasonCORSHeaderNotAllowed, "Access-Control-Allow-Headers (%q) does not include %s", h.Get("Access-Control-Allow-Headers"), want)
		}
	}
	return nil
}

// listAllows reports whether a comma-separated allow-list names want.
func listAllows(values []string, want string, wildcardOK, caseSensitive bool) bool {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if (item == "*" && wildcardOK) || item == want || (!caseSensitive && strings.EqualFold(item, want)) {
				return true
			}
		}
	}
	return false
}
