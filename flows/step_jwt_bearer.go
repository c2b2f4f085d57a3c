package flows

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/internal/conf"
)

// grantJWTBearer is RFC 7523 §2.1: a JWT as the authorization grant.
const grantJWTBearer grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// JWTBearerStep gets a token with the JWT bearer grant (RFC 7523 §2.1):
// Google and Salesforce service accounts, zitadel's JWT profile, SAP and
// Okta's token exchange patterns. The assertion is either given (a JWT
// from an earlier step or a secret reference) or signed here with the
// service account's key. Client authentication is optional (§3.1):
// client_auth none sends only the client_id.
type JWTBearerStep struct {
	TokenRequest `yaml:",inline"`

	Assertion         conf.Template  `yaml:"assertion,omitempty" json:"assertion,omitempty" jsonschema:"description=A ready JWT to present as the grant\\, e.g. ${steps.login.id_token} or ${credential:assertion}; or give assertion_key to have one signed per run."`
	AssertionKey      conf.Template  `yaml:"assertion_key,omitempty" json:"assertion_key,omitempty" jsonschema:"description=The service account's private key (PEM or JWK) from a secret reference only; an assertion is signed with it on every run."`
	AssertionKeyID    string         `yaml:"assertion_key_id,omitempty" json:"assertion_key_id,omitempty" jsonschema:"description=The kid header of the signed assertion (the key's id at the IdP); default the JWK's kid."`
	AssertionIssuer   conf.Template  `yaml:"assertion_issuer,omitempty" json:"assertion_issuer,omitempty" jsonschema:"description=iss of the signed assertion (the service account: e.g. its e-mail at Google\\, its user id at zitadel); default client_id."`
	AssertionSubject  conf.Template  `yaml:"assertion_subject,omitempty" json:"assertion_subject,omitempty" jsonschema:"description=sub of the signed assertion (the principal the token is for); default assertion_issuer."`
	AssertionAlg      string         `yaml:"assertion_alg,omitempty" json:"assertion_alg,omitempty" jsonschema:"enum=RS256,enum=RS384,enum=RS512,enum=PS256,enum=PS384,enum=PS512,enum=ES256,enum=ES384,enum=ES512,enum=EdDSA,description=Signing algorithm of the assertion (default: from the key)."`
	AssertionAudience string         `yaml:"assertion_audience,omitempty" json:"assertion_audience,omitempty" jsonschema:"description=aud of the signed assertion: issuer (default when issuer is given)\\, token_endpoint\\, or a literal audience (Google: https://oauth2.googleapis.com/token)."`
	AssertionClaims   map[string]any `yaml:"assertion_claims,omitempty" json:"assertion_claims,omitempty" jsonschema:"description=More claims of the signed assertion (e.g. scope for Google)."`
}

var _ Step = (*JWTBearerStep)(nil)

// Validate implements Step.
func (s *JWTBearerStep) Validate() error {
	errs := []error{s.TokenRequest.Validate()}
	switch {
	case s.Assertion.IsZero() == s.AssertionKey.IsZero():
		errs = append(errs, conf.FieldErrorf("assertion", "give assertion (a ready JWT) or assertion_key (to sign one), not both and not neither"))
	case !s.AssertionKey.IsZero():
		errs = append(errs, validateSecretKeyRef("assertion_key", s.AssertionKey))
	default:
		for _, f := range []string{"assertion_key_id", "assertion_issuer", "assertion_subject", "assertion_alg", "assertion_audience", "assertion_claims"} {
			if s.signingFieldSet(f) {
				errs = append(errs, conf.FieldErrorf(f, "goes with assertion_key: a ready assertion is sent as it is"))
			}
		}
	}
	if s.AssertionAlg != "" && !containsStr(assertionAlgs, s.AssertionAlg) {
		errs = append(errs, conf.FieldErrorf("assertion_alg", "must be one of %s, got %q", strings.Join(assertionAlgs, ", "), s.AssertionAlg))
	}
	for _, reserved := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti"} {
		if _, ok := s.AssertionClaims[reserved]; ok {
			errs = append(errs, conf.FieldErrorf("assertion_claims."+reserved, "is set by the step itself; use assertion_issuer, assertion_subject or assertion_audience"))
		}
	}
	return joinErrs(compact(errs))
}

func (s *JWTBearerStep) signingFieldSet(field string) bool {
	switch field {
	case "assertion_key_id":
		return s.AssertionKeyID != ""
	case "assertion_issuer":
		return !s.AssertionIssuer.IsZero()
	case "assertion_subject":
		return !s.AssertionSubject.IsZero()
	case "assertion_alg":
		return s.AssertionAlg != ""
	case "assertion_audience":
		return s.AssertionAudience != ""
	}
	return len(s.AssertionClaims) > 0
}

// Run implements Step.
func (s *JWTBearerStep) Run(ctx context.Context, st *State) error {
	assertion, err := s.assertion(ctx, st)
	if err != nil {
		return err
	}
	// The assertion is the grant itself: whoever holds it gets tokens.
	st.Secrets.Add(assertion)
	return s.grant(ctx, st, grantJWTBearer, url.Values{"assertion": {assertion}})
}

func (s *JWTBearerStep) assertion(ctx context.Context, st *State) (string, error) {
	if !s.Assertion.IsZero() {
		return st.Expand(s.Assertion)
	}
	text, err := st.Expand(s.AssertionKey)
	if err != nil {
		return "", err
	}
	st.Secrets.Add(keySecretForms(text)...)
	key, err := parseAssertionKey(text)
	if err != nil {
		return "", Fail(ReasonConfigInvalid, "assertion_key %s: %v", s.AssertionKey, err).With(F("field", "assertion_key"))
	}
	alg := jose.SignatureAlgorithm(cmp.Or(s.AssertionAlg, string(key.defaultAlg())))
	if !key.fits(alg) {
		return "", Fail(ReasonConfigInvalid, "assertion_alg %s does not fit the key (%s)", alg, key.describe()).With(F("field", "assertion_alg"))
	}
	clientID, err := st.Expand(s.ClientID)
	if err != nil {
		return "", err
	}
	iss := clientID
	if !s.AssertionIssuer.IsZero() {
		if iss, err = st.Expand(s.AssertionIssuer); err != nil {
			return "", err
		}
	}
	sub := iss
	if !s.AssertionSubject.IsZero() {
		if sub, err = st.Expand(s.AssertionSubject); err != nil {
			return "", err
		}
	}
	aud, err := s.audience(ctx, st)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid := cmp.Or(s.AssertionKeyID, key.kid); kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key.signer}, opts)
	if err != nil {
		return "", Fail(ReasonConfigInvalid, "assertion: %v", err).Wrap(err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := st.Now()
	claims := map[string]any{}
	for k, v := range s.AssertionClaims {
		claims[k] = v
	}
	for k, v := range map[string]any{"iss": iss, "sub": sub, "aud": aud, "jti": base64.RawURLEncoding.EncodeToString(jti),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(assertionGrantLifetime).Unix()} {
		claims[k] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", Fail(ReasonConfigInvalid, "assertion_claims: %v", err).Wrap(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", Fail(ReasonConfigInvalid, "assertion: %v", err).Wrap(err)
	}
	st.Note("the JWT bearer assertion was signed with key %s (%s, %s): iss %s, sub %s, aud %s", key.thumbprint(), key.describe(), alg, iss, sub, aud)
	return jws.CompactSerialize()
}

// assertionGrantLifetime: RFC 7523 §3 wants a short-lived assertion; Google
// accepts at most an hour, most IdPs a few minutes.
const assertionGrantLifetime = 5 * time.Minute

func (s *JWTBearerStep) audience(ctx context.Context, st *State) (string, error) {
	u, err := s.urls(st)
	if err != nil {
		return "", err
	}
	switch s.AssertionAudience {
	case "":
		if u.issuer != "" {
			return u.issuer, nil
		}
		fallthrough
	case assertionAudTokenEndpoint:
		endpoint, _, err := s.tokenEndpoint(ctx, st)
		return endpoint, err
	case assertionAudIssuer:
		if u.issuer == "" {
			return "", Fail(ReasonConfigInvalid, "assertion_audience: issuer needs the step's issuer")
		}
		return u.issuer, nil
	}
	return s.AssertionAudience, nil
}
