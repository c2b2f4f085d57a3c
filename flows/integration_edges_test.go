package flows_test

// Real-server tests for the less common codes: certificates that expire
// soon or did, an API whose clock is off, runs cut short, and configuration
// that only breaks at run time.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authwatch/authwatch/flows"
)

// itTLSServer serves "ok" over TLS with a self-signed certificate for
// 127.0.0.1 valid from notBefore to notAfter, and returns the PEM file that
// trusts it.
func itTLSServer(t *testing.T, notBefore, notAfter time.Time) (*httptest.Server, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "authwatch-test"},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, file
}

// proves: clock_skew, config_invalid, internal_error, tls_certificate_expiring, tls_certificate_invalid
func TestIntegrationEdges(t *testing.T) {
	t.Parallel()
	const bearer = "canary-edges-bearer-0b9d27"
	r := itNewRunner(itLookupFrom(map[string]string{"BEARER": bearer}, nil))
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, yaml)
		itAssertNoSecrets(t, []string{bearer}, res)
		return res
	}

	t.Run("tls_certificate_expiring", func(t *testing.T) {
		t.Parallel()
		srv, ca := itTLSServer(t, time.Now().Add(-time.Hour), time.Now().Add(72*time.Hour))
		res := run(t, `
name: cert-expiring
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
    ca_file: "`+ca+`"
`)
		itMustPass(t, res)
		if s := itStep(t, res, "call"); s.Status != flows.StepWarned {
			t.Errorf("step %s, want warn:\n%s", s.Status, itDescribe(res))
		}
		f, ok := itFinding(res, flows.ReasonTLSCertificateExpiring)
		if !ok {
			t.Fatalf("no tls_certificate_expiring finding:\n%s", itDescribe(res))
		}
		if !strings.Contains(f.Summary, "expires in") || !strings.Contains(f.Summary, "authwatch-test") {
			t.Errorf("finding %q, want the subject and the time left", f.Summary)
		}
	})

	t.Run("tls_certificate_invalid expired", func(t *testing.T) {
		t.Parallel()
		srv, ca := itTLSServer(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
		res := run(t, `
name: cert-expired
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
    ca_file: "`+ca+`"
`)
		f := itMustFail(t, res, "call", flows.ReasonTLSCertificateInvalid)
		itFactIs(t, f, "check", "expired")
		itSummaryHas(t, f, "expired at")
	})

	t.Run("tls_certificate_invalid not yet valid", func(t *testing.T) {
		t.Parallel()
		srv, ca := itTLSServer(t, time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
		res := run(t, `
name: cert-future
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
    ca_file: "`+ca+`"
`)
		f := itMustFail(t, res, "call", flows.ReasonTLSCertificateInvalid)
		itFactIs(t, f, "check", "not_yet_valid")
	})

	t.Run("clock_skew as the reason", func(t *testing.T) {
		t.Parallel()
		// A token valid by this host's clock (exp in 30 minutes), refused as
		// expired by an API whose clock (its Date header) is 2 hours ahead.
		key := itRsaKey(t)
		tok := itSignJWT(t, key, "k1", map[string]any{"iss": "https://idp.example.test", "sub": "svc", "aud": "api://x",
			"scope": "read", "iat": time.Now().Unix(), "exp": time.Now().Add(30 * time.Minute).Unix()})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", time.Now().Add(2*time.Hour).UTC().Format(http.TimeFormat))
			w.Header().Set("WWW-Authenticate", `Bearer realm="x", error="invalid_token", error_description="token expired"`)
			w.WriteHeader(401)
		}))
		t.Cleanup(srv.Close)
		r := itNewRunner(itLookupFrom(map[string]string{"TOKEN": tok}, nil))
		res := itRunYAML(t, r, `
name: api-clock-ahead
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    auth: {bearer: "${env:TOKEN}"}
`)
		itAssertNoSecrets(t, []string{tok}, res)
		f := itMustFail(t, res, "call", flows.ReasonClockSkew)
		itSummaryHas(t, f, "ahead of", "Date")
		if f.Reason.Layer() != flows.LayerClient {
			t.Errorf("layer %s", f.Reason.Layer())
		}
	})

	t.Run("Latin-1 error_description escaped in the summary", func(t *testing.T) {
		t.Parallel()
		// A gateway that answers in ISO-8859-1 with a tab: the
		// summary quotes it escaped, as valid UTF-8 any store and receiver
		// takes, and with no raw control byte to forge a log line.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Www-Authenticate"] = []string{"Bearer error=\"invalid_token\", error_description=\"jeton r\xe9voqu\xe9\t\""}
			w.WriteHeader(401)
		}))
		t.Cleanup(srv.Close)
		r := itNewRunner(itLookupFrom(map[string]string{"TOKEN": "opaque-token-value"}, nil))
		res := itRunYAML(t, r, `
name: api-latin1
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    auth: {bearer: "${env:TOKEN}"}
`)
		f := itMustFail(t, res, "call", flows.ReasonInvalidToken)
		itSummaryHas(t, f, `"jeton r\xe9voqu\xe9\t"`)
		if !utf8.ValidString(f.Summary) || strings.ContainsAny(f.Summary, "\x00\t") {
			t.Errorf("summary %q: invalid UTF-8 or a control byte", f.Summary)
		}
	})

	t.Run("cancelled run", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}))
		t.Cleanup(srv.Close)
		f := itLoadFlow(t, r, `
name: cancelled
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
  - id: after
    kind: http
    url: "`+srv.URL+`/"
`)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		res := r.Run(ctx, f)
		if !res.Cancelled {
			t.Errorf("Cancelled is false:\n%s", itDescribe(res))
		}
		fl := itMustFail(t, res, "call", flows.ReasonInternalError)
		itSummaryHas(t, fl, "cancelled")
	})

	t.Run("config_invalid: ca_file gone at run time", func(t *testing.T) {
		t.Parallel()
		srv, ca := itTLSServer(t, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
		fresh := itNewRunner(nil) // no transport cached for this ca_file yet
		f := itLoadFlow(t, fresh, `
name: ca-file-removed
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
    ca_file: "`+ca+`"
`)
		if err := os.Remove(ca); err != nil {
			t.Fatal(err)
		}
		fl := itMustFail(t, fresh.Run(t.Context(), f), "call", flows.ReasonConfigInvalid)
		itSummaryHas(t, fl, "ca_file")
	})

	t.Run("config_invalid: a URL from an earlier step is not absolute", func(t *testing.T) {
		t.Parallel()
		// The first step publishes a relative Location; the second uses it
		// as its URL. The flow cannot be run as written: that is the
		// flow's problem, not authwatch's (internal_error) nor the target's.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "/next")
			w.WriteHeader(http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		res := run(t, `
name: relative-url
every: 1m
steps:
  - id: first
    kind: http
    url: "`+srv.URL+`/start"
    redirects: {follow: false}
    expect: {status: 302}
  - id: second
    kind: http
    url: "${steps.first.location}"
`)
		fl := itMustFail(t, res, "second", flows.ReasonConfigInvalid)
		itSummaryHas(t, fl, "/next")
	})
}
