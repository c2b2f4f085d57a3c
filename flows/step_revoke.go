package flows

import (
	"context"
	"net/url"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/redact"
)

// RevokeStep revokes a token at the IdP's revocation endpoint (RFC 7009),
// authenticating the client as token steps do. It is the first half of a
// security check: a later introspect, http or refresh step with the token
// expects it dead, and a revoked token that still works is
// revocation_ineffective (a logout or offboarding that does not take).
type RevokeStep struct {
	RevocationURL  conf.Template `yaml:"revocation_url,omitempty" json:"revocation_url,omitempty" jsonschema:"description=Revocation endpoint URL (instead of\\, or overriding\\, discovery's revocation_endpoint); may be a template."`
	Token          conf.Template `yaml:"token" json:"token" jsonschema:"required,description=The token to revoke\\, e.g. ${steps.login.refresh_token} or ${steps.token.access_token}."`
	TokenTypeHint  string        `yaml:"token_type_hint,omitempty" json:"token_type_hint,omitempty" jsonschema:"enum=access_token,enum=refresh_token,description=What the token is (RFC 7009 §2.1); default: from the output the token comes from."`
	EndpointClient `yaml:",inline"`
}

var (
	_ Step         = (*RevokeStep)(nil)
	_ OutputLister = (*RevokeStep)(nil)
)

// Outputs implements OutputLister.
func (s *RevokeStep) Outputs() []string { return []string{"revocation_endpoint"} }

// Validate implements Step.
func (s *RevokeStep) Validate() error {
	errs := s.EndpointClient.validate("revocation_url", s.RevocationURL)
	errs = append(errs, validateTokenField(s.Token, s.TokenTypeHint)...)
	return joinErrs(compact(errs))
}

// validateTokenField checks the token and its hint of an introspect or
// revoke step.
func validateTokenField(token conf.Template, hint string) []error {
	var errs []error
	if token.IsZero() {
		errs = append(errs, conf.FieldErrorf("token", "required, e.g. ${steps.login.refresh_token}"))
	}
	if hint != "" && !containsStr(validTokenTypeHints, hint) {
		errs = append(errs, conf.FieldErrorf("token_type_hint", "must be access_token or refresh_token, got %q", hint))
	}
	return errs
}

// tokenTypeHint is the hint given, or the output's name the token comes
// from when that is access_token or refresh_token.
func tokenTypeHint(token conf.Template, hint string) string {
	if hint != "" {
		return hint
	}
	refs := token.Refs()
	if len(refs) == 1 && refs[0].Kind == conf.RefStep && token.String() == refs[0].String() && containsStr(validTokenTypeHints, refs[0].Output) {
		return refs[0].Output
	}
	return ""
}

// Run implements Step.
func (s *RevokeStep) Run(ctx context.Context, st *State) error {
	raw, err := tokenToSend(st, s.Token)
	if err != nil {
		return err
	}
	endpoint, _, err := s.endpoint(ctx, st, "revocation_url", s.RevocationURL, "revocation_endpoint")
	if err != nil {
		return err
	}
	form := url.Values{"token": {raw}}
	if hint := tokenTypeHint(s.Token, s.TokenTypeHint); hint != "" {
		form.Set("token_type_hint", hint)
	}
	st.SetOutput("revocation_endpoint", endpoint, false)
	if _, err := s.post(ctx, st, revocationEndpoint, endpoint, form); err != nil {
		return err
	}
	st.Note("revoked the token %s; a later step that expects it revoked (introspect with expect.revoked, http with expect.revoked, refresh with expect.error) fails as revocation_ineffective if it still works",
		ownText(redact.Fingerprint(raw)))
	return nil
}

// revokedEarlier says which earlier step of this run revoked the token,
// if one did: steps stop at the first failure, so every earlier revoke
// step was answered 200. Its template is expanded again, which gives the
// value it sent (outputs do not change within a run).
func revokedEarlier(st *State, token string) (stepID string, ok bool) {
	for _, spec := range st.Flow.Steps {
		if spec == st.step.spec {
			return "", false
		}
		r, isRevoke := spec.Step.(*RevokeStep)
		if !isRevoke {
			continue
		}
		if v, err := st.Expand(r.Token); err == nil && v == token {
			return spec.ID, true
		}
	}
	return "", false
}

// revokedRefreshAccepted fails a refresh that got tokens with a refresh
// token an earlier step of this run revoked: the IdP answered the
// revocation 200 and still honours the token.
func revokedRefreshAccepted(st *State, refreshToken string) *Failure {
	by, ok := revokedEarlier(st, refreshToken)
	if !ok {
		return nil
	}
	return Fail(ReasonRevocationIneffective, "the token endpoint issued tokens for a refresh token that step %q of this run revoked (the revocation endpoint answered 200): a logout or offboarding that revokes refresh tokens does not take", by).
		With(F("revoked_by_step", by), F("refresh_token_fingerprint", redact.Fingerprint(refreshToken)))
}
