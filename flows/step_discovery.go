package flows

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
)

// DiscoveryStep fetches an issuer's OIDC discovery document and its JWKS,
// always afresh, and checks them.
type DiscoveryStep struct {
	Issuer     conf.Template `yaml:"issuer" json:"issuer" jsonschema:"required,description=The exact issuer URL (as the IdP publishes it); may be a template such as ${env:ISSUER}."`
	TLSOptions `yaml:",inline"`
	Expect     DiscoveryExpect `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// DiscoveryExpect holds the discovery step's expectations.
type DiscoveryExpect struct {
	// Endpoints that must be present besides the required ones.
	Endpoints  []string      `yaml:"endpoints,omitempty" json:"endpoints,omitempty" jsonschema:"description=Extra metadata fields that must be present (e.g. userinfo_endpoint\\, revocation_endpoint)."`
	MinKeys    int           `yaml:"min_keys,omitempty" json:"min_keys,omitempty" jsonschema:"description=Minimum number of signing keys in the JWKS (default 1)."`
	Algorithms []string      `yaml:"algorithms,omitempty" json:"algorithms,omitempty" jsonschema:"description=Signing algorithms the JWKS must offer (e.g. RS256)."`
	MaxLatency conf.Duration `yaml:"max_latency,omitempty" json:"max_latency,omitempty"`
}

var _ Step = (*DiscoveryStep)(nil)
var _ OutputLister = (*DiscoveryStep)(nil)

// Validate implements Step.
func (s *DiscoveryStep) Validate() error {
	var errs []error
	if s.Issuer.IsZero() {
		errs = append(errs, conf.FieldErrorf("issuer", "required"))
	}
	errs = append(errs, validateEndpoint("issuer", s.Issuer, true))
	if s.Expect.MinKeys < 0 {
		errs = append(errs, conf.FieldErrorf("expect.min_keys", "must not be negative"))
	}
	errs = append(errs, s.TLSOptions.Validate())
	return joinErrs(compact(errs))
}

func validateIssuer(issuer string) error {
	if issuer == "" {
		return fmt.Errorf("required")
	}
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("an issuer has no query or fragment (OIDC Discovery §3), got %q", issuer)
	}
	return nil
}

// Outputs implements OutputLister.
func (s *DiscoveryStep) Outputs() []string {
	return []string{"issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
		"revocation_endpoint", "introspection_endpoint", "device_authorization_endpoint", "end_session_endpoint", "key_count"}
}

// Run implements Step.
func (s *DiscoveryStep) Run(ctx context.Context, st *State) error {
	need := append(slices.Clone(requiredDiscoveryFields), s.Expect.Endpoints...)
	issuer, err := expandEndpoint(st, "issuer", s.Issuer, true)
	if err != nil {
		return err
	}
	doc, err := st.Discover(ctx, issuer, s.TLSOptions, true, need...)
	if err != nil {
		return err
	}
	keys, err := st.Keys(ctx, doc.JWKSURI, s.TLSOptions, true)
	if err != nil {
		return err
	}
	for name, v := range map[string]string{
		"issuer": doc.Issuer, "authorization_endpoint": doc.AuthorizationEndpoint, "token_endpoint": doc.TokenEndpoint,
		"userinfo_endpoint": doc.UserinfoEndpoint, "jwks_uri": doc.JWKSURI, "revocation_endpoint": doc.RevocationEndpoint,
		"introspection_endpoint": doc.IntrospectionEndpoint, "device_authorization_endpoint": doc.DeviceAuthorizationEndpoint,
		"end_session_endpoint": doc.EndSessionEndpoint, "key_count": strconv.Itoa(len(keys.Keys)),
	} {
		st.SetOutput(name, v, false)
	}
	st.Measure(MeasureJWKSKeys, "", float64(len(keys.Keys)))
	if err := s.checkKeys(keys); err != nil {
		return err
	}
	return checkLatency(st, s.Expect.MaxLatency)
}

func (s *DiscoveryStep) checkKeys(keys *KeySet) error {
	if minKeys := max(s.Expect.MinKeys, 1); len(keys.Keys) < minKeys {
		return Fail(ReasonJWKSUnavailable, "the JWKS at %s has %d signing keys, expected at least %d", keys.URI, len(keys.Keys), minKeys).
			With(F("kids", strings.Join(keys.Kids(), ",")))
	}
	var algs []string
	for _, k := range keys.Keys {
		algs = append(algs, k.Algorithm)
	}
	for _, want := range s.Expect.Algorithms {
		if !slices.Contains(algs, want) {
			return Fail(ReasonAssertionFailed, "the JWKS offers no %s key; its keys are %s", want, strings.Join(algs, ", ")).
				With(F("algorithms", strings.Join(algs, ",")), F("expected_algorithm", want))
		}
	}
	return nil
}

func compact(errs []error) []error {
	out := errs[:0]
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
