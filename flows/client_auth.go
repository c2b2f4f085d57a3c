package flows

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authwatch/authwatch/internal/conf"
)

// JWT client authentication methods (RFC 7523 §2.2, OIDC Core §9).
const (
	authPrivateKeyJWT   = "private_key_jwt"
	authClientSecretJWT = "client_secret_jwt"
)

const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime is short: the assertion is a bearer credential
	// until it expires, and it is made afresh for every request.
	assertionLifetime = 60 * time.Second
)

// Values of client_assertion_audience besides a literal audience.
const (
	assertionAudIssuer        = "issuer"
	assertionAudTokenEndpoint = "token_endpoint"
)

var assertionAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// ClientAssertion are the options of the JWT client authentication methods:
// with client_auth private_key_jwt the token request carries an assertion
// signed with the client's private key instead of a secret; with
// client_secret_jwt one signed (HS256) with the client secret.
type ClientAssertion struct {
	ClientKey         conf.Template `yaml:"client_key,omitempty" json:"client_key,omitempty" jsonschema:"description=private_key_jwt: the client's private key (PEM: PKCS#8\\, PKCS#1 or EC; or a private JWK) from a secret reference only\\, e.g. ${file:/etc/authwatch/okta-client.key} or ${credential:okta-client-key}. Never a literal; never logged\\, stored or shown."`
	ClientKeyID       string        `yaml:"client_key_id,omitempty" json:"client_key_id,omitempty" jsonschema:"description=private_key_jwt: the kid header of the assertion (the key's id as registered at the IdP\\, e.g. Okta's); default the JWK's kid."`
	ClientCertificate conf.Template `yaml:"client_certificate,omitempty" json:"client_certificate,omitempty" jsonschema:"description=private_key_jwt: the certificate of the key (PEM)\\, as uploaded to the IdP; the assertion then carries its SHA-256 thumbprint as x5t#S256 (Entra ID certificate credentials). A path reference such as ${file:/etc/authwatch/entra-client.crt}."`
	AssertionAlg      string        `yaml:"client_assertion_alg,omitempty" json:"client_assertion_alg,omitempty" jsonschema:"enum=RS256,enum=RS384,enum=RS512,enum=PS256,enum=PS384,enum=PS512,enum=ES256,enum=ES384,enum=ES512,enum=EdDSA,enum=HS256,description=Signing algorithm of the client assertion. Default: from the key (RSA: RS256\\, EC P-256: ES256\\, Ed25519: EdDSA); HS256 for client_secret_jwt."`
	AssertionAudience string        `yaml:"client_assertion_audience,omitempty" json:"client_assertion_audience,omitempty" jsonschema:"description=The aud claim of the client assertion: token_endpoint (default\\, RFC 7523)\\, issuer (some IdPs want the issuer)\\, or a literal audience."`
}

// usesAssertion reports whether the client authenticates with a JWT.
func (r *TokenRequest) usesAssertion() bool {
	return r.ClientAuth == authPrivateKeyJWT || r.ClientAuth == authClientSecretJWT
}

// validateAssertion checks the JWT client authentication options at load.
func (r *TokenRequest) validateAssertion() []error {
	a := r.ClientAssertion
	var errs []error
	if !r.usesAssertion() {
		for field, set := range map[string]bool{"client_key": !a.ClientKey.IsZero(), "client_key_id": a.ClientKeyID != "",
			"client_certificate": !a.ClientCertificate.IsZero(), "client_assertion_alg": a.AssertionAlg != "", "client_assertion_audience": a.AssertionAudience != ""} {
			if set {
				errs = append(errs, conf.FieldErrorf(field, "only goes with client_auth: private_key_jwt or client_secret_jwt"))
			}
		}
		slices.SortFunc(errs, func(x, y error) int { return strings.Compare(x.Error(), y.Error()) })
		return errs
	}
	if r.ClientAuth == authPrivateKeyJWT {
		errs = append(errs, validateClientKey(a.ClientKey))
		if !r.ClientSecret.IsZero() {
			errs = append(errs, conf.FieldErrorf("client_secret", "not used with private_key_jwt (the key signs the assertion); remove it"))
		}
		if a.AssertionAlg != "" && !slices.Contains(assertionAlgs, a.AssertionAlg) {
			errs = append(errs, conf.FieldErrorf("client_assertion_alg", "must be one of %s for private_key_jwt, got %q", strings.Join(assertionAlgs, ", "), a.AssertionAlg))
		}
		errs = append(errs, validateClientCertificate(a.ClientCertificate))
	} else {
		if r.ClientSecret.IsZero() {
			errs = append(errs, conf.FieldErrorf("client_secret", "required for client_secret_jwt (it signs the assertion)"))
		}
		if a.AssertionAlg != "" && a.AssertionAlg != "HS256" {
			errs = append(errs, conf.FieldErrorf("client_assertion_alg", "client_secret_jwt signs with HS256, got %q", a.AssertionAlg))
		}
		for field, set := range map[string]bool{"client_key": !a.ClientKey.IsZero(), "client_key_id": a.ClientKeyID != "", "client_certificate": !a.ClientCertificate.IsZero()} {
			if set {
				errs = append(errs, conf.FieldErrorf(field, "only goes with client_auth: private_key_jwt (client_secret_jwt signs with the client secret)"))
			}
		}
	}
	switch aud := a.AssertionAudience; {
	case aud == "" || aud == assertionAudTokenEndpoint:
	case aud == assertionAudIssuer:
		if r.Issuer.IsZero() {
			errs = append(errs, conf.FieldErrorf("client_assertion_audience", "issuer needs the step's issuer field; give the audience as a literal instead"))
		}
	default:
		if u, err := url.Parse(aud); err != nil || u.Scheme == "" || strings.ContainsAny(aud, " \t\n") {
			errs = append(errs, conf.FieldErrorf("client_assertion_audience", "must be token_endpoint, issuer or an absolute URI, got %q", truncate(aud, 80)))
		}
	}
	for _, p := range []string{"client_assertion", "client_assertion_type"} {
		if _, ok := r.Params[p]; ok {
			errs = append(errs, conf.FieldErrorf("params."+p, "%s is set by client_auth: %s itself", p, r.ClientAuth))
		}
	}
	return compact(errs)
}

// validateClientKey: a private key comes only from one secret reference.
func validateClientKey(t conf.Template) error {
	if t.IsZero() {
		return conf.FieldErrorf("client_key", "required for private_key_jwt: a secret reference to the private key, e.g. ${file:/etc/authwatch/client.key}")
	}
	return validateKeyRef("client_key", t)
}

// validateKeyRef checks that a private key field is exactly one secret
// reference: a key is never written into a flow file.
func validateKeyRef(field string, t conf.Template) error {
	refs := t.Refs()
	switch {
	case t.LoadErr() != nil:
		return nil // reported with the template's own error
	case len(refs) == 0:
		// Never quote the value: it is a private key.
		return conf.FieldErrorf(field, "a private key is never written into a flow file: give a secret reference such as ${file:/etc/authwatch/client.key}, ${env:NAME} or ${credential:NAME}")
	case len(refs) != 1 || t.String() != refs[0].String():
		return conf.FieldErrorf(field, "must be exactly one secret reference such as ${file:/etc/authwatch/client.key}, with nothing around it")
	case !refs[0].IsSecret():
		return conf.FieldErrorf(field, "must come from a secret reference (${file:...}, ${env:...}, ${credential:...}), not from %s", refs[0])
	}
	return nil
}

// validateClientCertificate checks a literal certificate at load; a
// referenced one is checked by checkLoadSecrets when it resolves.
func validateClientCertificate(t conf.Template) error {
	if !t.IsLiteral() {
		return nil
	}
	if _, _, err := parseClientCertificate(t.String()); err != nil {
		return conf.FieldErrorf("client_certificate", "%v", err)
	}
	return nil
}

// checkLoadSecrets parses the private keys (and certificates) at load when
// their references resolve here, so a key that does not parse is a
// positioned load error rather than a failing run. The error names the
// field and the reference, never the key.
func (r *TokenRequest) checkLoadSecrets(resolve func(conf.Ref) (string, error)) error {
	return joinErrs(compact([]error{r.TLSOptions.checkLoadSecrets(resolve), r.checkAssertionSecrets(resolve)}))
}

// checkAssertionSecrets is checkLoadSecrets for private_key_jwt's key.
func (r *TokenRequest) checkAssertionSecrets(resolve func(conf.Ref) (string, error)) error {
	if r.ClientAuth != authPrivateKeyJWT || validateClientKey(r.ClientKey) != nil {
		return nil
	}
	ref := r.ClientKey.Refs()[0]
	text, err := resolve(ref)
	if err != nil {
		return nil // unset here: the loader already warns
	}
	key, err := parseAssertionKey(text)
	if err != nil {
		return conf.FieldErrorf("client_key", "%s: %v", ref, err)
	}
	if err := r.checkKeyOptions(key); err != nil {
		return err
	}
	certText, ok := r.resolveCertificate(resolve)
	if !ok {
		return nil
	}
	cert, _, err := parseClientCertificate(certText)
	if err != nil {
		return conf.FieldErrorf("client_certificate", "%s: %v", r.ClientCertificate, err)
	}
	if !key.matches(cert) {
		return conf.FieldErrorf("client_certificate", "%s is not the certificate of client_key %s (its public key differs)", r.ClientCertificate, ref)
	}
	return nil
}

func (r *TokenRequest) resolveCertificate(resolve func(conf.Ref) (string, error)) (string, bool) {
	if r.ClientCertificate.IsZero() || r.ClientCertificate.LoadErr() != nil || r.ClientCertificate.HasStepRefs() {
		return "", false
	}
	v, err := r.ClientCertificate.Expand(resolve)
	return v, err == nil
}

// checkKeyOptions checks that the algorithm fits the key.
func (r *TokenRequest) checkKeyOptions(key assertionKey) error {
	alg := jose.SignatureAlgorithm(r.AssertionAlg)
	if alg != "" && !key.fits(alg) {
		return conf.FieldErrorf("client_assertion_alg", "%s does not fit client_key (%s key); leave client_assertion_alg out to use %s", alg, key.describe(), key.defaultAlg())
	}
	return nil
}

// assertionSetup is everything a client assertion is made of but its
// claims' times and jti, resolved for one run.
type assertionSetup struct {
	clientID string
	alg      jose.SignatureAlgorithm
	key      any    // crypto.Signer, or the secret's bytes for HS256
	kid      string // header kid
	x5t      string // header x5t#S256
	aud      string
	keyFacts []Fact // public facts about the key, safe to show
}

// setupAssertion resolves the key (or secret) and the header and audience
// of the run's client assertions. Its failures are the flow's
// configuration's: a key that does not parse, an algorithm it cannot use.
func (r *TokenRequest) setupAssertion(st *State, clientID, endpoint string) (*assertionSetup, error) {
	s := &assertionSetup{clientID: clientID, alg: jose.SignatureAlgorithm(r.AssertionAlg)}
	aud, err := r.assertionAudience(st, endpoint)
	if err != nil {
		return nil, err
	}
	s.aud = aud
	if r.ClientAuth == authClientSecretJWT {
		return s, s.setupSecret(st, r.ClientSecret)
	}
	text, err := st.Expand(r.ClientKey)
	if err != nil {
		return nil, err
	}
	st.Secrets.Add(keySecretForms(text)...)
	key, err := parseAssertionKey(text)
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "client_key %s: %v", r.ClientKey, err).With(F("field", "client_key"))
	}
	if err := r.checkKeyOptions(key); err != nil {
		return nil, Fail(ReasonConfigInvalid, "%v", err).With(F("field", "client_assertion_alg"))
	}
	if s.alg == "" {
		s.alg = key.defaultAlg()
	}
	s.key, s.kid = key.signer, cmp.Or(r.ClientKeyID, key.kid)
	s.keyFacts = []Fact{F("client_key", key.describe()), F("client_key_thumbprint", key.thumbprint())}
	return s, r.setupCertificate(st, s, key)
}

func (s *assertionSetup) setupSecret(st *State, t conf.Template) error {
	secret, err := st.Expand(t)
	if err != nil {
		return err
	}
	if len(secret) < 32 {
		// RFC 7518 §3.2: the HMAC key is at least as long as the hash.
		return Fail(ReasonConfigInvalid, "client_secret_jwt: the client secret has %d bytes; HS256 needs at least 32 (RFC 7518 §3.2)", len(secret)).With(F("field", "client_secret"))
	}
	s.alg, s.key = jose.HS256, []byte(secret)
	return nil
}

func (r *TokenRequest) setupCertificate(st *State, s *assertionSetup, key assertionKey) error {
	if r.ClientCertificate.IsZero() {
		return nil
	}
	text, err := st.Expand(r.ClientCertificate)
	if err != nil {
		return err
	}
	cert, x5t, err := parseClientCertificate(text)
	if err != nil {
		return Fail(ReasonConfigInvalid, "client_certificate %s: %v", r.ClientCertificate, err).With(F("field", "client_certificate"))
	}
	if !key.matches(cert) {
		return Fail(ReasonConfigInvalid, "client_certificate %s is not the certificate of client_key %s (its public key differs)", r.ClientCertificate, r.ClientKey).With(F("field", "client_certificate"))
	}
	s.x5t = x5t
	s.keyFacts = append(s.keyFacts, F("client_certificate_x5t#S256", x5t), F("client_certificate_not_after", cert.NotAfter.UTC().Format(time.RFC3339)))
	return nil
}

func (r *TokenRequest) assertionAudience(st *State, endpoint string) (string, error) {
	switch r.AssertionAudience {
	case "", assertionAudTokenEndpoint:
		return endpoint, nil
	case assertionAudIssuer:
		u, err := r.urls(st)
		return u.issuer, err
	}
	return r.AssertionAudience, nil
}

// sign makes one client assertion: iss = sub = client_id, the audience,
// a fresh jti, iat and nbf now (Entra ID lists nbf; MSAL sends it) and exp
// a minute later.
func (s *assertionSetup) sign(now time.Time) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if s.kid != "" {
		opts = opts.WithHeader("kid", s.kid)
	}
	if s.x5t != "" {
		opts = opts.WithHeader("x5t#S256", s.x5t)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti) // never fails (crypto/rand)
	claims, err := json.Marshal(map[string]any{"iss": s.clientID, "sub": s.clientID, "aud": s.aud,
		"jti": base64.RawURLEncoding.EncodeToString(jti), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(assertionLifetime).Unix()})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// facts are what a failure shows about the assertion: all public.
func (s *assertionSetup) facts() []Fact {
	facts := []Fact{F("client_assertion_alg", s.alg), F("client_assertion_aud", s.aud)}
	if s.kid != "" {
		facts = append(facts, F("client_assertion_kid", s.kid))
	}
	return append(facts, s.keyFacts...)
}

// withClientAssertion returns cfg with a fresh client assertion for this
// request. It is made here, just before the request is sent (after any wait
// for the shared token cache), so its one minute of life starts when it is
// used, and every request (each device code poll, a rotation check's second
// refresh) has its own jti.
//
// The assertion rides in EndpointParams with AuthStyleInParams and no
// client secret, rather than in a request built by hand: the token request
// stays the one clientcredentials sends for every other method, with the
// same typed *oauth2.RetrieveError and classification. x/oauth2 adds
// client_id to the form, which RFC 7523 §3.2 allows and the IdPs accept.
func (r *TokenRequest) withClientAssertion(st *State, cfg *clientcredentials.Config) (*clientcredentials.Config, error) {
	if !r.usesAssertion() {
		return cfg, nil
	}
	setup, err := r.setupAssertion(st, cfg.ClientID, cfg.TokenURL)
	if err != nil {
		return nil, err
	}
	assertion, err := setup.sign(st.Now())
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "%v", err).Wrap(err)
	}
	st.Secrets.Add(assertion) // a bearer credential until it expires
	out := *cfg
	out.ClientSecret = ""
	out.AuthStyle = oauth2.AuthStyleInParams
	out.EndpointParams = cloneValues(cfg.EndpointParams)
	out.EndpointParams.Set("client_assertion_type", clientAssertionType)
	out.EndpointParams.Set("client_assertion", assertion)
	return &out, nil
}
