package flows

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
)

// clientCertificate is a step's mutual TLS client certificate (RFC 8705),
// resolved for one run: the pair Go's TLS stack presents, and what may be
// shown of it (never the key).
type clientCertificate struct {
	pair tls.Certificate
	leaf *x509.Certificate
	x5t  string // x5t#S256: base64url SHA-256 of the leaf's DER (RFC 8705 §3.1)
	id   string // hex SHA-256 of the chain: names the certificate's transport
}

// hasClientCertificate reports whether the step presents a client certificate.
func (o TLSOptions) hasClientCertificate() bool { return !o.TLSClientCertificate.IsZero() }

// validateClientTLS checks the client certificate options at load: both
// or neither, the key from a secret reference only, a literal certificate
// that parses.
func (o TLSOptions) validateClientTLS() []error {
	cert, key := !o.TLSClientCertificate.IsZero(), !o.TLSClientKey.IsZero()
	var errs []error
	switch {
	case cert && !key:
		errs = append(errs, conf.FieldErrorf("tls_client_key", "required with tls_client_certificate: a secret reference to its private key, e.g. ${file:/etc/authwatch/client.key}"))
	case key && !cert:
		errs = append(errs, conf.FieldErrorf("tls_client_certificate", "required with tls_client_key: the certificate (PEM) of that key, e.g. ${file:/etc/authwatch/client.crt}"))
	}
	if key {
		errs = append(errs, validateKeyRef("tls_client_key", o.TLSClientKey))
	}
	if cert && o.TLSClientCertificate.IsLiteral() {
		if _, err := parseCertificateChain(o.TLSClientCertificate.String()); err != nil {
			errs = append(errs, conf.FieldErrorf("tls_client_certificate", "%v", err))
		}
	}
	return compact(errs)
}

// checkLoadSecrets parses the client certificate and key at load when
// their references resolve here. The error names the field and the
// reference, never the key.
func (o TLSOptions) checkLoadSecrets(resolve func(conf.Ref) (string, error)) error {
	if !o.hasClientCertificate() || len(o.validateClientTLS()) > 0 || o.TLSClientCertificate.HasStepRefs() {
		return nil
	}
	keyText, err := resolve(o.TLSClientKey.Refs()[0])
	if err != nil {
		return nil // unset here: the loader already warns
	}
	certText, err := o.TLSClientCertificate.Expand(resolve)
	if err != nil {
		return nil
	}
	_, err = newClientCertificate(certText, keyText)
	var fe conf.FieldError
	if errors.As(err, &fe) {
		ref := o.TLSClientKey.String()
		if fe.Path == "tls_client_certificate" {
			ref = o.TLSClientCertificate.String()
		}
		return conf.FieldErrorf(fe.Path, "%s: %v", ref, fe.Err)
	}
	return err
}

// clientCertificate resolves the step's client certificate for this run;
// nil when the step presents none. The key's text is a secret from here
// on, in every form the redactor knows.
func (st *State) clientCertificate(o TLSOptions) (*clientCertificate, error) {
	if !o.hasClientCertificate() {
		return nil, nil
	}
	certText, err := st.Expand(o.TLSClientCertificate)
	if err != nil {
		return nil, err
	}
	keyText, err := st.Expand(o.TLSClientKey)
	if err != nil {
		return nil, err
	}
	st.Secrets.Add(keySecretForms(keyText)...)
	c, err := newClientCertificate(certText, keyText)
	var fe conf.FieldError
	if errors.As(err, &fe) {
		return nil, Fail(ReasonConfigInvalid, "%s: %v", fe.Path, fe.Err).With(F("field", fe.Path))
	}
	return c, err
}

// newClientCertificate parses a certificate chain and its key. Its errors
// are FieldErrors that describe the form, never the key's content.
func newClientCertificate(certText, keyText string) (*clientCertificate, error) {
	chain, err := parseCertificateChain(certText)
	if err != nil {
		return nil, conf.FieldErrorf("tls_client_certificate", "%v", err)
	}
	key, err := parseAssertionKey(keyText)
	if err != nil {
		return nil, conf.FieldErrorf("tls_client_key", "%v", err)
	}
	if !key.matches(chain[0]) {
		return nil, conf.FieldErrorf("tls_client_certificate", "is not the certificate of tls_client_key (its public key differs)")
	}
	c := &clientCertificate{leaf: chain[0], pair: tls.Certificate{PrivateKey: key.signer, Leaf: chain[0]}}
	h := sha256.New()
	for _, cert := range chain {
		c.pair.Certificate = append(c.pair.Certificate, cert.Raw)
		h.Write(cert.Raw)
	}
	c.id = hex.EncodeToString(h.Sum(nil))
	c.x5t = certThumbprint(chain[0])
	return c, nil
}

// certThumbprint is a certificate's x5t#S256 (RFC 8705 §3.1): the value a
// certificate-bound token's cnf claim carries.
func certThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// parseCertificateChain reads every CERTIFICATE block of a PEM text, the
// leaf first. Other blocks (a key in a combined file) are skipped.
func parseCertificateChain(text string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := []byte(strings.TrimSpace(text)); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("a certificate that does not parse: %v", err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return chain, nil
}

// facts are what a failure shows about the certificate: all public.
func (c *clientCertificate) facts() []Fact {
	return []Fact{F("client_certificate_x5t#S256", c.x5t), F("client_certificate_subject", c.leaf.Subject.String()),
		F("client_certificate_issuer", c.leaf.Issuer.String()), F("client_certificate_not_after", c.leaf.NotAfter.UTC().Format(time.RFC3339))}
}

// certTransport is the shared transport of one client certificate. It
// presents the certificate to every server that asks, whatever CAs the
// server lists as acceptable (Go's default would then send none, and the
// server would say "no certificate" when it is really refusing this one),
// and remembers whether each host's latest handshake asked for it.
type certTransport struct {
	*http.Transport
	asked sync.Map // host → bool: the latest handshake got a CertificateRequest
}

// handshakeProbe tells what the handshakes made for one request saw: the
// transport dials with a context that keeps the request's values, so
// GetClientCertificate and the trace find it.
type handshakeProbe struct {
	asked     atomic.Bool // a CertificateRequest came
	handshook atomic.Bool // a handshake ended (well or not)
}

type handshakeProbeKey struct{}

func (c *clientCertificate) transport(t *http.Transport) *certTransport {
	ct := &certTransport{Transport: t}
	pair := c.pair
	t.TLSClientConfig.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if p, ok := cri.Context().Value(handshakeProbeKey{}).(*handshakeProbe); ok {
			p.asked.Store(true)
		}
		return &pair, nil
	}
	return ct
}

// probe prepares req to tell whether its handshakes asked for the
// certificate; each handshake's answer becomes the host's latest.
func (ct *certTransport) probe(req *http.Request) (*http.Request, *handshakeProbe) {
	p := &handshakeProbe{}
	host := req.URL.Host
	ctx := context.WithValue(req.Context(), handshakeProbeKey{}, p)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			p.handshook.Store(true)
			ct.asked.Store(host, p.asked.Load())
		},
	})
	return req.WithContext(ctx), p
}

// askedFor reports whether the latest handshake with host requested a
// client certificate, and whether that is known at all (only transports
// that present a certificate record it).
func askedFor(base http.RoundTripper, host string) (asked, known bool) {
	ct, ok := base.(*certTransport)
	if !ok {
		return false, false
	}
	v, ok := ct.asked.Load(host)
	return ok && v.(bool), true // no handshake yet (or plain HTTP): nothing asked
}

// clientCertAnswers turns a server's refusal of the client certificate
// (or of its absence) into client_certificate_rejected with the
// certificate's public facts: a TLS alert about the certificate, or the
// page nginx answers when its ssl_verify_client check fails.
type clientCertAnswers struct {
	st       *State
	cert     *clientCertificate // nil when the step presents none
	base     http.RoundTripper
	next     http.RoundTripper
	expected []int // ClientOptions.ExpectedStatuses
}

func (c clientCertAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	var probe *handshakeProbe
	if ct, ok := c.base.(*certTransport); ok && c.cert != nil {
		req, probe = ct.probe(req)
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		// This request's own handshake tells best; a reused connection's
		// is the host's latest.
		asked, _ := askedFor(c.base, req.URL.Host)
		if probe != nil && (probe.handshook.Load() || probe.asked.Load()) {
			asked = probe.asked.Load()
		}
		if f := classifyClientCertAlert(err, req.URL.Host, c.cert, asked, c.st.Now()); f != nil {
			return nil, f.Wrap(err)
		}
		return nil, err
	}
	if c.cert == nil && containsInt(c.expected, resp.StatusCode) {
		return resp, nil // the step expects this refusal: its own checks judge the page
	}
	if f := c.nginxRefusal(req, resp); f != nil {
		return nil, f
	}
	return resp, nil
}
