package flows

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/authwatch/authwatch/internal/exchange"
)

// classifyTransportError reads a network-level error (no HTTP answer, or an
// answer cut short) and names its reason. It returns nil for errors that
// are not about the network: those are authwatch's own.
func classifyTransportError(ctx context.Context, err error, ex *exchange.Exchange, now time.Time) *Failure {
	host := ""
	if ex != nil {
		host = ex.URL.Host
	} else if ue := (*url.Error)(nil); errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
	}
	if f := classifyTLSError(err, host, now); f != nil {
		return f.Wrap(err)
	}
	if f := classifyClientCertAlert(err, host, nil, false, now); f != nil {
		return f.Wrap(err) // a request that did not go through State.Client
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return Fail(ReasonInternalError, "the run was cancelled before %s answered (authwatch is stopping)", host).Wrap(err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err):
		phase := "headers"
		if ex != nil {
			phase = ex.Phase()
		}
		return Fail(ReasonTimeout, "no complete answer from %s: timed out in the %s phase%s", host, phase, deadlineNote(ctx)).
			With(F("phase", phase), F("host", host)).Wrap(err)
	case errors.As(err, &dnsErr):
		return Fail(ReasonDNSFailure, "host name %s does not resolve: %s", dnsErr.Name, dnsErr.Err).
			With(F("host", dnsErr.Name), F("not_found", dnsErr.IsNotFound)).Wrap(err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return Fail(ReasonConnectionFailed, "connection to %s refused: nothing listens there", host).With(F("host", host)).Wrap(err)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Fail(ReasonConnectionFailed, "connection to %s was reset or closed before a complete answer", host).With(F("host", host)).Wrap(err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Fail(ReasonConnectionFailed, "%s is unreachable from this host", host).With(F("host", host)).Wrap(err)
	case errors.Is(err, errTooManyRedirects):
		return Fail(ReasonUnexpectedStatus, "%v: the redirect chain does not end (a login loop?)", err).Wrap(err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return Fail(ReasonConnectionFailed, "connection to %s failed: %v", host, opErr.Err).With(F("host", host)).Wrap(err)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func deadlineNote(ctx context.Context) string {
	if dl, ok := ctx.Deadline(); ok && ctx.Err() != nil {
		return fmt.Sprintf(" (deadline passed at %s)", dl.UTC().Format(time.TimeOnly))
	}
	return ""
}

// classifyTLSError says which certificate check failed.
func classifyTLSError(err error, host string, now time.Time) *Failure {
	var (
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		verifErr *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &hostErr):
		return Fail(ReasonTLSCertificateInvalid, "the certificate of %s does not match the host name: it is valid for %s", host, certNames(hostErr.Certificate)).
			With(F("check", "hostname"), F("host", host))
	case errors.As(err, &unknown):
		return Fail(ReasonTLSCertificateInvalid, "the certificate of %s is signed by an untrusted authority (%s)", host, issuerOf(unknown.Cert)).
			With(F("check", "untrusted_chain"), F("host", host))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return expiredCertFailure(host, invalid.Cert, invalid.Detail, now)
	case errors.As(err, &invalid):
		return Fail(ReasonTLSCertificateInvalid, "the certificate of %s is invalid: %v", host, invalid).
			With(F("check", "invalid"), F("host", host))
	case errors.As(err, &verifErr):
		return Fail(ReasonTLSCertificateInvalid, "the certificate of %s failed verification: %v", host, verifErr.Err).
			With(F("check", "verification"), F("host", host))
	}
	return nil
}

func expiredCertFailure(host string, cert *x509.Certificate, detail string, now time.Time) *Failure {
	check, when := "expired", ""
	if cert != nil {
		when = cert.NotAfter.UTC().Format(time.RFC3339)
		if now.Before(cert.NotBefore) {
			check, when = "not_yet_valid", cert.NotBefore.UTC().Format(time.RFC3339)
		}
	}
	summary := fmt.Sprintf("the certificate of %s expired at %s", host, when)
	if check == "not_yet_valid" {
		summary = fmt.Sprintf("the certificate of %s is not valid before %s (or this host's clock is behind)", host, when)
	}
	return Fail(ReasonTLSCertificateInvalid, "%s", summary).With(F("check", check), F("host", host), F("detail", detail))
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "unknown names"
	}
	if len(c.DNSNames) > 0 {
		return fmt.Sprint(c.DNSNames)
	}
	return c.Subject.CommonName
}

func issuerOf(c *x509.Certificate) string {
	if c == nil {
		return "unknown issuer"
	}
	return "issuer " + c.Issuer.String()
}
