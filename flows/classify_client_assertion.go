package flows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// unknownClient matches descriptions that say the client id itself is
// unknown: that stays invalid_client, whatever the authentication method.
var unknownClient = regexp.MustCompile(`(?i)client not found|unknown client|no such client|client (id )?does not exist|client is invalid|AADSTS700016`)

// mentionsAssertion matches an invalid_request about the assertion itself
// (oidc-provider: "invalid client_assertion format").
var mentionsAssertion = regexp.MustCompile(`(?i)client_assertion|client assertion`)

// assertionCauses read the IdP's words about a refused assertion, first
// match wins (Okta, Entra ID, Keycloak and oidc-provider say these).
var assertionCauses = []struct {
	problem string
	words   *regexp.Regexp
	means   string
}{
	{"replay", regexp.MustCompile(`(?i)\bjti\b|replay|used once|already (been )?used`),
		"the IdP saw this assertion's jti before (a replayed assertion: something resent the request)"},
	{"algorithm", regexp.MustCompile(`(?i)\balg\b|algorithm`),
		"the IdP does not accept the signing algorithm for this client: set client_assertion_alg to the one registered"},
	{"audience", regexp.MustCompile(`(?i)\baud\b|audience`),
		"the IdP wants another aud: set client_assertion_audience (token_endpoint, issuer or the literal the IdP documents)"},
	{"time", regexp.MustCompile(`(?i)expired|\bexp\b|time range|not yet valid|\biat\b|\bnbf\b|clock|AADSTS700024`),
		"the IdP refused the assertion's times (iat/exp): check the monitor's clock"},
	{"key", regexp.MustCompile(`(?i)\bkid\b|key id|(matching|applicable) key|key set|key not found|no key|unknown key|not registered|jwks|signature|certificate|AADSTS700027|AADSTS700023`),
		"the IdP does not hold this key for the client (unknown kid, key or certificate not registered, or a signature that does not verify): compare client_key_thumbprint with the keys registered for the client"},
}

// classifyAssertionRefusal makes a refused client authentication of an
// assertion client_assertion_rejected, told apart from invalid_client (a
// wrong secret, an unknown client), with what the IdP's words point at
// and the assertion's public facts.
func (r *TokenRequest) classifyAssertionRefusal(st *State, endpoint string, f *Failure) {
	if !r.usesAssertion() {
		return
	}
	var re *oauth2.RetrieveError
	if !errors.As(f.Err, &re) {
		return
	}
	status, header := 0, http.Header{}
	if re.Response != nil {
		status, header = re.Response.StatusCode, re.Response.Header
	}
	oe := oauthError(re, header)
	switch {
	case f.Reason == ReasonInvalidClient && !unknownClient.MatchString(oe.Description):
	case oe.Code == "invalid_request" && mentionsAssertion.MatchString(oe.Description):
	default:
		return
	}
	f.Reason = ReasonClientAssertionRejected
	problem, means := "unstated", "the IdP did not say why; compare client_key_thumbprint (or the certificate's x5t#S256), kid, alg and aud with what is registered for the client, and look for the refusal in the IdP's log"
	for _, c := range assertionCauses {
		if c.words.MatchString(oe.Description) {
			problem, means = c.problem, c.means
			break
		}
	}
	var detail []string
	if setup, err := r.setupAssertion(st, factString(f, "client_id"), endpoint); err == nil {
		f.With(setup.facts()...)
		detail = append(detail, string(setup.alg))
		if setup.kid != "" {
			detail = append(detail, fmt.Sprintf("kid %q", setup.kid))
		}
		if setup.x5t != "" {
			detail = append(detail, "x5t#S256 "+setup.x5t)
		}
		detail = append(detail, fmt.Sprintf("aud %q", setup.aud))
	}
	f.With(F("client_assertion_problem", problem))
	f.Summary = fmt.Sprintf("the token endpoint refused the client assertion (client %s, %s, %s): %s; %s",
		factValue(f.Evidence.Facts, "client_id"), r.ClientAuth, strings.Join(detail, ", "), describeOAuthError(status, oe), means)
}

func factString(f *Failure, name string) string {
	for _, fc := range f.Evidence.Facts {
		if fc.Name == name {
			return fc.Value
		}
	}
	return ""
}

// sharedCacheKey is tokenCacheKey, plus the x5t#S256 of the client
// certificate the step presents (a certificate-bound token works only with
// that certificate: a renewed certificate behind the same reference needs
// a token of its own), plus, for an assertion client, what identifies its
// assertions but changes with none of them (the key's thumbprint, alg,
// kid, x5t#S256 and aud): two flows with the same client id but another
// key must not share a token.
func (r *TokenRequest) sharedCacheKey(st *State, grant grantType, cfg *clientcredentials.Config) (string, error) {
	key := tokenCacheKey(grant, cfg, r.TLSOptions)
	cert, err := st.clientCertificate(r.TLSOptions)
	if err != nil {
		return "", err
	}
	if cert != nil {
		sum := sha256.Sum256([]byte(key + "\nclient_certificate_x5t#S256=" + cert.x5t))
		key = hex.EncodeToString(sum[:])
	}
	if !r.usesAssertion() {
		return key, nil
	}
	setup, err := r.setupAssertion(st, cfg.ClientID, cfg.TokenURL)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", key, r.ClientAuth)
	for _, fc := range setup.facts() {
		fmt.Fprintf(h, "%d:%s=%s\n", len(fc.Value), fc.Name, fc.Value)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
