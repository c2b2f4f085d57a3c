package flows

import (
	"context"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
)

// grantTokenExchange is RFC 8693's grant type.
const grantTokenExchange grantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// tokenTypeURNs are RFC 8693 §3's token type identifiers, by the short
// names a flow may use for them.
var tokenTypeURNs = map[string]string{
	"access_token":  "urn:ietf:params:oauth:token-type:access_token",
	"refresh_token": "urn:ietf:params:oauth:token-type:refresh_token",
	"id_token":      "urn:ietf:params:oauth:token-type:id_token",
	"jwt":           "urn:ietf:params:oauth:token-type:jwt",
	"saml1":         "urn:ietf:params:oauth:token-type:saml1",
	"saml2":         "urn:ietf:params:oauth:token-type:saml2",
}

// exchangeParams are the parameters the step sets itself.
var exchangeParams = []string{"subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type"}

// TokenExchangeStep exchanges a token of an earlier step for another
// (RFC 8693): a service calling another on a user's behalf, a token
// narrowed to one API. The client authenticates as on token steps; the
// audience or resource the IdP refuses is invalid_target.
type TokenExchangeStep struct {
	TokenRequest       `yaml:",inline"`
	SubjectToken       conf.Template `yaml:"subject_token" json:"subject_token" jsonschema:"required,description=The token to exchange\\, e.g. ${steps.login.access_token}."`
	SubjectTokenType   string        `yaml:"subject_token_type,omitempty" json:"subject_token_type,omitempty" jsonschema:"description=access_token (default)\\, refresh_token\\, id_token\\, jwt\\, saml1\\, saml2 or a token type URI."`
	ActorToken         conf.Template `yaml:"actor_token,omitempty" json:"actor_token,omitempty" jsonschema:"description=The acting party's token (delegation\\, RFC 8693 §1.1)\\, e.g. ${steps.service.access_token}."`
	ActorTokenType     string        `yaml:"actor_token_type,omitempty" json:"actor_token_type,omitempty" jsonschema:"description=The actor token's type (default access_token); only with actor_token."`
	RequestedTokenType string        `yaml:"requested_token_type,omitempty" json:"requested_token_type,omitempty" jsonschema:"description=The type of token wanted (access_token\\, refresh_token\\, id_token\\, jwt or a URI); the answer's issued_token_type must then match."`
}

var (
	_ Step         = (*TokenExchangeStep)(nil)
	_ OutputLister = (*TokenExchangeStep)(nil)
)

// Outputs implements OutputLister.
func (s *TokenExchangeStep) Outputs() []string {
	return append(s.TokenRequest.Outputs(), "issued_token_type")
}

// Validate implements Step.
func (s *TokenExchangeStep) Validate() error {
	errs := []error{s.TokenRequest.Validate()}
	if s.SubjectToken.IsZero() {
		errs = append(errs, conf.FieldErrorf("subject_token", "required, e.g. ${steps.login.access_token}"))
	}
	for field, v := range map[string]string{"subject_token_type": s.SubjectTokenType, "actor_token_type": s.ActorTokenType, "requested_token_type": s.RequestedTokenType} {
		if v != "" && tokenTypeURI(v) == "" {
			errs = append(errs, conf.FieldErrorf(field, "must be access_token, refresh_token, id_token, jwt, saml1, saml2 or an absolute URI, got %q", truncate(v, 80)))
		}
	}
	if s.ActorTokenType != "" && s.ActorToken.IsZero() {
		errs = append(errs, conf.FieldErrorf("actor_token_type", "only goes with actor_token"))
	}
	for _, p := range exchangeParams {
		if _, ok := s.Params[p]; ok {
			errs = append(errs, conf.FieldErrorf("params."+p, "%s is set by the step itself; use the step's own field", p))
		}
	}
	if s.Expect.Rotated || s.Expect.OldTokenRefused {
		errs = append(errs, conf.FieldErrorf("expect", "rotation is checked on refresh steps"))
	}
	return joinErrs(compact(errs))
}

// tokenTypeURI is the URI of a short name, a URI as it is, or "".
func tokenTypeURI(v string) string {
	if urn, ok := tokenTypeURNs[v]; ok {
		return urn
	}
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && !strings.ContainsAny(v, " \t\n") {
		return v
	}
	return ""
}

// Run implements Step.
func (s *TokenExchangeStep) Run(ctx context.Context, st *State) error {
	params, err := s.params(st)
	if err != nil {
		return err
	}
	return s.grantThen(ctx, st, grantTokenExchange, params, func(tok *oauth2.Token) error {
		issued := extraString(tok, "issued_token_type")
		st.SetOutput("issued_token_type", issued, false)
		return s.checkIssuedType(issued)
	})
}

// params are the exchange's own parameters (RFC 8693 §2.1).
func (s *TokenExchangeStep) params(st *State) (url.Values, error) {
	subject, err := tokenToSend(st, s.SubjectToken)
	if err != nil {
		return nil, err
	}
	p := url.Values{"subject_token": {subject}, "subject_token_type": {orTokenType(s.SubjectTokenType)}}
	if !s.ActorToken.IsZero() {
		actor, err := tokenToSend(st, s.ActorToken)
		if err != nil {
			return nil, err
		}
		p.Set("actor_token", actor)
		p.Set("actor_token_type", orTokenType(s.ActorTokenType))
	}
	if s.RequestedTokenType != "" {
		p.Set("requested_token_type", tokenTypeURI(s.RequestedTokenType))
	}
	return p, nil
}

func orTokenType(v string) string {
	if v == "" {
		return tokenTypeURNs["access_token"]
	}
	return tokenTypeURI(v)
}

// checkIssuedType: RFC 8693 §2.2.1 requires issued_token_type, and a
// token of another type than the one requested is not what the flow
// checks.
func (s *TokenExchangeStep) checkIssuedType(issued string) error {
	switch want := tokenTypeURI(s.RequestedTokenType); {
	case issued == "":
		return Fail(ReasonIdPError, "the token exchange answer has no issued_token_type, which RFC 8693 §2.2.1 requires")
	case want != "" && issued != want:
		return Fail(ReasonAssertionFailed, "the token exchange issued a token of type %s; the step requested %s", issued, want).
			With(F("issued_token_type", issued), F("requested_token_type", want))
	}
	return nil
}
