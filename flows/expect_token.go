package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/jwtinspect"
	"github.com/authwatch/authwatch/internal/redact"
)

// TokenExpect holds a token step's expectations.
type TokenExpect struct {
	AccessToken  *TokenChecks `yaml:"access_token,omitempty" json:"access_token,omitempty" jsonschema:"description=Checks on the access token (needs a JWT for claim checks)."`
	IDToken      *TokenChecks `yaml:"id_token,omitempty" json:"id_token,omitempty" jsonschema:"description=Checks on the ID token; its presence is then required."`
	RefreshToken bool         `yaml:"refresh_token,omitempty" json:"refresh_token,omitempty" jsonschema:"description=A refresh token must be returned."`
	// Error makes the step a negative check: the grant must be refused
	// with this OAuth error code (e.g. a revoked client must get invalid_client).
	Error string `yaml:"error,omitempty" json:"error,omitempty" jsonschema:"description=Negative check: the grant must be refused with this OAuth error code."`
	// Rotated and OldTokenRefused are for refresh steps (RFC 9700 §4.14.2:
	// refresh token rotation).
	Rotated         bool          `yaml:"rotated,omitempty" json:"rotated,omitempty" jsonschema:"description=Refresh steps: a new refresh token must come back (rotation)."`
	OldTokenRefused bool          `yaml:"old_token_refused,omitempty" json:"old_token_refused,omitempty" jsonschema:"description=Refresh steps: after rotation the replaced refresh token is sent again and must be refused (else revocation_ineffective). IdPs with reuse detection then revoke the whole grant."`
	MaxLatency      conf.Duration `yaml:"max_latency,omitempty" json:"max_latency,omitempty"`
}

// TokenChecks are expectations on one token.
type TokenChecks struct {
	// Verify checks the signature against the issuer's JWKS. Default: on
	// for JWTs (off for opaque tokens, which cannot be verified locally).
	Verify      *bool             `yaml:"verify,omitempty" json:"verify,omitempty" jsonschema:"description=Verify the JWT signature against the JWKS (default true)."`
	Issuer      string            `yaml:"issuer,omitempty" json:"issuer,omitempty" jsonschema:"description=Expected iss (default: the step's issuer)."`
	Audience    []string          `yaml:"audience,omitempty" json:"audience,omitempty" jsonschema:"description=Values aud must contain."`
	Scopes      []string          `yaml:"scopes,omitempty" json:"scopes,omitempty" jsonschema:"description=Scopes (scope/scp) or roles the token must grant."`
	MinLifetime conf.Duration     `yaml:"min_lifetime,omitempty" json:"min_lifetime,omitempty" jsonschema:"description=Warn (token_lifetime_short) when less lifetime remains."`
	Claims      map[string]string `yaml:"claims,omitempty" json:"claims,omitempty" jsonschema:"description=Claims that must equal these values."`
	Kind        string            `yaml:"kind,omitempty" json:"kind,omitempty" jsonschema:"enum=access,enum=id,description=What the token must look like."`
	Bound       string            `yaml:"bound,omitempty" json:"bound,omitempty" jsonschema:"enum=mtls,enum=dpop,description=access_token only: the token must be sender-constrained. mtls: its cnf claim's x5t#S256 must be the thumbprint of the step's tls_client_certificate (RFC 8705 §3); dpop: its cnf.jkt the thumbprint of the step's DPoP key (RFC 9449 §6.1\\, needs dpop: true); else token_binding_mismatch. Needs a JWT access token."`
}

// Validate checks the expectations of a step that is not a refresh.
func (e *TokenExpect) Validate() error { return e.validate(false) }

// validate checks the expectations; only a refresh can check rotation.
func (e *TokenExpect) validate(refresh bool) error {
	var errs []error
	if !refresh {
		for path, set := range map[string]bool{"rotated": e.Rotated, "old_token_refused": e.OldTokenRefused} {
			if set {
				errs = append(errs, conf.FieldErrorf(path, "only a refresh step can check refresh token rotation"))
			}
		}
	}
	for path, c := range map[string]*TokenChecks{"access_token": e.AccessToken, "id_token": e.IDToken} {
		if c != nil && c.Kind != "" && c.Kind != "access" && c.Kind != "id" {
			errs = append(errs, conf.FieldErrorf(path+".kind", "must be access or id, got %q", c.Kind))
		}
	}
	errs = append(errs, e.validateBound()...)
	if e.Error != "" && (e.AccessToken != nil || e.IDToken != nil || e.RefreshToken || e.Rotated || e.OldTokenRefused) {
		errs = append(errs, conf.FieldErrorf("error", "a step that expects an error cannot also expect tokens"))
	}
	return joinErrs(errs)
}

// check applies the expectations to a token response.
func (e *TokenExpect) check(ctx context.Context, st *State, ks keySource, tok *oauth2.Token) error {
	if e.RefreshToken && tok.RefreshToken == "" {
		return Fail(ReasonAssertionFailed, "the token response has no refresh_token (is offline_access requested and allowed for this client?)")
	}
	access := e.AccessToken
	if access == nil {
		access = &TokenChecks{}
	}
	if err := st.checkToken(ctx, "access token", tok.AccessToken, access, ks); err != nil {
		return err
	}
	if err := st.checkBinding(tok.AccessToken, access.Bound, ks.TLS); err != nil {
		return err
	}
	if e.IDToken != nil {
		id, _ := tok.Extra("id_token").(string)
		if id == "" {
			return Fail(ReasonAssertionFailed, "the token response has no id_token (is the openid scope requested?)")
		}
		if err := st.checkToken(ctx, "ID token", id, e.IDToken, ks); err != nil {
			return err
		}
	}
	return checkLatency(st, e.MaxLatency)
}

// checkToken verifies and checks one token, most specific evidence first.
// keySource says where a token's issuer and keys are.
type keySource struct {
	Issuer  string
	JWKSURL string
	TLS     TLSOptions
	Doc     *DiscoveryDoc // when the issuer's discovery document is known
}

func (st *State) checkToken(ctx context.Context, what, raw string, c *TokenChecks, ks keySource) error {
	t, err := st.parseJWT(raw) // what Parse accepts LooksLikeJWT does
	switch {
	case err != nil && !jwtinspect.LooksLikeJWT(raw):
		if c.needsClaims() {
			return Fail(ReasonAssertionFailed, "the %s is opaque (not a JWT), so its claims cannot be checked here; drop the claim checks or ask the IdP for JWT access tokens", what).
				With(F("token_fingerprint", redact.Fingerprint(raw)))
		}
		return nil
	case err != nil:
		return Fail(ReasonAssertionFailed, "the %s looks like a JWT but does not decode: %v", what, err)
	}
	ev := tokenEvidence(raw, t)
	fail := func(f *Failure) error {
		f.Evidence.Token = ev
		return f
	}
	if c.Verify == nil || *c.Verify {
		if f := st.verifySignature(ctx, what, raw, t, ks); f != nil {
			return fail(f)
		}
	}
	if f := st.checkClaims(what, t, c, ks.Issuer); f != nil {
		return fail(f)
	}
	return nil
}

func (c *TokenChecks) needsClaims() bool {
	return (c.Verify != nil && *c.Verify) || len(c.Audience) > 0 || len(c.Scopes) > 0 || len(c.Claims) > 0 ||
		c.Issuer != "" || c.Kind != "" || !c.MinLifetime.IsZero() || c.Bound != ""
}

func tokenEvidence(raw string, t *jwtinspect.Token) *TokenEvidence {
	kind, _ := t.Kind()
	header := map[string]any{"alg": t.Alg, "kid": t.Kid}
	if t.Typ != "" {
		header["typ"] = t.Typ
	}
	return &TokenEvidence{Fingerprint: redact.Fingerprint(raw), Kind: kind, Header: header, Claims: t.SafeClaims()}
}

// checkClaims checks iss, times, aud, scopes, claims and kind, in order of
// specificity, and notes a short lifetime or a skewed iat as findings.
func (st *State) checkClaims(what string, t *jwtinspect.Token, c *TokenChecks, defaultIssuer string) *Failure {
	issuer := c.Issuer
	if issuer == "" {
		issuer = defaultIssuer
	}
	if issuer != "" && t.Issuer != issuer {
		return issuerMismatch("the "+what+"'s iss", t.Issuer, issuer)
	}
	if f := st.checkTimes(what, t, c); f != nil {
		return f
	}
	for _, want := range c.Audience {
		if !slices.Contains(t.Audience, want) {
			return Fail(ReasonAudienceMismatch, "the %s's aud is %s, expected it to contain %q", what, quoteList(t.Audience), want).
				With(F("aud", strings.Join(t.Audience, " ")), F("expected_audience", want))
		}
	}
	granted := append(slices.Clone(t.Scopes), t.Roles...)
	var missing []string
	for _, want := range c.Scopes {
		if !slices.Contains(granted, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return Fail(ReasonScopeMissing, "the %s lacks %s; it grants %s", what, quoteList(missing), quoteList(granted)).
			With(F("missing_scopes", strings.Join(missing, " ")), F("granted", strings.Join(granted, " ")))
	}
	for name, want := range c.Claims {
		if got := fmt.Sprint(t.Claims[name]); t.Claims[name] == nil || got != want {
			return Fail(ReasonAssertionFailed, "the %s's claim %s is %q, expected %q", what, name, claimText(t.Claims[name]), want)
		}
	}
	if c.Kind != "" {
		kind, why := t.Kind()
		// A token that came as a token response's id_token member is an ID
		// token by where it came from, even when its claims are minimal.
		fromIDTokenMember := kind == jwtinspect.KindUnknown && c.Kind == jwtinspect.KindID && what == "ID token"
		if kind != c.Kind && !fromIDTokenMember {
			return Fail(ReasonAssertionFailed, "the %s looks like %s token (%s), expected %s token", what, article(kind), why, article(c.Kind))
		}
	}
	return nil
}

// article puts "a" or "an" before a token kind.
func article(kind string) string {
	if strings.IndexByte("aeiou", kind[0]) >= 0 {
		return "an " + kind
	}
	return "a " + kind
}

func claimText(v any) string {
	if v == nil {
		return "absent"
	}
	return truncate(fmt.Sprint(v), 120)
}

func quoteList(v []string) string {
	if len(v) == 0 {
		return "empty"
	}
	return "[" + strings.Join(v, " ") + "]"
}
