package flows

import (
	"github.com/authwatch/authwatch/internal/conf"
)

// Values of expect.access_token.bound.
const (
	boundMTLS = "mtls" // RFC 8705 §3: cnf.x5t#S256 is the client certificate's thumbprint
	boundDPoP = "dpop" // RFC 9449 §6.1: cnf.jkt is the DPoP key's thumbprint
)

// validateBound checks expect.*.bound at load: only the access token is
// sender-constrained, by mutual TLS or DPoP.
func (e *TokenExpect) validateBound() []error {
	var errs []error
	if e.IDToken != nil && e.IDToken.Bound != "" {
		errs = append(errs, conf.FieldErrorf("id_token.bound", "only the access token is bound to a sender; move it to access_token.bound"))
	}
	if e.AccessToken != nil && e.AccessToken.Bound != "" && e.AccessToken.Bound != boundMTLS && e.AccessToken.Bound != boundDPoP {
		errs = append(errs, conf.FieldErrorf("access_token.bound", "must be mtls (certificate-bound, RFC 8705) or dpop (RFC 9449), got %q", e.AccessToken.Bound))
	}
	return errs
}

// validateBinding: bound: mtls compares with the step's own certificate,
// bound: dpop with the step's own DPoP key.
func (r *TokenRequest) validateBinding() []error {
	if a := r.Expect.AccessToken; a != nil && a.Bound == boundMTLS && !r.TLSOptions.hasClientCertificate() {
		return []error{conf.FieldErrorf("expect.access_token.bound", "mtls needs the step's tls_client_certificate and tls_client_key: the token is compared with that certificate")}
	}
	if a := r.Expect.AccessToken; a != nil && a.Bound == boundDPoP && !r.DPoP {
		return []error{conf.FieldErrorf("expect.access_token.bound", "dpop needs dpop: true on the step: the token is compared with the key of its proofs")}
	}
	return nil
}

// checkBinding checks that a certificate-bound access token names the
// certificate the step presented (RFC 8705 §3.1: cnf with x5t#S256, the
// base64url SHA-256 of its DER). The token was verified and decoded by
// checkToken already; an opaque one never gets here.
func (st *State) checkBinding(raw, bound string, o TLSOptions) error {
	if bound == boundDPoP {
		return st.checkDPoPBound(raw)
	}
	if bound != boundMTLS {
		return nil
	}
	cert, err := st.clientCertificate(o)
	if err != nil || cert == nil {
		return err // validateBinding makes sure there is one
	}
	t, err := st.parseJWT(raw)
	if err != nil {
		return Fail(ReasonAssertionFailed, "the access token looks like a JWT but does not decode: %v", err)
	}
	cnf, _ := t.Claims["cnf"].(map[string]any)
	got, _ := cnf["x5t#S256"].(string)
	_, dpop := cnf["jkt"].(string)
	var f *Failure
	switch {
	case got == cert.x5t:
		return nil
	case got == "" && dpop:
		f = Fail(ReasonTokenBindingMismatch, "the access token is bound to a DPoP key (cnf.jkt), not to the client certificate: expected cnf.x5t#S256 %s", cert.x5t)
	case got == "":
		f = Fail(ReasonTokenBindingMismatch, "the access token is not bound to the client certificate: it has no cnf.x5t#S256, so it is a bearer token anyone holding it can use (is the client registered for certificate-bound tokens, and did the token request go over mutual TLS?); expected %s", cert.x5t)
	default:
		f = Fail(ReasonTokenBindingMismatch, "the access token is bound to another certificate: its cnf.x5t#S256 is %s, the step presented %s (%q)", got, cert.x5t, cert.leaf.Subject.String())
	}
	f.Evidence.Token = tokenEvidence(raw, t)
	return f.With(F("token_x5t#S256", got)).With(cert.facts()...)
}

// checkDPoPBound is bound: dpop: a JWT access token whose cnf.jkt is the
// thumbprint of the key the step's proofs were signed with. (dpop: true
// already refuses a Bearer answer and a JWT with another jkt; this also
// demands the JWT and the claim.)
func (st *State) checkDPoPBound(raw string) error {
	key := st.dpopState().keyFor(raw)
	if key == nil {
		return nil // validateBinding makes sure the step used DPoP
	}
	t, err := st.parseJWT(raw)
	if err != nil {
		return Fail(ReasonAssertionFailed, "expect.access_token.bound: dpop needs a JWT access token to read cnf.jkt from; this one does not decode (%v): check the binding at the API with auth.check_binding", err)
	}
	cnf, _ := t.Claims["cnf"].(map[string]any)
	got, _ := cnf["jkt"].(string)
	if got == key.jkt {
		return nil
	}
	f := Fail(ReasonTokenBindingMismatch, "the access token is not bound to the step's DPoP key %s: its cnf.jkt is %q", key.jkt, got)
	if _, cert := cnf["x5t#S256"].(string); cert && got == "" {
		f.Summary += " (it is bound to a client certificate instead: cnf.x5t#S256)"
	}
	f.Evidence.Token = tokenEvidence(raw, t)
	return f.With(F("dpop_jkt", key.jkt), F("cnf_jkt", got))
}
