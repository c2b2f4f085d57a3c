package flows

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
)

// PreflightExpect holds what a preflight answer must say beyond what a
// browser needs: the exact status, and each Access-Control-Allow-* header
// as the API's owners mean to configure it.
type PreflightExpect struct {
	Status           StatusList    `yaml:"status,omitempty" json:"status,omitempty" jsonschema:"description=Exact status code or list of codes (default: any 2xx)\\, e.g. 204."`
	AllowOrigin      string        `yaml:"allow_origin,omitempty" json:"allow_origin,omitempty" jsonschema:"description=Exact Access-Control-Allow-Origin value: the origin\\, or *."`
	AllowMethods     []string      `yaml:"allow_methods,omitempty" json:"allow_methods,omitempty" jsonschema:"description=Methods Access-Control-Allow-Methods must list (* counts without credentials)."`
	AllowHeaders     []string      `yaml:"allow_headers,omitempty" json:"allow_headers,omitempty" jsonschema:"description=Headers Access-Control-Allow-Headers must list (* counts without credentials\\, never for Authorization)."`
	AllowCredentials *bool         `yaml:"allow_credentials,omitempty" json:"allow_credentials,omitempty" jsonschema:"description=true: Access-Control-Allow-Credentials must be true; false: it must not be."`
	MinMaxAge        conf.Duration `yaml:"min_max_age,omitempty" json:"min_max_age,omitempty" jsonschema:"description=Access-Control-Max-Age must be present and at least this long (e.g. 10m)."`
	MaxLatency       conf.Duration `yaml:"max_latency,omitempty" json:"max_latency,omitempty"`
}

// validate checks the expectations against the step's own request.
func (e *PreflightExpect) validate(credentials bool) error {
	var errs []error
	for _, c := range e.Status.Codes() {
		if c < 200 || c > 299 {
			errs = append(errs, conf.FieldErrorf("status", "a browser sends the real request only after a 2xx preflight, got %d", c))
			break
		}
	}
	if e.AllowOrigin != "" && e.AllowOrigin != "*" {
		if err := validateOrigin(e.AllowOrigin); err != nil {
			errs = append(errs, conf.FieldError{Path: "allow_origin", Err: err})
		}
	}
	if e.AllowOrigin == "*" && credentials {
		errs = append(errs, conf.FieldErrorf("allow_origin", "* cannot be right for a request with credentials: browsers require the exact origin"))
	}
	if e.AllowCredentials != nil && !*e.AllowCredentials && credentials {
		errs = append(errs, conf.FieldErrorf("allow_credentials", "false contradicts credentials: true (browsers need Access-Control-Allow-Credentials: true for it)"))
	}
	for i, m := range e.AllowMethods {
		if m == "" || strings.ContainsAny(m, " ,") {
			errs = append(errs, conf.FieldErrorf(fmt.Sprintf("allow_methods[%d]", i), "one method name per item, got %q", m))
		}
	}
	for i, h := range e.AllowHeaders {
		if h == "" || strings.ContainsAny(h, " ,:") {
			errs = append(errs, conf.FieldErrorf(fmt.Sprintf("allow_headers[%d]", i), "one header name per item, got %q", h))
		}
	}
	return joinErrs(errs)
}

// validateOrigin accepts scheme://host[:port] and nothing more.
func validateOrigin(origin string) error {
	if err := validateHTTPURL(origin, true); err != nil {
		return err
	}
	if strings.Count(origin, "/") > 2 {
		return fmt.Errorf("an origin is scheme://host[:port] with no path, got %q", origin)
	}
	return nil
}

// checkStatus replaces the browser's 2xx rule when a status is expected.
func (e *PreflightExpect) checkStatus(resp *http.Response) *Failure {
	want := e.Status.Codes()
	if len(want) == 0 || containsInt(want, resp.StatusCode) {
		return nil
	}
	if resp.StatusCode == 401 || resp.StatusCode == 403 {
		return preflightRejected(resp)
	}
	return Fail(ReasonUnexpectedStatus, "the preflight was answered %d, expected %s", resp.StatusCode, e.Status.String())
}

// check applies the explicit expectations after the browser's checks.
func (e *PreflightExpect) check(h http.Header, credentials bool) *Failure {
	if got := h.Get("Access-Control-Allow-Origin"); e.AllowOrigin != "" && got != e.AllowOrigin {
		return Fail(ReasonCORSOriginNotAllowed, "Access-Control-Allow-Origin is %q, expected %q", got, e.AllowOrigin)
	}
	for _, m := range e.AllowMethods {
		if !listAllows(h.Values("Access-Control-Allow-Methods"), m, !credentials, true) {
			return Fail(ReasonCORSMethodNotAllowed, "Access-Control-Allow-Methods (%q) does not include %s, which the flow expects", h.Get("Access-Control-Allow-Methods"), m)
		}
	}
	for _, want := range e.AllowHeaders {
		wildcardOK := !credentials && !strings.EqualFold(want, "Authorization")
		if !listAllows(h.Values("Access-Control-Allow-Headers"), want, wildcardOK, false) {
			return Fail(ReasonCORSHeaderNotAllowed, "Access-Control-Allow-Headers (%q) does not include %s, which the flow expects", h.Get("Access-Control-Allow-Headers"), want)
		}
	}
	if f := e.checkCredentials(h.Get("Access-Control-Allow-Credentials")); f != nil {
		return f
	}
	return e.checkMaxAge(h.Get("Access-Control-Max-Age"))
}

func (e *PreflightExpect) checkCredentials(got string) *Failure {
	switch {
	case e.AllowCredentials == nil:
		return nil
	case *e.AllowCredentials && got != "true":
		return Fail(ReasonCORSCredentialsMisconfig, "Access-Control-Allow-Credentials is %q, expected \"true\"", got)
	case !*e.AllowCredentials && got == "true":
		return Fail(ReasonCORSCredentialsMisconfig, "Access-Control-Allow-Credentials is \"true\", expected it absent: this API must not let pages send cookies with the request")
	}
	return nil
}

// checkMaxAge: no cors_* code covers the cache lifetime of a preflight; a
// short one costs a preflight per request, it does not block one, so it is
// an assertion.
func (e *PreflightExpect) checkMaxAge(got string) *Failure {
	if e.MinMaxAge.IsZero() {
		return nil
	}
	want := e.MinMaxAge.Std()
	secs, err := strconv.ParseInt(strings.TrimSpace(got), 10, 64)
	switch {
	case got == "":
		return Fail(ReasonAssertionFailed, "the preflight answer has no Access-Control-Max-Age, expected at least %s (browsers then cache it for 5 seconds)", want)
	case err != nil:
		return Fail(ReasonAssertionFailed, "Access-Control-Max-Age is %q, not a number of seconds; expected at least %s", got, want)
	case time.Duration(secs)*time.Second < want:
		return Fail(ReasonAssertionFailed, "Access-Control-Max-Age is %d s, expected at least %s", secs, want)
	}
	return nil
}

func preflightRejected(resp *http.Response) *Failure {
	return Fail(ReasonCORSPreflightRejected, "the preflight (OPTIONS %s) was answered %d: preflights carry no credentials, so the gateway or API must not require auth for OPTIONS",
		resp.Request.URL.Path, resp.StatusCode)
}
