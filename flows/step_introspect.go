package flows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/jwtinspect"
	"github.com/authwatch/authwatch/internal/redact"
)

// IntrospectStep asks the IdP's introspection endpoint (RFC 7662) about a
// token of an earlier step, authenticating the client as token steps do,
// and checks the answer: active, scope, aud, exp, client_id, cnf. With
// expect.revoked it is the second half of a revocation check.
type IntrospectStep struct {
	IntrospectionURL conf.Template `yaml:"introspection_url,omitempty" json:"introspection_url,omitempty" jsonschema:"description=Introspection endpoint URL (instead of\\, or overriding\\, discovery's introspection_endpoint); may be a template."`
	Token            conf.Template `yaml:"token" json:"token" jsonschema:"required,description=The token to introspect\\, e.g. ${steps.token.access_token} or ${steps.login.refresh_token}."`
	TokenTypeHint    string        `yaml:"token_type_hint,omitempty" json:"token_type_hint,omitempty" jsonschema:"enum=access_token,enum=refresh_token,description=What the token is (RFC 7662 §2.1); default: from the output the token comes from."`
	EndpointClient   `yaml:",inline"`
	Expect           IntrospectExpect `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// IntrospectExpect holds an introspect step's expectations.
type IntrospectExpect struct {
	Active      *bool             `yaml:"active,omitempty" json:"active,omitempty" jsonschema:"description=Whether the token must be active (default true). An inactive token that should be active is invalid_token (token_expired when its exp says so)."`
	Revoked     bool              `yaml:"revoked,omitempty" json:"revoked,omitempty" jsonschema:"description=The token was revoked (a revoke step\\, a logout) and must be inactive: an active answer is revocation_ineffective."`
	Scopes      []string          `yaml:"scopes,omitempty" json:"scopes,omitempty" jsonschema:"description=Scopes the answer's scope must hold (else scope_missing)."`
	Audience    []string          `yaml:"audience,omitempty" json:"audience,omitempty" jsonschema:"description=Values the answer's aud must contain (else audience_mismatch)."`
	ClientID    string            `yaml:"client_id,omitempty" json:"client_id,omitempty" jsonschema:"description=The client the token must have been issued to."`
	MinLifetime conf.Duration     `yaml:"min_lifetime,omitempty" json:"min_lifetime,omitempty" jsonschema:"description=Warn (token_lifetime_short) when the token was issued for less (exp - iat)."`
	Claims      map[string]string `yaml:"claims,omitempty" json:"claims,omitempty" jsonschema:"description=Members of the answer that must equal these values."`
	Cnf         string            `yaml:"cnf,omitempty" json:"cnf,omitempty" jsonschema:"enum=present,enum=absent,enum=jkt,enum=x5t#S256,description=The token's confirmation (RFC 7800): present (sender-constrained)\\, absent (a bearer token)\\, jkt (bound to a DPoP key\\, RFC 9449) or x5t#S256 (bound to a client certificate\\, RFC 8705)."`
	MaxLatency  conf.Duration     `yaml:"max_latency,omitempty" json:"max_latency,omitempty"`
}

var (
	_ Step         = (*IntrospectStep)(nil)
	_ OutputLister = (*IntrospectStep)(nil)
)

// introspectOutputs are the answer's members published as outputs.
var introspectOutputs = []string{"active", "scope", "client_id", "sub", "username", "exp", "iat", "aud", "iss", "token_type"}

// Outputs implements OutputLister.
func (s *IntrospectStep) Outputs() []string {
	return append(slices.Clone(introspectOutputs), "introspection_endpoint")
}

// Validate implements Step.
func (s *IntrospectStep) Validate() error {
	errs := s.EndpointClient.validate("introspection_url", s.IntrospectionURL)
	errs = append(errs, validateTokenField(s.Token, s.TokenTypeHint)...)
	errs = append(errs, conf.PrefixErrors("expect", s.Expect.validate()))
	return joinErrs(compact(errs))
}

func (e *IntrospectExpect) validate() error {
	var errs []error
	inactive := e.Revoked || (e.Active != nil && !*e.Active)
	if e.Revoked && e.Active != nil && *e.Active {
		errs = append(errs, conf.FieldErrorf("revoked", "a revoked token cannot be expected active: drop active"))
	}
	if inactive && (len(e.Scopes) > 0 || len(e.Audience) > 0 || e.ClientID != "" || len(e.Claims) > 0 || e.Cnf != "" || !e.MinLifetime.IsZero()) {
		// RFC 7662 §2.2: an inactive answer carries nothing but active.
		errs = append(errs, conf.FieldErrorf("active", "an inactive token's answer holds nothing else (RFC 7662 §2.2): drop the checks of scopes, audience, client_id, claims, cnf and min_lifetime"))
	}
	switch e.Cnf {
	case "", "present", "absent", "jkt", "x5t#S256":
	default:
		errs = append(errs, conf.FieldErrorf("cnf", "must be present, absent, jkt or x5t#S256, got %q", e.Cnf))
	}
	return joinErrs(errs)
}

// wantsActive is the expectation on active.
func (e *IntrospectExpect) wantsActive() bool {
	return !e.Revoked && (e.Active == nil || *e.Active)
}

// Run implements Step.
func (s *IntrospectStep) Run(ctx context.Context, st *State) error {
	raw, err := tokenToSend(st, s.Token)
	if err != nil {
		return err
	}
	endpoint, _, err := s.endpoint(ctx, st, "introspection_url", s.IntrospectionURL, "introspection_endpoint")
	if err != nil {
		return err
	}
	st.SetOutput("introspection_endpoint", endpoint, false)
	form := url.Values{"token": {raw}}
	if hint := tokenTypeHint(s.Token, s.TokenTypeHint); hint != "" {
		form.Set("token_type_hint", hint)
	}
	ans, err := s.post(ctx, st, introspectionEndpoint, endpoint, form)
	if err != nil {
		return err
	}
	in, err := parseIntrospection(ans.body)
	if err != nil {
		return Fail(ReasonIdPError, "the introspection endpoint %s answered 200 with no RFC 7662 answer: %v", endpoint, err).
			With(F("introspection_endpoint", endpoint))
	}
	s.publish(st, in)
	ev := &TokenEvidence{Fingerprint: redact.Fingerprint(raw), Claims: in.token.SafeClaims()}
	if err := s.check(st, raw, in); err != nil {
		if f := (*Failure)(nil); errors.As(err, &f) && f.Evidence.Token == nil {
			f.Evidence.Token = ev
			f.With(F("token_fingerprint", ev.Fingerprint))
		}
		return err
	}
	return checkLatency(st, s.Expect.MaxLatency)
}

// introspection is a decoded RFC 7662 answer.
type introspection struct {
	active bool
	token  *jwtinspect.Token // the answer's members, read as claims
}

// maxIntrospectionMembers bounds what a hostile answer can make authwatch
// keep and check.
const maxIntrospectionMembers = 1000

// parseIntrospection reads an RFC 7662 §2.2 answer: exactly one JSON
// object whose active is a boolean. Numbers stay json.Number, so exp and
// iat are read as jwtinspect reads them. Its errors never quote the body.
func parseIntrospection(body []byte) (*introspection, error) {
	m, err := decodeJSONObject(body)
	if err != nil {
		return nil, err
	}
	active, ok := m["active"].(bool)
	if !ok {
		if _, present := m["active"]; present {
			return nil, errors.New(`its "active" is not a boolean`)
		}
		return nil, errors.New(`it has no "active" member`)
	}
	if len(m) > maxIntrospectionMembers {
		return nil, errors.New("it has more than 1000 members")
	}
	return &introspection{active: active, token: jwtinspect.FromClaims(m)}, nil
}

// decodeJSONObject decodes exactly one JSON object, numbers as json.Number.
func decodeJSONObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, errors.New("the body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the body has data after its JSON object")
	}
	return m, nil
}

// publish makes the answer's well-known members outputs (none secret:
// RFC 7662 answers carry no credentials).
func (s *IntrospectStep) publish(st *State, in *introspection) {
	for _, name := range introspectOutputs {
		v := in.token.Claims[name]
		if name == "aud" {
			st.SetOutput(name, strings.Join(in.token.Audience, " "), false)
			continue
		}
		st.SetOutput(name, scalarText(jsonScalar(v)), false)
	}
}

// jsonScalar is v with a json.Number as its text.
func jsonScalar(v any) any {
	switch t := v.(type) {
	case json.Number:
		return t.String()
	case string, bool, nil:
		return t
	}
	return nil // objects and arrays are no outputs
}

// check applies the expectations, the activity first.
func (s *IntrospectStep) check(st *State, raw string, in *introspection) error {
	e := &s.Expect
	revokedBy, revoked := revokedEarlier(st, raw)
	switch {
	case in.active && e.Revoked:
		return s.ineffective(revokedBy, revoked, in)
	case in.active && !e.wantsActive():
		return Fail(ReasonAssertionFailed, "the introspection endpoint says the token is active; the flow expects it inactive")
	case !in.active && e.wantsActive():
		return inactiveFailure(st, raw, revokedBy, revoked)
	case !in.active:
		return nil
	}
	checks := &TokenChecks{Audience: e.Audience, Scopes: e.Scopes, MinLifetime: e.MinLifetime, Claims: e.Claims}
	if f := st.checkClaims("introspected token", in.token, checks, ""); f != nil {
		return f
	}
	if e.ClientID != "" && in.token.ClientID != e.ClientID {
		return Fail(ReasonAssertionFailed, "the introspected token was issued to client %q, expected %q", in.token.ClientID, e.ClientID).
			With(F("client_id", in.token.ClientID), F("expected_client_id", e.ClientID))
	}
	if err := checkCnf(in.token.Claims["cnf"], e.Cnf); err != nil {
		return err
	}
	return checkIntrospectedJKT(st, raw, in.token.Claims["cnf"], e.Cnf)
}

// checkIntrospectedJKT: a token this run asked for with DPoP must be bound
// to the key of its proofs, as the IdP itself says (RFC 9449 §6.2).
func checkIntrospectedJKT(st *State, raw string, v any, want string) error {
	key := st.dpopState().keyFor(raw)
	if key == nil || (want != "jkt" && want != "present") {
		return nil
	}
	cnf, _ := v.(map[string]any)
	got, _ := cnf["jkt"].(string)
	if got == "" || got == key.jkt {
		return nil
	}
	return Fail(ReasonTokenBindingMismatch, "the introspection endpoint says the token is bound to the DPoP key %s, but the step that asked for it signed its proofs with %s", got, key.jkt).
		With(F("cnf_jkt", got), F("dpop_jkt", key.jkt))
}

// ineffective is an active answer for a token that was revoked.
func (s *IntrospectStep) ineffective(revokedBy string, revoked bool, in *introspection) *Failure {
	by := "it was revoked before this step"
	if revoked {
		by = "step \"" + revokedBy + "\" of this run revoked it (the revocation endpoint answered 200)"
	}
	f := Fail(ReasonRevocationIneffective, "the introspection endpoint says a revoked token is still active: %s; a logout or offboarding that revokes tokens does not take", by)
	if revoked {
		f.With(F("revoked_by_step", revokedBy))
	}
	if exp := in.token.ExpiresAt; exp != nil {
		f.With(F("exp", exp.UTC().Format("2006-01-02T15:04:05Z")))
	}
	return f.With(F("active", true))
}

// inactiveFailure explains an inactive answer for a token expected active:
// expired when its exp says so, else invalid_token (RFC 7662 active: false is RFC 6750 invalid_token told by the IdP).
func inactiveFailure(st *State, raw, revokedBy string, revoked bool) *Failure {
	if revoked {
		return Fail(ReasonInvalidToken, "the introspection endpoint says the token is not active, and step %q of this run revoked it: set expect.revoked: true on this step to check the revocation", revokedBy).
			With(F("active", false), F("revoked_by_step", revokedBy))
	}
	if t := st.inspectJWT(raw); t != nil && t.ExpiresAt != nil && !st.Now().Before(t.ExpiresAt.Add(st.Skew())) {
		return Fail(ReasonTokenExpired, "the introspection endpoint says the token is not active: its exp %s is past", t.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")).
			With(F("active", false), F("exp", t.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")))
	}
	return Fail(ReasonInvalidToken, "the introspection endpoint says the token is not active (RFC 7662 active: false, which does not say why): revoked, expired, unknown to the IdP node that answered, or not visible to this client").
		With(F("active", false))
}

// checkCnf checks the token's confirmation claim (RFC 7800 §3.1).
func checkCnf(v any, want string) error {
	if want == "" {
		return nil
	}
	cnf, isObject := v.(map[string]any)
	bound := isObject && len(cnf) > 0
	methods := slices.Sorted(maps.Keys(cnf))
	switch {
	case want == "absent" && bound:
		return Fail(ReasonAssertionFailed, "the introspected token is sender-constrained (cnf holds %s); the flow expects a bearer token", quoteList(methods)).
			With(F("cnf", strings.Join(methods, " ")))
	case want == "absent":
		return nil
	case !bound:
		return Fail(ReasonTokenBindingMismatch, "the introspected token has no cnf: it is a bearer token, and the flow expects it bound (%s)", want).
			With(F("expected_cnf", want))
	case want != "present" && cnf[want] == nil:
		return Fail(ReasonTokenBindingMismatch, "the introspected token's cnf holds %s, not %s", quoteList(methods), want).
			With(F("cnf", strings.Join(methods, " ")), F("expected_cnf", want))
	}
	return nil
}
