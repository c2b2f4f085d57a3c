// Package exchange records the HTTP exchanges of a step (every hop of every
// request, with timings from httptrace) as raw material for classification.
// What it records may contain secrets: callers redact before showing it.
package exchange

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"time"
)

// BodyCap bounds how much of each body is kept as evidence.
const BodyCap = 64 << 10

// Exchange is one request and its answer (or its error), as seen on the wire.
type Exchange struct {
	Start          time.Time
	Method         string
	URL            *url.URL
	RequestHeader  http.Header
	RequestBody    []byte
	Status         int
	Proto          string
	ResponseHeader http.Header
	Body           []byte // at most BodyCap bytes
	BodyTruncated  bool
	BodyRead       int64 // bytes of the body its reader read, kept or not
	BodyComplete   bool  // the body was read to its end
	Err            error
	Timings        Timings
	TLS            *TLSInfo
	RemoteAddr     string
}

// Timings are offsets from Start; zero means the phase did not happen (or
// did not finish: see the Started flags).
type Timings struct {
	DNSStart, DNSDone         time.Duration
	ConnectStart, ConnectDone time.Duration
	TLSStart, TLSDone         time.Duration
	WroteRequest              time.Duration
	FirstByte                 time.Duration
	Done                      time.Duration
	ReusedConn                bool
}

// TLSInfo describes the server certificate that was presented.
type TLSInfo struct {
	Version       string
	Subject       string
	Issuer        string
	DNSNames      []string
	NotBefore     time.Time
	NotAfter      time.Time
	VerifySkipped bool
}

// Phase names the phase an unfinished exchange was in: dns, connect, tls,
// headers (request sent, waiting for the status line) or body.
func (e *Exchange) Phase() string {
	t := e.Timings
	switch {
	case e.Status != 0:
		return "body"
	case t.DNSStart != 0 && t.DNSDone == 0:
		return "dns"
	case t.ConnectStart != 0 && t.ConnectDone == 0:
		return "connect"
	case t.TLSStart != 0 && t.TLSDone == 0:
		return "tls"
	case t.WroteRequest != 0:
		return "headers"
	case t.ConnectDone == 0 && !t.ReusedConn:
		return "connect"
	}
	return "headers"
}

// Duration is the exchange's total time so far.
func (e *Exchange) Duration() time.Duration {
	if e.Timings.Done != 0 {
		return e.Timings.Done
	}
	return e.Timings.FirstByte
}

func tlsInfo(cs *tls.ConnectionState, skipped bool) *TLSInfo {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	return &TLSInfo{
		Version:       tls.VersionName(cs.Version),
		Subject:       leaf.Subject.String(),
		Issuer:        leaf.Issuer.String(),
		DNSNames:      leaf.DNSNames,
		NotBefore:     leaf.NotBefore,
		NotAfter:      leaf.NotAfter,
		VerifySkipped: skipped,
	}
}

// LeafFromError returns the certificate a failed TLS verification was about.
func LeafFromError(err error) *x509.Certificate {
	var ce *tls.CertificateVerificationError
	if asErr(err, &ce) && len(ce.UnverifiedCertificates) > 0 {
		return ce.UnverifiedCertificates[0]
	}
	return nil
}
