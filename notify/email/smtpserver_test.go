package email_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and
// its PEM file (what a user would give as ca_file).
type testCert struct {
	cert   tls.Certificate
	caFile string
}

var makeCert = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "authwatch email test TEST ONLY"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
})

func newTestCert(t *testing.T) testCert {
	t.Helper()
	c, err := makeCert()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCert{cert: c, caFile: path}
}

// received is one mail the server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	User string // who authenticated ("" for nobody)
	TLS  bool   // whether the session was encrypted
}

// mailServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 with STARTTLS (or implicit TLS) and AUTH PLAIN.
type mailServer struct {
	Port int

	user, password string
	rcptErr        error // answered to RCPT TO, e.g. a 451 or 550
	authErr        error // answered to a correct login, e.g. a 454

	mu   sync.Mutex
	msgs []received
}

type serverOpts struct {
	tls      *tls.Config // nil: no STARTTLS offered
	implicit bool        // TLS from the first byte
	noAuth   bool        // a relay that takes mail without login
	rcptErr  error
	authErr  error
}

func startSMTP(t *testing.T, o serverOpts) *mailServer {
	t.Helper()
	ms := &mailServer{user: "alerts@example.com", password: smtpPassword, rcptErr: o.rcptErr, authErr: o.authErr}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		s := &session{srv: ms, tls: isTLS, conn: c}
		if o.noAuth {
			return &plainSession{s}, nil
		}
		return s, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.TLSConfig = o.tls
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicit {
		l = tls.NewListener(l, o.tls)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	ms.Port = l.Addr().(*net.TCPAddr).Port
	return ms
}

func (ms *mailServer) messages() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.msgs...)
}

// session requires AUTH PLAIN (offered only after STARTTLS) before mail.
type session struct {
	srv  *mailServer
	conn *smtp.Conn
	tls  bool
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.password {
			return smtp.ErrAuthFailed // 535 5.7.8
		}
		if s.srv.authErr != nil {
			return s.srv.authErr
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	return s.mail(from)
}

func (s *session) mail(from string) error {
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = received{From: from, User: s.user, TLS: isTLS}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.rcptErr != nil {
		return s.srv.rcptErr
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// plainSession is a local relay's session: no AUTH extension at all.
type plainSession struct{ s *session }

func (p *plainSession) Mail(from string, _ *smtp.MailOptions) error { return p.s.mail(from) }
func (p *plainSession) Rcpt(to string, o *smtp.RcptOptions) error   { return p.s.Rcpt(to, o) }
func (p *plainSession) Data(r io.Reader) error                      { return p.s.Data(r) }
func (p *plainSession) Reset()                                      { p.s.Reset() }
func (p *plainSession) Logout() error                               { return nil }

// deadPort is a port with nothing listening.
func deadPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// silentServer accepts connections and never greets.
func silentServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().(*net.TCPAddr).Port
}
