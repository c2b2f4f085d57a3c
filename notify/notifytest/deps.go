package notifytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

// Deps returns a notifier's dependencies for a test: the loopback-only
// Client (it trusts the Receiver's certificate), secrets resolved from env
// only (never the process environment, never a credentials directory), a
// JSON logger writing into the returned Log, and the fixed clock Now.
func Deps(t testing.TB, env map[string]string) (notify.Deps, *Log) {
	t.Helper()
	log := &Log{}
	c := Client(t)
	return notify.Deps{
		HTTP:    c,
		Secrets: Secrets(env),
		Logger:  slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     func() time.Time { return Now },

		ReasonLayer: ReasonLayer,
	}, log
}

// reasonLayers are the layers of the reason codes the kit's events carry,
// as the reason table gives them.
var reasonLayers = map[string]string{"audience_mismatch": "token", "invalid_token": "app"}

// ReasonLayer is Deps' ReasonLayer: it knows the reasons of the kit's events
// only ("" for any other). The daemon passes the whole reason table; a test
// there checks that the two agree.
func ReasonLayer(reason string) string { return reasonLayers[reason] }

// Secrets returns a secret source that resolves ${env:NAME} from env only;
// ${credential:NAME} finds nothing (its directory does not exist).
func Secrets(env map[string]string) conf.SecretSource {
	return conf.SecretSource{
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
		CredentialsDir: "/nonexistent/notifytest-credentials",
	}
}

// Client returns an HTTP client for tests: it trusts the certificate of
// every Receiver, uses no proxy, and refuses to dial anything but a
// loopback IP address (no DNS lookups either). Its idle connections are
// closed when the test ends.
func Client(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialLoopback,
		TLSClientConfig:     &tls.Config{RootCAs: certs(t).pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// dialLoopback dials only loopback IP literals ("localhost" too, mapped to
// 127.0.0.1 without a lookup).
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("notifytest: refusing to dial %s: tests reach loopback addresses only", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
}

// Log collects a logger's output; safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Bytes returns a copy of everything written so far.
func (l *Log) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

// String returns everything written so far.
func (l *Log) String() string { return string(l.Bytes()) }

// testCerts is the kit's throwaway TLS identity: one self-signed
// certificate for 127.0.0.1, ::1 and localhost, made once per test binary.
type testCerts struct {
	cert tls.Certificate
	pool *x509.CertPool
}

var makeCerts = sync.OnceValues(func() (*testCerts, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "authwatch notifytest TEST ONLY"},
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
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &testCerts{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool}, nil
})

func certs(t testing.TB) *testCerts {
	t.Helper()
	c, err := makeCerts()
	if err != nil {
		t.Fatalf("notifytest: making the test certificate: %v", err)
	}
	return c
}
