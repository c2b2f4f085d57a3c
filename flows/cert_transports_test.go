package flows

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/testenv"
)

// mtlsTestServer is a TLS server on 127.0.0.1 that asks for a client
// certificate while ask is set, and reports each connection it closes.
type mtlsTestServer struct {
	*httptest.Server
	ask    atomic.Bool
	closed chan struct{}
}

func newMTLSTestServer(t *testing.T, cs *testenv.CertSet) *mtlsTestServer {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(cs.Valid.CertFile, cs.Valid.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &mtlsTestServer{closed: make(chan struct{}, 16)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := &tls.Config{Certificates: []tls.Certificate{pair}}
		if s.ask.Load() {
			c.ClientAuth = tls.RequireAnyClientCert
		}
		return c, nil
	}}
	s.Config.ConnState = func(_ net.Conn, cs http.ConnState) {
		if cs == http.StateClosed {
			select {
			case s.closed <- struct{}{}:
			default:
			}
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func testClientCertificate(t *testing.T, f testenv.CertFile) *clientCertificate {
	t.Helper()
	certPEM, err := os.ReadFile(f.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newClientCertificate(string(certPEM), string(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get sends one request through the runner's transport for cert, as a
// step's client does, and reports whether the host's latest handshake
// asked for the certificate.
func getThroughCertTransport(t *testing.T, r *Runner, o TLSOptions, cert *clientCertificate, url string) (asked, known bool) {
	t.Helper()
	base, err := r.transport(o, cert)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: clientCertAnswers{cert: cert, base: base, next: base}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return askedFor(base, req.URL.Host)
}

// A proxy that stops asking for the client certificate must be seen to:
// "asked" is the latest handshake's answer, not "ever asked" (else a
// later handshake_failure is blamed on the certificate, and an IdP's
// refusal never says the server did not ask).
func TestCertificateAskedIsTheLatestHandshakes(t *testing.T) {
	cs := testenv.Certs(t)
	srv := newMTLSTestServer(t, cs)
	r := NewRunner()
	o := TLSOptions{CAFile: cs.CAFile}
	cert := testClientCertificate(t, cs.WrongHost)

	srv.ask.Store(true)
	if asked, known := getThroughCertTransport(t, r, o, cert, srv.URL); !asked || !known {
		t.Fatalf("server asking: asked=%v known=%v, want true true", asked, known)
	}
	srv.ask.Store(false)
	base, _ := r.transport(o, cert)
	base.(*certTransport).CloseIdleConnections() // the next request handshakes again
	if asked, known := getThroughCertTransport(t, r, o, cert, srv.URL); asked || !known {
		t.Fatalf("server no longer asking: asked=%v known=%v, want false true", asked, known)
	}
}

// Rotated certificates must not leave a transport (and its private key)
// behind for the daemon's life: the cache holds MaxCertTransports, drops
// the least recently used and closes its idle connections.
func TestCertTransportsAreBounded(t *testing.T) {
	cs := testenv.Certs(t)
	srv := newMTLSTestServer(t, cs)
	srv.ask.Store(true)
	now := time.Unix(1_800_000_000, 0)
	r := NewRunner()
	r.Now = func() time.Time { return now }
	r.certTransports.max = 2
	o := TLSOptions{CAFile: cs.CAFile}
	certs := []*clientCertificate{
		testClientCertificate(t, cs.WrongHost), testClientCertificate(t, cs.Expiring), testClientCertificate(t, cs.Valid),
	}
	getThroughCertTransport(t, r, o, certs[0], srv.URL) // leaves an idle connection
	first, _ := r.transport(o, certs[0])
	getThroughCertTransport(t, r, o, certs[1], srv.URL)
	getThroughCertTransport(t, r, o, certs[2], srv.URL) // over max: certs[0] goes
	if n := r.certTransports.len(); n != 2 {
		t.Fatalf("%d certificate transports kept, want 2", n)
	}
	select {
	case <-srv.closed:
	case <-time.After(time.Minute):
		t.Fatal("the dropped certificate's idle connection was not closed")
	}
	if again, _ := r.transport(o, certs[0]); again == first {
		t.Fatal("the dropped certificate's transport is still served")
	}

	// Unused for longer than CertTransportIdle: dropped at the next add.
	now = now.Add(CertTransportIdle + time.Minute)
	getThroughCertTransport(t, r, o, certs[1], srv.URL)
	if n := r.certTransports.len(); n != 1 {
		t.Fatalf("%d certificate transports kept after an idle hour, want 1 (the one just used)", n)
	}
}
