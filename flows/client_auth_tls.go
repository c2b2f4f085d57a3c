package flows

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
)

// Mutual TLS client authentication methods (RFC 8705 §2): the client
// proves itself with the certificate of the TLS connection, and sends only
// its client_id in the body.
const (
	authTLSClientAuth           = "tls_client_auth"             // a PKI certificate, matched by subject DN or SAN
	authSelfSignedTLSClientAuth = "self_signed_tls_client_auth" // a certificate registered itself (in the client's JWKS)
)

// usesTLSClientAuth reports whether the client authenticates with its
// TLS client certificate.
func (r *TokenRequest) usesTLSClientAuth() bool {
	return r.ClientAuth == authTLSClientAuth || r.ClientAuth == authSelfSignedTLSClientAuth
}

// validateTLSClientAuth checks the mutual TLS client authentication
// options at load.
func (r *TokenRequest) validateTLSClientAuth() []error {
	errs := r.validateBinding()
	if !r.usesTLSClientAuth() {
		return errs
	}
	if r.TLSClientCertificate.IsZero() && r.TLSClientKey.IsZero() {
		errs = append(errs, conf.FieldErrorf("tls_client_certificate", "required for %s: the client certificate (with tls_client_key) the connection to the IdP presents", r.ClientAuth))
	}
	if !r.ClientSecret.IsZero() {
		errs = append(errs, conf.FieldErrorf("client_secret", "not used with %s (the TLS client certificate authenticates the client); remove it", r.ClientAuth))
	}
	return errs
}

// mtlsTokenEndpoint is the token endpoint a step that presents a client
// certificate uses (see mtlsEndpoint).
func (r *TokenRequest) mtlsTokenEndpoint(st *State, doc *DiscoveryDoc) string {
	return mtlsEndpoint(st, r.TLSOptions, doc, "token_endpoint", doc.TokenEndpoint)
}

// mtlsEndpoint is the address of the discovered endpoint named field
// (token_endpoint, pushed_authorization_request_endpoint, userinfo_endpoint,
// ...) for a step: when the step presents a client certificate, the
// discovery document's mtls_endpoint_aliases entry for it if there is one
// (RFC 8705 §5: the IdP may ask for client certificates, and check
// certificate-bound tokens, on another host only), else plain, the
// document's own field.
func mtlsEndpoint(st *State, o TLSOptions, doc *DiscoveryDoc, field, plain string) string {
	if doc == nil || !o.hasClientCertificate() {
		return plain
	}
	raw, ok := doc.fields["mtls_endpoint_aliases"]
	if !ok {
		return plain
	}
	var aliases map[string]any
	if json.Unmarshal(raw, &aliases) != nil {
		return plain
	}
	alias, _ := aliases[field].(string)
	if alias == "" {
		return plain
	}
	if u, err := url.Parse(alias); err != nil || u.Scheme != "https" || u.Host == "" {
		st.Note("mtls_endpoint_aliases.%s %q is not an https URL; the %s is used instead", field, truncate(alias, 120), field)
		return plain
	}
	return alias
}

// mtlsRefusal matches what IdPs say when they refuse the certificate of a
// tls_client_auth client (oidc-provider's error_detail, Keycloak, Okta,
// Entra ID's AADSTS codes for certificate credentials).
var mtlsRefusal = regexp.MustCompile(`(?i)certificate|subject|\bSAN\b|\bDN\b|mutual TLS|mtls|x5t`)

// classifyCertificateRefusal makes an IdP's refusal of a tls_client_auth
// or self_signed_tls_client_auth client client_certificate_rejected, with
// the IdP's words, the certificate's public facts, and whether the TLS
// server asked for the certificate at all (when it did not, the IdP never
// saw it: mutual TLS is off on that endpoint, or a proxy terminating TLS
// does not pass the certificate on).
func (r *TokenRequest) classifyCertificateRefusal(st *State, endpoint string, f *Failure) {
	if !r.usesTLSClientAuth() || f.Reason != ReasonInvalidClient {
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
	if unknownClient.MatchString(oe.Description) {
		return // an unknown client id stays invalid_client
	}
	f.Reason = ReasonClientCertificateRejected
	host := endpointHost(endpoint)
	means := "the IdP did not say why: compare the certificate's subject, SAN and issuer (or, for self_signed_tls_client_auth, its x5t#S256) with what is registered for the client"
	if mtlsRefusal.MatchString(oe.Description) {
		means = "compare the certificate's subject, SAN and issuer (or, for self_signed_tls_client_auth, its x5t#S256) with what is registered for the client (tls_client_auth_subject_dn, tls_client_auth_san_*, or the client's JWKS)"
	}
	asked, known := r.certificateAsked(st, host)
	if known && !asked {
		means = fmt.Sprintf("the TLS server at %s never asked for the client certificate, so the IdP cannot have seen it: mutual TLS is not enabled on that endpoint (use the IdP's mtls_endpoint_aliases), or a proxy terminating TLS does not ask for it or pass it on", host)
	}
	f.With(F("client_certificate_requested", asked))
	f.Summary = fmt.Sprintf("the token endpoint refused the client certificate (client %s, %s): %s; %s",
		factValue(f.Evidence.Facts, "client_id"), r.ClientAuth, describeOAuthError(status, oe), means)
	if cert, err := st.clientCertificate(r.TLSOptions); err == nil && cert != nil {
		f.Summary += cert.describe(st.Now())
		f.With(cert.facts()...)
	}
}

// certificateAsked reports whether a handshake with host asked for the
// step's client certificate.
func (r *TokenRequest) certificateAsked(st *State, host string) (asked, known bool) {
	cert, err := st.clientCertificate(r.TLSOptions)
	if err != nil || cert == nil {
		return false, false
	}
	base, err := st.runner.transport(r.TLSOptions, cert)
	if err != nil {
		return false, false
	}
	return askedFor(base, host)
}

func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Host
}
