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
	Issuer     string        `yaml:"issuer,omitempty" json:"issuer,omitempty" jsonschema:"description=Issuer URL: iss must equal it and its JWKS verifies the signature."`
	JWKSURL    string        `yaml:"jwks_url,omitempty" json:"jwks_url,omitempty" jsonschema:"description=JWKS URL when there is no discovery document."`
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
	if s.Issuer != "" {
		if err := validateIssuer(s.Issuer); err != nil {
			errs = append(errs, conf.FieldError{Path: "issuer", Err: err})
		}
	}
	if err := validateHTTPURL(s.JWKSURL, false); err != nil {
		errs = append(errs, conf.FieldError{Path: "jwks_url", Err: err})
	}
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
	ks := keySource{Issuer: s.Issuer, JWKSURL: s.JWKSURL, TLS: s.TLSOptions}
	if s.Issuer != "" && s.JWKSURL == "" {
		if ks.Doc, err = st.Discover(ctx, s.Issuer, s.TLSOptions, false, "jwks_uri"); err != nil {
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
