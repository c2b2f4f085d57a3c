package flows

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/exchange"
)

// MaxBodySize bounds every response body authwatch reads.
const MaxBodySize = 1 << 20

// DefaultMaxRedirects bounds redirect chains.
const DefaultMaxRedirects = 10

// TLSOptions are a step's TLS settings. Verification is on unless a flow
// opts out, and the opt-out is reported on every result of the step.
type TLSOptions struct {
	// InsecureSkipVerify disables certificate verification. It MUST NOT be
	// used against production endpoints; results carry a visible note.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty" jsonschema:"description=Disable TLS certificate verification (visible in every result). Never use against production."`
	// CAFile adds a PEM bundle of trusted CAs (for private PKI).
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty" jsonschema:"description=PEM file of additional trusted CA certificates."`
	// The client certificate of mutual TLS (RFC 8705); see client_tls.go.
	TLSClientCertificate conf.Template `yaml:"tls_client_certificate,omitempty" json:"tls_client_certificate,omitempty" jsonschema:"description=Mutual TLS (RFC 8705): the client certificate (PEM\\, the leaf first\\, then any intermediates) this step presents to every server that asks for one\\, e.g. ${file:/etc/authwatch/client.crt}. Needs tls_client_key. Its x5t#S256 thumbprint is shown in failures."`
	TLSClientKey         conf.Template `yaml:"tls_client_key,omitempty" json:"tls_client_key,omitempty" jsonschema:"description=Mutual TLS: the private key of tls_client_certificate (PEM: PKCS#8\\, PKCS#1 or EC) from a secret reference only\\, e.g. ${file:/etc/authwatch/client.key} or ${credential:mtls-key}. Never a literal; never logged\\, stored or shown."`
}

// Validate checks the CA file can be read and the client certificate
// options.
func (o TLSOptions) Validate() error {
	errs := o.validateClientTLS()
	if o.CAFile == "" {
		return joinErrs(errs)
	}
	if _, err := loadCAFile(o.CAFile); err != nil {
		errs = append(errs, conf.FieldError{Path: "ca_file", Err: err})
	}
	return joinErrs(errs)
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, _ := x509.SystemCertPool()
	if pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// ClientOptions shape the HTTP client a step gets.
type ClientOptions struct {
	TLS          TLSOptions
	NoRedirects  bool // return the redirect response itself
	MaxRedirects int  // most requests in a redirect chain, the first included; 0: DefaultMaxRedirects
	UseJar       bool // share the flow run's cookie jar
	// Endpoint, when set, takes client credentials: a redirect from it is
	// a failure of its own and is never followed.
	Endpoint *credentialEndpoint
	// SecretHeaders names the request headers that carry credentials
	// besides Authorization and Proxy-Authorization (an explicit Cookie,
	// a header expanded from a secret): none is sent to another origin.
	SecretHeaders []string
	// ExpectedStatuses are the statuses the step checks itself: nginx's
	// client certificate page answered with one of them to a step that
	// presents no certificate is left to the step's expectations (a
	// negative check: "refused without a certificate").
	ExpectedStatuses []int
}

// Client returns an HTTP client for the current step: it names authwatch
// (or the flow's or step's user_agent) in every request's User-Agent,
// records every exchange (each redirect hop included), bounds redirects,
// and never carries credentials to another origin (see redirectGuard).
func (st *State) Client(o ClientOptions) (*http.Client, error) {
	cert, err := st.clientCertificate(o.TLS)
	if err != nil {
		return nil, err
	}
	base, err := st.runner.transport(o.TLS, cert)
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "ca_file: %v", err).Wrap(err)
	}
	rec := st.step.rec
	rec.Base = base
	if o.TLS.InsecureSkipVerify {
		rec.VerifySkipped = true
		st.Note("TLS certificate verification is disabled for this step (insecure_skip_verify: true)")
	}
	g := &redirectGuard{st: st, opts: o, max: o.MaxRedirects}
	if g.max == 0 {
		g.max = DefaultMaxRedirects
	}
	// The recorder sets the agent, so evidence shows what was sent.
	rec.Agent = st.userAgent()
	c := &http.Client{Transport: malformedAnswers{st: st, next: clientCertAnswers{st: st, cert: cert, base: base, next: rec, expected: o.ExpectedStatuses}}, CheckRedirect: g.check}
	if o.UseJar {
		c.Jar = st.jar
	}
	return c, nil
}

var errTooManyRedirects = errors.New("too many redirects")

// malformedAnswers makes an answer Go cannot parse (a header line without a
// colon or with a control character, a bad status line, a TLS server
// spoken to in plain HTTP) the target's failure, not authwatch's.
type malformedAnswers struct {
	st   *State
	next http.RoundTripper
}

func (m malformedAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := m.next.RoundTrip(req)
	if err == nil || !isMalformedAnswer(err) {
		return resp, err
	}
	reason, who := ReasonIdPError, "the IdP"
	switch m.st.step.spec.Kind {
	case "http", "preflight", "form_login":
		reason, who = ReasonServerError, "the server"
	}
	return nil, Fail(reason, "%s %s got a malformed HTTP answer from %s (%s): Go cannot read it; %s, a proxy in front of it, or a non-HTTP service on that port sent it",
		req.Method, redactURL(req.URL.String()), req.URL.Host, truncate(malformedDetail(err), 200), who).Wrap(err)
}

func isMalformedAnswer(err error) bool {
	var pe textproto.ProtocolError
	return errors.As(err, &pe) || strings.Contains(err.Error(), "malformed HTTP ")
}

// malformedDetail is Go's description without its "transport connection
// broken" prefix.
func malformedDetail(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "malformed"); i >= 0 {
		return msg[i:]
	}
	return msg
}

// transportKey names a TLS configuration among the shared transports.
type transportKey struct {
	insecureSkipVerify bool
	caFile             string
	clientCert         string // clientCertificate.id; "" without one
}

// transport returns the shared transport for a TLS configuration, so that
// connections are pooled across runs of all flows. A client certificate
// has transports of its own: a connection made with one certificate is
// never reused by a step that presents another, or none.
func (r *Runner) transport(o TLSOptions, cert *clientCertificate) (http.RoundTripper, error) {
	if !o.InsecureSkipVerify && o.CAFile == "" && cert == nil {
		return r.Transport, nil
	}
	key := transportKey{insecureSkipVerify: o.InsecureSkipVerify, caFile: o.CAFile}
	now := r.now()
	if cert != nil {
		key.clientCert = cert.id
		if ct, ok := r.certTransports.get(key, now); ok {
			return ct, nil
		}
	} else if t, ok := r.transports.Load(key); ok {
		return t.(http.RoundTripper), nil
	}
	base, ok := r.Transport.(*http.Transport)
	if !ok {
		return nil, errors.New("custom TLS options need an *http.Transport")
	}
	t := base.Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pool, err := loadCAFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig.RootCAs = pool
	}
	t.TLSClientConfig.InsecureSkipVerify = o.InsecureSkipVerify // #nosec G402: explicit, visible opt-out
	if cert != nil {
		return r.certTransports.add(key, cert.transport(t), now), nil
	}
	actual, _ := r.transports.LoadOrStore(key, t)
	return actual.(http.RoundTripper), nil
}

// MaxIdleConnsPerHost is how many idle connections the runner keeps per
// host: as many as the runs usually in flight against one IdP at 1,000
// runs/s, so that a burst's connections serve the next runs instead of
// being closed and dialled again (they close after 90 s unused).
const MaxIdleConnsPerHost = 64

// NewTransport returns the transport a Runner uses by default: pooled,
// HTTP/2 capable, with bounded handshakes.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost, t.MaxIdleConns = MaxIdleConnsPerHost, 4*MaxIdleConnsPerHost
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 0 // bounded by the step's context instead
	t.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	return t
}

// readBody reads at most MaxBodySize bytes and closes the body.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize))
	return b, err
}

// exchangeOf returns the last recorded exchange (nil if none).
func (st *State) lastExchange() *exchange.Exchange { return st.step.rec.Last() }
