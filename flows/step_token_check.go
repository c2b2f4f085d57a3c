package flows

import (
	"context"

	"github.com/authwatch/authwatch/internal/conf"
)

// TokenCheckStep checks a token obtained elsewhere (an earlier step's
// output, or a token handed to the monitor as a secret): its signature
// against the issuer's JWKS, iss, exp/nbf/iat, aud, scopes and claims.
type TokenCheckStep struct {
	Token      conf.Template `yaml:"token" json:"token" jsonschema:"required,description=The token\\, e.g. ${steps.login.id_token} or ${env:API_TOKEN}."`
	Issuer     conf.Template `yaml:"issuer,omitempty" json:"issuer,omitempty" jsonschema:"description=Issuer URL: iss must equal it and its JWKS verifies the signature; may be a template such as ${steps.ID.issuer}."`
	JWKSURL    conf.Template `yaml:"jwks_url,omitempty" json:"jwks_url,omitempty" jsonschema:"description=JWKS URL when there is no discovery document; may be a template such as ${steps.ID.jwks_uri}."`
	TLSOptions `yaml:",inline"`
	Expect     TokenChecks `yaml:"expect,omitempty" json:"expect,omitempty"`
}

var (
	_ Step         = (*TokenCheckStep)(nil)
	_ OutputLister = (*TokenCheckStep)(nil)
)

// Outputs implements OutputLister: a token check publishes nothing.
func (s *TokenCheckStep) Outputs() []string { return nil }

// Validate implements Step.
func (s *TokenCheckStep) Validate() error {
	var errs []error
	if s.Token.IsZero() {
		errs = append(errs, conf.FieldErrorf("token", "required"))
	}
	errs = append(errs, validateEndpoint("issuer", s.Issuer, true), validateEndpoint("jwks_url", s.JWKSURL, false))
	if s.Expect.Kind != "" && s.Expect.Kind != "access" && s.Expect.Kind != "id" {
		errs = append(errs, conf.FieldErrorf("expect.kind", "must be access or id, got %q", s.Expect.Kind))
	}
	errs = append(errs, s.TLSOptions.Validate())
	return joinErrs(compact(errs))
}

// Run implements Step.
func (s *TokenCheckStep) Run(ctx context.Context, st *State) error {
	raw, err := st.Expand(s.Token)
	if err != nil {
		return err
	}
	st.Secrets.Add(raw)
	ks := keySource{TLS: s.TLSOptions}
	if ks.Issuer, err = expandEndpoint(st, "issuer", s.Issuer, true); err != nil {
		return err
	}
	if ks.JWKSURL, err = expandEndpoint(st, "jwks_url", s.JWKSURL, false); err != nil {
		return err
	}
	if ks.Issuer != "" && ks.JWKSURL == "" {
		if ks.Doc, err = st.Discover(ctx, ks.Issuer, s.TLSOptions, false, "jwks_uri"); err != nil {
			return err
		}
	}
	checks := s.Expect
	if checks.Verify == nil && ks.JWKSURL == "" && ks.Doc == nil {
		off := false // nothing to verify against; say so instead of failing
		checks.Verify = &off
		st.Note("the token's signature was not verified: give the step an issuer or jwks_url")
	}
	return st.checkToken(ctx, "token", raw, &checks, ks)
}
