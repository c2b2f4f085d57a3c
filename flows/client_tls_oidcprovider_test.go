package flows_test

// Mutual TLS (RFC 8705) against real software: nginx terminates TLS with
// ssl_verify_client in front of oidc-provider (MTLS=1: tls_client_auth,
// self_signed_tls_client_auth, certificate-bound tokens; the certificate
// comes in the headers nginx sets) and in front of an httptest API; Go's
// own TLS server stands for the servers that refuse in the handshake.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// mtCert is a test client certificate with its key, as files.
type mtCert struct {
	cert     *x509.Certificate
	certFile string
	keyFile  string
	keyPEM   string
}

// ref is the step lines that present the certificate.
func (c mtCert) ref() string {
	return "    tls_client_certificate: ${file:" + c.certFile + "}\n    tls_client_key: ${file:" + c.keyFile + "}\n"
}

func (c mtCert) x5t() string {
	sum := sha256.Sum256(c.cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mtPKI is a client PKI made with crypto/x509: a CA the servers trust, a
// rogue CA they do not, and client certificates.
type mtPKI struct {
	dir                                  string
	caFile                               string
	good, other, expired, rogue, gateway mtCert
}

func mtNewPKI(t *testing.T) *mtPKI {
	t.Helper()
	p := &mtPKI{dir: t.TempDir()}
	ca, caKey := mtIssue(t, nil, nil, "authwatch mTLS test CA", true, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	rogue, rogueKey := mtIssue(t, nil, nil, "rogue CA", true, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	p.caFile = filepath.Join(p.dir, "client-ca.pem")
	mtWrite(t, p.caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})))
	valid := func(name string, issuer *x509.Certificate, issuerKey *ecdsa.PrivateKey, from, to time.Time) mtCert {
		return p.save(t, name, issuer, issuerKey, from, to)
	}
	now := time.Now()
	p.good = valid("authwatch mtls client", ca, caKey, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.other = valid("another client", ca, caKey, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.gateway = valid("egress gateway", ca, caKey, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.expired = valid("expired client", ca, caKey, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	p.rogue = valid("rogue client", rogue, rogueKey, now.Add(-time.Hour), now.Add(24*time.Hour))
	return p
}

func (p *mtPKI) save(t *testing.T, cn string, issuer *x509.Certificate, issuerKey *ecdsa.PrivateKey, from, to time.Time) mtCert {
	t.Helper()
	cert, key := mtIssue(t, issuer, issuerKey, cn, false, from, to)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.ReplaceAll(cn, " ", "-")
	c := mtCert{cert: cert, certFile: filepath.Join(p.dir, name+".crt"), keyFile: filepath.Join(p.dir, name+".key"),
		keyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
	mtWrite(t, c.certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	mtWrite(t, c.keyFile, c.keyPEM)
	return c
}

// secrets are the private keys' PEM body lines: never to be shown.
func (p *mtPKI) secrets() []string {
	var out []string
	for _, c := range []mtCert{p.good, p.other, p.expired, p.rogue, p.gateway} {
		for _, line := range strings.Split(c.keyPEM, "\n") {
			if !strings.HasPrefix(line, "-----") && len(line) > 16 {
				out = append(out, line)
			}
		}
	}
	return out
}

// mtIssue makes a certificate; a nil issuer makes a self-signed CA.
func mtIssue(t *testing.T, issuer *x509.Certificate, issuerKey *ecdsa.PrivateKey, cn string, isCA bool, from, to time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"authwatch TEST ONLY"}},
		NotBefore: from, NotAfter: to, BasicConstraintsValid: true, IsCA: isCA}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	signer, signerKey := tmpl, key
	if issuer != nil {
		signer, signerKey = issuer, issuerKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func mtWrite(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mtClients registers the mutual TLS clients with oidc-provider.
func mtClients(t *testing.T, p *mtPKI) string {
	t.Helper()
	cc := func(id, method string, extra map[string]any) map[string]any {
		c := map[string]any{"client_id": id, "token_endpoint_auth_method": method, "grant_types": []string{"client_credentials"},
			"response_types": []string{}, "redirect_uris": []string{}, "scope": "api:read"}
		for n, v := range extra {
			c[n] = v
		}
		return c
	}
	x5c := func(certs ...mtCert) map[string]any {
		var keys []map[string]any
		for _, c := range certs {
			jwk := map[string]any{"kty": "EC", "crv": "P-256", "x5c": []string{base64.StdEncoding.EncodeToString(c.cert.Raw)}}
			pub := c.cert.PublicKey.(*ecdsa.PublicKey)
			raw, _ := pub.Bytes()
			jwk["x"] = base64.RawURLEncoding.EncodeToString(raw[1:33])
			jwk["y"] = base64.RawURLEncoding.EncodeToString(raw[33:])
			keys = append(keys, jwk)
		}
		return map[string]any{"keys": keys}
	}
	clients := []map[string]any{
		cc("mtls-client", "tls_client_auth", map[string]any{"tls_client_auth_subject_dn": p.good.cert.Subject.String(), "tls_client_certificate_bound_access_tokens": true}),
		cc("mtls-unbound", "tls_client_auth", map[string]any{"tls_client_auth_subject_dn": p.good.cert.Subject.String()}),
		cc("mtls-other-dn", "tls_client_auth", map[string]any{"tls_client_auth_subject_dn": "CN=someone else,O=authwatch TEST ONLY", "tls_client_certificate_bound_access_tokens": true}),
		cc("mtls-self-signed", "self_signed_tls_client_auth", map[string]any{"jwks": x5c(p.good, p.gateway), "tls_client_certificate_bound_access_tokens": true}),
		cc("mtls-login", "tls_client_auth", map[string]any{"tls_client_auth_subject_dn": p.good.cert.Subject.String(), "tls_client_certificate_bound_access_tokens": true,
			"grant_types": []string{"authorization_code"}, "response_types": []string{"code"}, "redirect_uris": []string{lopCallback}, "scope": "openid profile"}),
	}
	b, err := json.Marshal(clients)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clients.json")
	mtWrite(t, path, string(b))
	return path
}

// mtTokenFlow is a client_credentials flow for a JWT access token.
func mtTokenFlow(name, where, client, auth, lines string) string {
	return "name: " + name + "\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    " + where + "\n" +
		"    client_id: " + client + "\n    client_auth: " + auth + "\n    scopes: [api:read]\n    resource: [\"https://api.example.test/\"]\n" + lines
}

func mtHTTPFlow(name, url, lines string) string {
	return "name: " + name + "\nevery: 1m\nsteps:\n  - id: api\n    kind: http\n    url: " + url + "\n" + lines
}

// proves: client_certificate_rejected, token_binding_mismatch, tls_certificate_invalid
func TestIntegrationMutualTLS(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	pki := mtNewPKI(t)
	server := testenv.Certs(t) // the servers' own certificates
	aliases := filepath.Join(t.TempDir(), "mtls-aliases.json")
	idp := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "EXTRA_CLIENTS": mtClients(t, pki), "ERROR_DETAIL": "1",
		"MTLS": "1", "MTLS_ENDPOINT_ALIASES_FILE": aliases})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client":%q}`, r.Header.Get("X-SSL-Client-S-DN"))
	}))
	t.Cleanup(api.Close)
	upstream := strings.TrimPrefix(idp.URL, "http://")
	passCert := `
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
        proxy_set_header X-SSL-Client-S-DN $ssl_client_s_dn;`
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    # 0: the IdP's mTLS endpoint alias: certificates optional, passed on.
    server {
        listen 127.0.0.1:{{port0}} ssl;
        ssl_certificate %[1]s;
        ssl_certificate_key %[2]s;
        ssl_client_certificate %[3]s;
        ssl_verify_client optional;
        location / { proxy_pass http://%[4]s; %[5]s }
    }
    # 1: an API that requires a client certificate.
    server {
        listen 127.0.0.1:{{port1}} ssl;
        ssl_certificate %[1]s;
        ssl_certificate_key %[2]s;
        ssl_client_certificate %[3]s;
        ssl_verify_client on;
        location / { proxy_pass %[6]s; %[5]s }
    }
    # 2: the same API behind a server certificate nobody vouches for.
    server {
        listen 127.0.0.1:{{port2}} ssl;
        ssl_certificate %[7]s;
        ssl_certificate_key %[8]s;
        ssl_client_certificate %[3]s;
        ssl_verify_client on;
        location / { proxy_pass %[6]s; }
    }
    # 3: an egress gateway that re-originates TLS with its own certificate.
    server {
        listen 127.0.0.1:{{port3}} ssl;
        ssl_certificate %[1]s;
        ssl_certificate_key %[2]s;
        location / {
            proxy_pass https://127.0.0.1:{{port0}};
            proxy_ssl_certificate %[9]s;
            proxy_ssl_certificate_key %[10]s;
        }
    }
`, server.Valid.CertFile, server.Valid.KeyFile, pki.caFile, upstream, passCert, api.URL,
		server.SelfSigned.CertFile, server.SelfSigned.KeyFile, pki.gateway.certFile, pki.gateway.keyFile))
	// Every endpoint that takes client certificates or checks
	// certificate-bound tokens has its alias on the mTLS host (RFC 8705 §5).
	aliasBase := "https://" + ngx.Addr(0)
	alias := aliasBase + "/token"
	aliasJSON, err := json.Marshal(map[string]string{"token_endpoint": alias, "pushed_authorization_request_endpoint": aliasBase + "/request",
		"userinfo_endpoint": aliasBase + "/me", "introspection_endpoint": aliasBase + "/token/introspection", "revocation_endpoint": aliasBase + "/token/revocation"})
	if err != nil {
		t.Fatal(err)
	}
	mtWrite(t, aliases, string(aliasJSON))

	var logs bytes.Buffer
	r := itLoggingRunner(itLookupFrom(lopSecretEnv, nil), &logs)
	secrets := append(pki.secrets(), lopSecretEnv["ALICE_PASSWORD"])
	t.Cleanup(func() { itAssertTextHasNoSecrets(t, "the Runner's log", logs.String(), secrets) })
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, yaml)
		itAssertNoSecrets(t, secrets, res)
		return res
	}
	caFile := "    ca_file: " + server.CAFile + "\n"
	issuer := `issuer: "` + idp.Issuer + `"`

	t.Run("pass tls_client_auth bound mtls via mtls_endpoint_aliases", func(t *testing.T) {
		t.Parallel()
		res := run(t, mtTokenFlow("mt-pass", issuer, "mtls-client", "tls_client_auth", pki.good.ref()+caFile+"    expect:\n      access_token: {bound: mtls}\n"))
		itMustPass(t, res)
		var sent string
		for _, ex := range itStep(t, res, "token").Exchanges {
			if strings.HasSuffix(ex.URL, "/token") {
				sent = ex.URL + " " + ex.RequestBody
			}
		}
		if !strings.HasPrefix(sent, alias) || !strings.Contains(sent, "client_id=mtls-client") || strings.Contains(sent, "client_secret") {
			t.Errorf("token request %q: want the mtls alias %s, client_id in the body and no secret", sent, alias)
		}
	})
	t.Run("pass self_signed_tls_client_auth", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, run(t, mtTokenFlow("mt-self", issuer, "mtls-self-signed", "self_signed_tls_client_auth", pki.good.ref()+caFile+"    expect:\n      access_token: {bound: mtls}\n")))
	})
	// sentTo is what step id sent to URLs ending in path: the URL and body.
	sentTo := func(t *testing.T, res *flows.Result, id, path string) []string {
		t.Helper()
		var out []string
		for _, ex := range itStep(t, res, id).Exchanges {
			if u, err := url.Parse(ex.URL); err == nil && u.Path == path {
				out = append(out, ex.URL+" "+ex.RequestBody)
			}
		}
		return out
	}
	mtLogin := "    client_id: mtls-login\n    client_auth: tls_client_auth\n" + pki.good.ref() + caFile + "    username: alice\n    password: ${env:ALICE_PASSWORD}\n"
	t.Run("pass login par tls_client_auth via the PAR endpoint's mtls alias", func(t *testing.T) {
		t.Parallel()
		res := run(t, lopLogin("mt-login-par", idp.Issuer, mtLogin+"    par: true\n"))
		itMustPass(t, res)
		pushed := sentTo(t, res, "login", "/request")
		if len(pushed) != 1 || !strings.HasPrefix(pushed[0], aliasBase+"/request ") || !strings.Contains(pushed[0], "client_id=mtls-login") || strings.Contains(pushed[0], "client_secret") {
			t.Errorf("pushed authorization requests %q: want one to the mtls alias %s/request with client_id and no client_secret", pushed, aliasBase)
		}
	})
	t.Run("pass login userinfo with a certificate-bound token via the userinfo mtls alias", func(t *testing.T) {
		t.Parallel()
		res := run(t, lopLogin("mt-login-userinfo", idp.Issuer, mtLogin+"    par: false\n    userinfo: true\n"))
		itMustPass(t, res)
		if got := sentTo(t, res, "login", "/me"); len(got) != 1 || !strings.HasPrefix(got[0], aliasBase+"/me ") {
			t.Errorf("userinfo requests %q: want one to the mtls alias %s/me", got, aliasBase)
		}
	})
	t.Run("pass userinfo introspect revoke steps via the mtls aliases", func(t *testing.T) {
		t.Parallel()
		client := "    issuer: \"" + idp.Issuer + "\"\n    client_id: mtls-login\n    client_auth: tls_client_auth\n" + pki.good.ref() + caFile
		flow := lopLogin("mt-endpoints", idp.Issuer, mtLogin+"    par: false\n") +
			"  - id: userinfo\n    kind: userinfo\n    issuer: \"" + idp.Issuer + "\"\n    token: ${steps.login.access_token}\n" + pki.good.ref() + caFile + "    expect: {sub: \"${steps.login.sub}\"}\n" +
			"  - id: active\n    kind: introspect\n    token: ${steps.login.access_token}\n" + client + "    expect: {active: true, client_id: mtls-login}\n" +
			"  - id: revoke\n    kind: revoke\n    token: ${steps.login.access_token}\n" + client +
			"  - id: gone\n    kind: introspect\n    token: ${steps.login.access_token}\n" + client + "    expect: {revoked: true}\n"
		res := run(t, flow)
		itMustPass(t, res)
		for id, path := range map[string]string{"userinfo": "/me", "active": "/token/introspection", "revoke": "/token/revocation", "gone": "/token/introspection"} {
			got := sentTo(t, res, id, path)
			if len(got) != 1 || !strings.HasPrefix(got[0], aliasBase+path+" ") || strings.Contains(got[0], "client_secret") {
				t.Errorf("step %s sent %q: want one request to the mtls alias %s%s and no client_secret", id, got, aliasBase, path)
			}
		}
	})
	t.Run("pass http step through ssl_verify_client on", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, run(t, mtHTTPFlow("mt-api", "https://"+ngx.Addr(1)+"/", pki.good.ref()+caFile)))
	})

	apiCases := []struct {
		name, url, lines, check string
		summary                 []string
	}{
		{"no certificate to a server that requires one", "https://" + ngx.Addr(1) + "/", caFile, "missing",
			[]string{"requires a client certificate", "presents none", "No required SSL certificate was sent", "tls_client_certificate"}},
		{"certificate from an untrusted CA", "https://" + ngx.Addr(1) + "/", pki.rogue.ref() + caFile, "refused",
			[]string{"refused the client certificate", "The SSL certificate error", `issued by "CN=rogue CA`, "error log"}},
		{"expired certificate", "https://" + ngx.Addr(1) + "/", pki.expired.ref() + caFile, "expired",
			[]string{"refused the client certificate (400", "and expired at " + pki.expired.cert.NotAfter.UTC().Format(time.RFC3339)}},
	}
	for _, c := range apiCases {
		t.Run("client_certificate_rejected nginx "+c.name, func(t *testing.T) {
			t.Parallel()
			f := itMustFail(t, run(t, mtHTTPFlow("mt-api-fail", c.url, c.lines)), "api", flows.ReasonClientCertificateRejected)
			itSummaryHas(t, f, c.summary...)
			itFactIs(t, f, "check", c.check)
		})
	}

	// Negative checks: the server must refuse a client without a
	// certificate, or with a bad one.
	t.Run("pass http step without a certificate expecting nginx's 400", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, run(t, mtHTTPFlow("mt-api-400", "https://"+ngx.Addr(1)+"/", caFile+"    expect: {status: 400, body_contains: \"No required SSL certificate was sent\"}\n")))
	})
	t.Run("client_certificate_rejected a step with a certificate expecting 400", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, mtHTTPFlow("mt-api-rogue-400", "https://"+ngx.Addr(1)+"/", pki.rogue.ref()+caFile+"    expect: {status: 400}\n")), "api", flows.ReasonClientCertificateRejected)
		itFactIs(t, f, "check", "refused")
	})
	for name, lines := range map[string]string{"without a certificate": caFile, "untrusted certificate": pki.rogue.ref() + caFile, "expired certificate": pki.expired.ref() + caFile} {
		t.Run("pass client_certificate refused "+name, func(t *testing.T) {
			t.Parallel()
			itMustPass(t, run(t, mtHTTPFlow("mt-api-refused", "https://"+ngx.Addr(1)+"/", lines+"    expect: {client_certificate: refused}\n")))
		})
	}
	t.Run("auth_not_enforced client_certificate refused but accepted", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, mtHTTPFlow("mt-api-accepted", "https://"+ngx.Addr(1)+"/", pki.good.ref()+caFile+"    expect: {client_certificate: refused}\n")), "api", flows.ReasonAuthNotEnforced)
		itSummaryHas(t, f, "answered 200 to this step's client certificate", "mutual TLS is not enforced")
	})

	t.Run("server certificate invalid stays tls_certificate_invalid", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, mtHTTPFlow("mt-server-cert", "https://"+ngx.Addr(2)+"/", pki.good.ref()+caFile)), "api", flows.ReasonTLSCertificateInvalid)
		itFactIs(t, f, "check", "untrusted_chain")
	})

	t.Run("client_certificate_rejected IdP refuses the subject", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, mtTokenFlow("mt-dn", issuer, "mtls-other-dn", "tls_client_auth", pki.good.ref()+caFile)), "token", flows.ReasonClientCertificateRejected)
		itSummaryHas(t, f, `"mtls-other-dn"`, "tls_client_auth", "401 invalid_client", "certificate subject value does not match", "tls_client_auth_subject_dn", pki.good.x5t())
		itFactIs(t, f, "client_certificate_x5t#S256", pki.good.x5t())
		itFactIs(t, f, "client_certificate_requested", "true")
	})
	t.Run("client_certificate_rejected IdP reached without mutual TLS", func(t *testing.T) {
		t.Parallel()
		// token_url is the plain endpoint, not the mtls alias: nothing asks
		// for the certificate, so the IdP never sees it.
		f := itMustFail(t, run(t, mtTokenFlow("mt-no-alias", "token_url: "+idp.URL+"/token", "mtls-client", "tls_client_auth", pki.good.ref())), "token", flows.ReasonClientCertificateRejected)
		itSummaryHas(t, f, "client certificate was not provided", "never asked for the client certificate", "mtls_endpoint_aliases")
		itFactIs(t, f, "client_certificate_requested", "false")
	})
	t.Run("client_certificate_rejected IdP self_signed certificate not registered", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, mtTokenFlow("mt-self-other", issuer, "mtls-self-signed", "self_signed_tls_client_auth", pki.other.ref()+caFile)), "token", flows.ReasonClientCertificateRejected)
		itSummaryHas(t, f, "unregistered client certificate", pki.other.x5t())
	})

	t.Run("token_binding_mismatch unbound token", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, mtTokenFlow("mt-unbound", issuer, "mtls-unbound", "tls_client_auth", pki.good.ref()+caFile+"    expect:\n      access_token: {bound: mtls}\n")), "token", flows.ReasonTokenBindingMismatch)
		itSummaryHas(t, f, "not bound to the client certificate", "no cnf.x5t#S256", pki.good.x5t())
	})
	t.Run("token_binding_mismatch bound to the gateway's certificate", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, mtTokenFlow("mt-gateway", "token_url: https://"+ngx.Addr(3)+"/token", "mtls-self-signed", "self_signed_tls_client_auth",
			pki.good.ref()+caFile+"    jwks_url: "+idp.URL+"/jwks\n    expect:\n      access_token: {bound: mtls, issuer: \""+idp.Issuer+"\"}\n")), "token", flows.ReasonTokenBindingMismatch)
		itSummaryHas(t, f, "bound to another certificate", pki.gateway.x5t(), pki.good.x5t())
		itFactIs(t, f, "token_x5t#S256", pki.gateway.x5t())
	})
}

// TestMutualTLSHandshakeAlerts covers servers that refuse in the handshake
// (Go's crypto/tls, Envoy, HAProxy, Apache): the alert says why.
// proves: client_certificate_rejected
func TestMutualTLSHandshakeAlerts(t *testing.T) {
	t.Parallel()
	pki := mtNewPKI(t)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(pki.caFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("client CA: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "server-ca.pem")
	mtWrite(t, caFile, string(encodeCert(srv.Certificate())))
	var logs bytes.Buffer
	r := itLoggingRunner(itLookupFrom(nil, nil), &logs)
	t.Cleanup(func() { itAssertTextHasNoSecrets(t, "the Runner's log", logs.String(), pki.secrets()) })

	itMustPass(t, itRunYAML(t, r, mtHTTPFlow("alert-pass", srv.URL, pki.good.ref()+"    ca_file: "+caFile+"\n")))
	for _, c := range []struct {
		name, lines, check, alert string
	}{
		{"none", "", "missing", "certificate required"},
		{"untrusted", pki.rogue.ref(), "untrusted", "unknown certificate authority"},
		{"expired", pki.expired.ref(), "expired", "expired certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := itRunYAML(t, r, mtHTTPFlow("alert-"+c.name, srv.URL, c.lines+"    ca_file: "+caFile+"\n"))
			itAssertNoSecrets(t, pki.secrets(), res)
			f := itMustFail(t, res, "api", flows.ReasonClientCertificateRejected)
			itFactIs(t, f, "check", c.check)
			itFactIs(t, f, "tls_alert", c.alert)
		})
		t.Run(c.name+" expected refused", func(t *testing.T) {
			itMustPass(t, itRunYAML(t, r, mtHTTPFlow("alert-refused-"+c.name, srv.URL, c.lines+"    ca_file: "+caFile+"\n    expect: {client_certificate: refused}\n")))
		})
	}
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// TestMutualTLSKeyCanary: the client key appears in no load error, result
// rendering (JSON included) or log line, whether it does not parse, belongs
// to another certificate at load, or is swapped for another key after load.
func TestMutualTLSKeyCanary(t *testing.T) {
	t.Parallel()
	pki := mtNewPKI(t)
	var logs bytes.Buffer
	r := itLoggingRunner(itLookupFrom(nil, nil), &logs)
	secrets := pki.secrets()
	flow := func(key string) string {
		return mtHTTPFlow("canary", "https://127.0.0.1:1/", "    tls_client_certificate: ${file:"+pki.good.certFile+"}\n    tls_client_key: ${file:"+key+"}\n")
	}

	// At load: another certificate's key, and a key whose body is damaged.
	damaged := filepath.Join(t.TempDir(), "damaged.key")
	lines := strings.Split(pki.good.keyPEM, "\n")
	lines[1] = strings.ToUpper(lines[1])
	mtWrite(t, damaged, strings.Join(lines, "\n"))
	secrets = append(secrets, lines[1])
	for name, key := range map[string]string{"another key": pki.other.keyFile, "damaged key": damaged} {
		_, err := flows.LoadBytes(flows.LoadOptions{Secrets: r.Secrets}, "canary.yaml", []byte(flow(key)))
		if err == nil || !strings.Contains(err.Error(), "tls_client_") {
			t.Fatalf("%s: load error %v, want one naming the field", name, err)
		}
		itAssertTextHasNoSecrets(t, name+"'s load error", err.Error(), secrets)
	}

	// At run: the key file now holds another certificate's key.
	swapped := filepath.Join(t.TempDir(), "swapped.key")
	mtWrite(t, swapped, pki.good.keyPEM)
	f := itLoadFlow(t, r, flow(swapped))
	mtWrite(t, swapped, pki.rogue.keyPEM)
	res := r.Run(t.Context(), f)
	fail := itMustFail(t, res, "api", flows.ReasonConfigInvalid)
	itSummaryHas(t, fail, "tls_client_certificate", "is not the certificate of tls_client_key")
	itAssertNoSecrets(t, secrets, res)
	itAssertTextHasNoSecrets(t, "the Runner's log", logs.String(), secrets)
}

// TestMutualTLSAccessDeniedAlert: access_denied is also what TLS
// terminators and WAFs send for address, SNI or ACL denials, so to a step
// without a certificate it is a refused connection that may want one, not
// client_certificate_rejected. The server reads the ClientHello and
// answers a fatal access_denied alert, as such a terminator does.
// proves: connection_failed, client_certificate_rejected
func TestMutualTLSAccessDeniedAlert(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				// The ClientHello record: header, then its length.
				head := make([]byte, 5)
				if _, err := io.ReadFull(conn, head); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, conn, int64(head[3])<<8|int64(head[4])); err != nil {
					return
				}
				conn.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 49}) // alert, fatal, access_denied
			}()
		}
	}()
	pki := mtNewPKI(t)
	r := itNewRunner(itLookupFrom(nil, nil))
	target := "https://" + ln.Addr().String() + "/"

	f := itMustFail(t, itRunYAML(t, r, mtHTTPFlow("denied-none", target, "")), "api", flows.ReasonConnectionFailed)
	itSummaryHas(t, f, `TLS alert "access denied"`, "WAF or ACL", "may also require a client certificate")
	itFactIs(t, f, "tls_alert", "access denied")

	res := itRunYAML(t, r, mtHTTPFlow("denied-cert", target, pki.good.ref()))
	itAssertNoSecrets(t, pki.secrets(), res)
	f = itMustFail(t, res, "api", flows.ReasonClientCertificateRejected)
	itFactIs(t, f, "check", "refused")
}
