package flows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// clientCertAlerts are the TLS alerts (RFC 8446 §6.2) a server sends about
// the client's certificate, or its absence: a server never sends them
// about its own. Go reports a received alert as a *net.OpError with Op
// "remote error" around crypto/tls's unexported alert type, so the alert
// is known by its text.
var clientCertAlerts = map[string]string{
	"certificate required":          "missing",
	"bad certificate":               "refused",
	"unsupported certificate":       "unsupported",
	"revoked certificate":           "revoked",
	"expired certificate":           "expired",
	"unknown certificate":           "refused",
	"unknown certificate authority": "untrusted",
	"access denied":                 "refused",
}

// receivedAlert returns the text of a TLS alert the server sent ("bad
// certificate"), or "".
func receivedAlert(err error) string {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return ""
	}
	return strings.TrimPrefix(op.Err.Error(), "tls: ")
}

// classifyClientCertAlert makes a TLS alert about the client certificate
// client_certificate_rejected, told apart from a server certificate this
// side refused (tls_certificate_invalid, classifyTLSError). cert is the
// certificate the step presented (nil: none); asked says a handshake with
// the host requested one (for handshake_failure, which OpenSSL sends for
// a missing certificate in TLS 1.2 but also for unrelated mismatches).
func classifyClientCertAlert(err error, host string, cert *clientCertificate, asked bool, now time.Time) *Failure {
	alert := receivedAlert(err)
	check, ok := clientCertAlerts[alert]
	if !ok && alert == "handshake failure" && asked {
		check, ok = "refused", true
	}
	if !ok {
		return nil
	}
	if alert == "access denied" && cert == nil && !asked {
		return accessDenied(host)
	}
	if cert == nil && (check == "refused" || check == "missing") {
		check = "missing"
	}
	f := clientCertFailure(host, check, fmt.Sprintf("TLS alert %q", alert), cert, now)
	return f.With(F("tls_alert", alert))
}

// accessDenied is an access_denied alert to a step that presents no
// certificate: TLS terminators and WAFs send it for IP, SNI or ACL
// denials too, so it is not said to be about a client certificate.
func accessDenied(host string) *Failure {
	return Fail(ReasonConnectionFailed, "%s refused the TLS handshake (TLS alert \"access denied\"): a TLS terminator, WAF or ACL denied this client (by its address, the server name or a rule); it may also require a client certificate (mutual TLS), which this step does not present",
		host).With(F("host", host), F("tls_alert", "access denied"))
}

// clientCertFailure says what the server refused, with what the monitor
// itself sees of the certificate (an expiry by this host's clock).
func clientCertFailure(host, check, said string, cert *clientCertificate, now time.Time) *Failure {
	var b strings.Builder
	switch check {
	case "missing":
		if cert == nil {
			fmt.Fprintf(&b, "%s requires a client certificate (mutual TLS) and this step presents none (%s): give the step tls_client_certificate and tls_client_key", host, said)
		} else {
			fmt.Fprintf(&b, "%s says no client certificate was sent (%s), though this step presents %s", host, said, cert.x5t)
		}
	case "untrusted":
		fmt.Fprintf(&b, "%s refused the client certificate: it does not trust its issuer (%s): the server trusts only the CAs it is configured with (nginx ssl_client_certificate)", host, said)
	case "expired":
		fmt.Fprintf(&b, "%s refused the client certificate as expired (%s)", host, said)
	case "revoked":
		fmt.Fprintf(&b, "%s refused the client certificate as revoked (%s): issue a new one", host, said)
	case "unsupported":
		fmt.Fprintf(&b, "%s refused the client certificate as unsupported (%s): check its key usage (clientAuth) and key type", host, said)
	default:
		fmt.Fprintf(&b, "%s refused the client certificate (%s)", host, said)
	}
	f := Fail(ReasonClientCertificateRejected, "%s", b.String()).With(F("check", check), F("host", host))
	if cert == nil {
		return f
	}
	f.Summary += cert.describe(now)
	return f.With(cert.facts()...)
}

// describe is what a summary says of the certificate: who issued it, for
// whom, and whether this host's clock finds it expired or not yet valid.
func (c *clientCertificate) describe(now time.Time) string {
	s := fmt.Sprintf("; the certificate (x5t#S256 %s) is for %q, issued by %q", c.x5t, c.leaf.Subject.String(), c.leaf.Issuer.String())
	switch {
	case now.After(c.leaf.NotAfter):
		s += ", and expired at " + c.leaf.NotAfter.UTC().Format(time.RFC3339) + ": renew it"
	case now.Before(c.leaf.NotBefore):
		s += ", and is not valid before " + c.leaf.NotBefore.UTC().Format(time.RFC3339) + " (or this host's clock is behind)"
	}
	return s
}

// nginxCertPages are the pages nginx answers, as 400, when its
// ssl_verify_client check fails: it completes the handshake either way
// and refuses in HTTP (its internal 496 and 495), logging the reason only
// in its own error log.
var nginxCertPages = []struct{ text, check string }{
	{"No required SSL certificate was sent", "missing"},
	{"The SSL certificate error", "refused"},
}

// nginxRefusal recognises nginx's client certificate pages. The body it
// reads is put back, so a response that is not one reads as before.
func (c clientCertAnswers) nginxRefusal(req *http.Request, resp *http.Response) *Failure {
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return nil
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil {
		return nil
	}
	for _, p := range nginxCertPages {
		if !bytes.Contains(head, []byte(p.text)) {
			continue
		}
		_ = resp.Body.Close()
		f := clientCertFailure(req.URL.Host, p.check, fmt.Sprintf("400 %q", p.text), c.cert, c.st.Now())
		if p.check == "refused" && c.cert != nil && c.st.Now().After(c.cert.leaf.NotAfter) {
			// nginx does not say why; this host's clock does (describe).
			setFact(f, "check", "expired")
		}
		if factString(f, "check") == "refused" {
			f.Summary += "; nginx does not say why, its error log does (client SSL certificate verify error): an untrusted issuer, a revoked certificate or a wrong key usage"
		}
		return f.With(F("status", resp.StatusCode))
	}
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// setFact replaces the value of a fact the failure already has.
func setFact(f *Failure, name, value string) {
	for i := range f.Evidence.Facts {
		if f.Evidence.Facts[i].Name == name {
			f.Evidence.Facts[i].Value = value
		}
	}
}
