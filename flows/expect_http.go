package flows

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
)

// HTTPExpect holds an http step's expectations.
type HTTPExpect struct {
	Status       StatusList             `yaml:"status,omitempty" json:"status,omitempty" jsonschema:"description=Expected status code or list of codes (default: any 2xx). A negative check expects 401 or 403: a 2xx there is auth_not_enforced."`
	Headers      map[string]HeaderCheck `yaml:"headers,omitempty" json:"headers,omitempty"`
	JSON         []JSONCheck            `yaml:"json,omitempty" json:"json,omitempty" jsonschema:"description=Assertions on the JSON body\\, each a jq path and a check."`
	BodyContains string                 `yaml:"body_contains,omitempty" json:"body_contains,omitempty"`
	// Challenge is the auth scheme the WWW-Authenticate header must offer,
	// for negative checks ("without a token: 401 with Bearer").
	Challenge  string        `yaml:"challenge,omitempty" json:"challenge,omitempty" jsonschema:"description=Auth scheme WWW-Authenticate must offer (e.g. Bearer)."`
	MaxLatency conf.Duration `yaml:"max_latency,omitempty" json:"max_latency,omitempty"`
	// Revoked is the second half of a revocation check: the bearer token
	// was revoked (a revoke step, a logout) and the API must refuse it.
	Revoked bool `yaml:"revoked,omitempty" json:"revoked,omitempty" jsonschema:"description=The bearer token was revoked (a revoke step\\, a logout) and the API must refuse it (401 or 403\\, or status): a 2xx is revocation_ineffective."`
	// ClientCertificate is the mutual TLS negative check: the server must
	// refuse the step's client certificate, or its absence.
	ClientCertificate string `yaml:"client_certificate,omitempty" json:"client_certificate,omitempty" jsonschema:"enum=refused,description=refused: the server must refuse this step's client certificate (or\\, without tls_client_certificate\\, a client without one) in the TLS handshake or with nginx's certificate page; a 2xx is auth_not_enforced. A check on its own: no other expectation goes with it."`
}

// HeaderCheck is one check on a response header. Give one of the fields.
type HeaderCheck struct {
	Equals   string `yaml:"equals,omitempty" json:"equals,omitempty"`
	Contains string `yaml:"contains,omitempty" json:"contains,omitempty"`
	Matches  string `yaml:"matches,omitempty" json:"matches,omitempty" jsonschema:"description=Go regular expression (RE2)."`
	Absent   bool   `yaml:"absent,omitempty" json:"absent,omitempty"`
	Present  bool   `yaml:"present,omitempty" json:"present,omitempty"`

	re *regexp.Regexp
}

// JSONCheck is one assertion on the JSON body. Give path and one check.
type JSONCheck struct {
	Path     string `yaml:"path" json:"path" jsonschema:"required,description=jq expression\\, e.g. .items | length"`
	Equals   any    `yaml:"equals,omitempty" json:"equals,omitempty"`
	Contains string `yaml:"contains,omitempty" json:"contains,omitempty"`
	Matches  string `yaml:"matches,omitempty" json:"matches,omitempty"`
	Exists   *bool  `yaml:"exists,omitempty" json:"exists,omitempty"`

	query *jqQuery
	re    *regexp.Regexp
	want  any
}

// Validate compiles patterns and checks that each check says one thing.
func (e *HTTPExpect) Validate() error {
	var errs []error
	for name, h := range e.Headers {
		n := countSet(h.Equals != "", h.Contains != "", h.Matches != "", h.Absent, h.Present)
		if n != 1 {
			errs = append(errs, conf.FieldErrorf("headers."+conf.PathKey(name), "give exactly one of equals, contains, matches, absent, present"))
			continue
		}
		if h.Matches != "" {
			re, err := regexp.Compile(h.Matches)
			if err != nil {
				errs = append(errs, conf.FieldErrorf("headers."+conf.PathKey(name)+".matches", "bad regular expression: %v", err))
			}
			h.re = re
		}
		e.Headers[name] = h
	}
	for i := range e.JSON {
		errs = append(errs, conf.PrefixErrors(fmt.Sprintf("json[%d]", i), e.JSON[i].validate()))
	}
	errs = append(errs, e.validateClientCertificate())
	return joinErrs(compact(errs))
}

func (c *JSONCheck) validate() error {
	q, err := compileJQ(c.Path)
	if err != nil {
		return conf.FieldError{Path: "path", Err: err}
	}
	c.query = q
	if countSet(c.Equals != nil, c.Contains != "", c.Matches != "", c.Exists != nil) != 1 {
		return conf.FieldErrorf("", "give exactly one of equals, contains, matches, exists")
	}
	if c.Matches != "" {
		if c.re, err = regexp.Compile(c.Matches); err != nil {
			return conf.FieldErrorf("matches", "bad regular expression: %v", err)
		}
	}
	if c.Equals != nil {
		if c.want, err = normalizeJSON(c.Equals); err != nil {
			return conf.FieldErrorf("equals", "cannot compare with JSON: %v", err)
		}
	}
	return nil
}

func countSet(flags ...bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}

func (e *HTTPExpect) statuses() []int {
	if e.Revoked && len(e.Status.codes) == 0 {
		return revokedStatuses
	}
	return e.Status.codes
}

// revokedStatuses are the refusals a revoked bearer token gets by default.
var revokedStatuses = []int{http.StatusUnauthorized, http.StatusForbidden}

func (e *HTTPExpect) statusOK(code int) bool {
	if e.Revoked && len(e.Status.codes) == 0 {
		return containsInt(revokedStatuses, code)
	}
	if len(e.Status.codes) == 0 {
		return code >= 200 && code < 300
	}
	return containsInt(e.Status.codes, code)
}

// answer is a response with its body and what the request carried.
type answer struct {
	resp     *http.Response
	body     []byte
	cred     credential
	audience string

	parsed    any
	parsedErr error
	didParse  bool
}

func (a *answer) json() (any, error) {
	if !a.didParse {
		a.didParse = true
		a.parsedErr = json.Unmarshal(a.body, &a.parsed)
	}
	return a.parsed, a.parsedErr
}

// check applies the header, challenge, body and JSON expectations.
func (e *HTTPExpect) check(st *State, a *answer) error {
	if e.Challenge != "" {
		if err := checkChallenge(a, e.Challenge); err != nil {
			return err
		}
	}
	for name, h := range e.Headers {
		if err := h.check(name, a.resp.Header); err != nil {
			return err
		}
	}
	if e.BodyContains != "" && !strings.Contains(string(a.body), e.BodyContains) {
		return Fail(ReasonAssertionFailed, "the body does not contain %q", truncate(e.BodyContains, 80))
	}
	for _, c := range e.JSON {
		if err := c.check(a); err != nil {
			return err
		}
	}
	return nil
}

func (h HeaderCheck) check(name string, hdr http.Header) error {
	values, present := hdr[http.CanonicalHeaderKey(name)]
	v := strings.Join(values, ", ")
	ok, want := true, ""
	switch {
	case h.Absent:
		ok, want = !present, "absent"
	case h.Present:
		ok, want = present, "present"
	case h.Equals != "":
		ok, want = v == h.Equals, fmt.Sprintf("equal to %q", h.Equals)
	case h.Contains != "":
		ok, want = strings.Contains(v, h.Contains), fmt.Sprintf("to contain %q", h.Contains)
	case h.re != nil:
		ok, want = h.re.MatchString(v), fmt.Sprintf("to match %s", h.Matches)
	}
	if ok {
		return nil
	}
	got := "absent"
	if present {
		got = strconv.Quote(truncate(v, 200))
	}
	return Fail(ReasonAssertionFailed, "header %s is %s, expected %s", name, got, want).With(F("header", name))
}

func (c JSONCheck) check(a *answer) error {
	doc, err := a.json()
	if err != nil {
		return Fail(ReasonAssertionFailed, "the body is not JSON (%v), so %s cannot be checked", err, c.Path)
	}
	got, err := c.query.first(doc)
	if err == nil {
		got, _ = normalizeJSON(got) // jq yields ints; expectations are JSON numbers
	}
	exists := err == nil && got != nil
	switch {
	case c.Exists != nil:
		if exists != *c.Exists {
			return Fail(ReasonAssertionFailed, "%s %s, expected it %s", c.Path, existsWord(exists), existsWord(*c.Exists))
		}
		return nil
	case err != nil && err != errNoResult:
		return Fail(ReasonAssertionFailed, "%s: %v", c.Path, err)
	case c.want != nil && !reflect.DeepEqual(got, c.want):
		return Fail(ReasonAssertionFailed, "%s is %s, expected %s", c.Path, jsonText(got), jsonText(c.want))
	case c.Contains != "" && !strings.Contains(scalarText(got), c.Contains):
		return Fail(ReasonAssertionFailed, "%s is %s, expected it to contain %q", c.Path, jsonText(got), c.Contains)
	case c.re != nil && !c.re.MatchString(scalarText(got)):
		return Fail(ReasonAssertionFailed, "%s is %s, expected it to match %s", c.Path, jsonText(got), c.Matches)
	}
	return nil
}

func existsWord(b bool) string {
	if b {
		return "exists"
	}
	return "does not exist"
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return truncate(string(b), 200)
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
