package flows

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/authwatch/authwatch/internal/conf"
)

// clientCertRefused is expect.client_certificate: refused, the mutual TLS
// counterpart of a 401 negative check: the server must refuse the step's
// client certificate, or a client without one.
const clientCertRefused = "refused"

// validateClientCertificate: refused is the only value, and a check on its
// own: a refusal in the handshake leaves no answer for other checks.
func (e *HTTPExpect) validateClientCertificate() error {
	switch {
	case e.ClientCertificate == "":
		return nil
	case e.ClientCertificate != clientCertRefused:
		return conf.FieldErrorf("client_certificate", "must be refused, got %q", e.ClientCertificate)
	case len(e.Status.codes) > 0 || len(e.Headers) > 0 || len(e.JSON) > 0 || e.BodyContains != "" || e.Challenge != "" || e.Revoked:
		return conf.FieldErrorf("client_certificate", "refused is a check on its own (the refusal may come in the TLS handshake, with no answer to check): remove status, headers, json, body_contains, challenge and revoked")
	}
	return nil
}

// expectCertificateRefused judges the step's answer when the server must
// refuse its client certificate or its absence: client_certificate_rejected
// (a TLS alert about the certificate, nginx's certificate page) passes, a
// 2xx is auth_not_enforced, any other answer unexpected_status.
func (s *HTTPStep) expectCertificateRefused(st *State, resp *http.Response, err error) error {
	var f *Failure
	if errors.As(err, &f) && f.Reason == ReasonClientCertificateRejected {
		st.Note("the server refused, as expected: %s", f.Summary)
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := readBody(resp); err != nil {
		return err
	}
	st.SetOutput("status", strconv.Itoa(resp.StatusCode), false)
	st.SetOutput("location", resp.Header.Get("Location"), false)
	sent := "a request without a client certificate"
	if s.TLSOptions.hasClientCertificate() {
		sent = "this step's client certificate"
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return Fail(ReasonAuthNotEnforced, "%s %s answered %d to %s, which must be refused (expect.client_certificate: refused): mutual TLS is not enforced",
			resp.Request.Method, resp.Request.URL.Redacted(), resp.StatusCode, sent).With(F("status", resp.StatusCode))
	}
	return Fail(ReasonUnexpectedStatus, "%s %s answered %d %s, expected it to refuse %s in the TLS handshake or with nginx's certificate page (expect.client_certificate: refused)",
		resp.Request.Method, resp.Request.URL.Redacted(), resp.StatusCode, http.StatusText(resp.StatusCode), sent).With(F("status", resp.StatusCode))
}
