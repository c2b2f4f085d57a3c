package flows_test

// Key-based client authentication (private_key_jwt, client_secret_jwt)
// against the real oidc-provider: the clients are registered with the
// public JWKS of keys this test generates (EXTRA_CLIENTS), and the
// provider says why it refused an assertion (ERROR_DETAIL=1), as Okta,
// Entra ID and Keycloak do.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// caCsjwtSecret is client_secret_jwt's secret (HS256 needs 32 bytes or more).
const caCsjwtSecret = "canary-csjwt-secret-5f0e-0123456789abcdef0123"

// caKeys are the test's keys, written where ${file:...} finds them.
type caKeys struct {
	dir                            string
	rsa, ec, ed, stray             crypto.Signer
	rsaPEM, ecJWK, edPEM, strayPEM string // the files' contents
	certPEM                        string
}

func caPEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func caNewKeys(t *testing.T) *caKeys {
	t.Helper()
	k := &caKeys{dir: t.TempDir()}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	stray, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	k.rsa, k.stray, k.ec, k.ed = rsaKey, stray, ecKey, edKey
	// One of each form: PKCS#1, PKCS#8, a private JWK.
	k.rsaPEM = caPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	strayDER, _ := x509.MarshalPKCS8PrivateKey(stray)
	k.strayPEM = caPEM(t, "PRIVATE KEY", strayDER)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	k.edPEM = caPEM(t, "PRIVATE KEY", edDER)
	ecJWK, err := json.Marshal(jose.JSONWebKey{Key: ecKey, KeyID: "ec-1"})
	if err != nil {
		t.Fatal(err)
	}
	k.ecJWK = string(ecJWK)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "authwatch-test-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rsaKey.Public(), rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	k.certPEM = caPEM(t, "CERTIFICATE", der)
	for name, text := range map[string]string{"rsa.pem": k.rsaPEM, "stray.pem": k.strayPEM, "ed.pem": k.edPEM, "ec.jwk": k.ecJWK, "client.crt": k.certPEM} {
		if err := os.WriteFile(filepath.Join(k.dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// secrets are every form of the private keys and the client_secret_jwt
// secret that must never be shown: the files, and each PEM body line.
func (k *caKeys) secrets() []string {
	out := []string{caCsjwtSecret}
	for _, text := range []string{k.rsaPEM, k.strayPEM, k.edPEM} {
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, "-----") && len(line) > 16 {
				out = append(out, line)
			}
		}
	}
	var jwk struct{ D string }
	_ = json.Unmarshal([]byte(k.ecJWK), &jwk)
	return append(out, jwk.D)
}

func (k *caKeys) file(name string) string { return "${file:" + filepath.Join(k.dir, name) + "}" }

func caPublicJWK(t *testing.T, key crypto.Signer, kid string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key.Public(), KeyID: kid})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// caClients writes the clients oidc-provider registers besides its own.
func caClients(t *testing.T, k *caKeys) string {
	t.Helper()
	cc := func(id string, extra map[string]any) map[string]any {
		c := map[string]any{"client_id": id, "grant_types": []string{"client_credentials"}, "response_types": []string{},
			"redirect_uris": []string{}, "scope": "api:read"}
		for n, v := range extra {
			c[n] = v
		}
		return c
	}
	keys := []json.RawMessage{caPublicJWK(t, k.rsa, "rsa-1"), caPublicJWK(t, k.ec, "ec-1"), caPublicJWK(t, k.ed, "ed-1")}
	clients := []map[string]any{
		cc("pkjwt-client", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": map[string]any{"keys": keys}}),
		cc("pkjwt-rs256-only", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "RS256",
			"jwks": map[string]any{"keys": keys[:1]}}),
		cc("csjwt-client", map[string]any{"token_endpoint_auth_method": "client_secret_jwt", "client_secret": caCsjwtSecret}),
	}
	b, err := json.Marshal(clients)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func caFlow(name, issuer, client, lines string) string {
	return "name: " + name + "\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    issuer: \"" + issuer + "\"\n" +
		"    client_id: " + client + "\n    scopes: [api:read]\n" + lines
}

// proves: client_assertion_rejected
func TestIntegrationClientAssertion(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	k := caNewKeys(t)
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "EXTRA_CLIENTS": caClients(t, k), "ERROR_DETAIL": "1"})
	var logs bytes.Buffer
	r := itLoggingRunner(itLookupFrom(map[string]string{"CSJWT_SECRET": caCsjwtSecret, "WRONG_CSJWT_SECRET": "canary-wrong-csjwt-secret-9a7b-abcdefabcdef0123"}, nil), &logs)
	secrets := append(k.secrets(), "canary-wrong-csjwt-secret-9a7b-abcdefabcdef0123")
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, yaml)
		itAssertNoSecrets(t, secrets, res)
		return res
	}
	t.Cleanup(func() { itAssertTextHasNoSecrets(t, "the Runner's log", logs.String(), secrets) })

	pass := []struct{ name, client, lines string }{
		{"RS256 PKCS#1 with client_key_id", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("rsa.pem") + "\n    client_key_id: rsa-1\n"},
		{"PS256", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("rsa.pem") + "\n    client_key_id: rsa-1\n    client_assertion_alg: PS256\n"},
		{"ES256 JWK kid", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("ec.jwk") + "\n"},
		{"EdDSA PKCS#8", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("ed.pem") + "\n    client_key_id: ed-1\n"},
		{"x5t#S256 certificate aud issuer", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("rsa.pem") +
			"\n    client_certificate: " + k.file("client.crt") + "\n    client_assertion_audience: issuer\n"},
		{"client_secret_jwt", "csjwt-client", "    client_auth: client_secret_jwt\n    client_secret: ${env:CSJWT_SECRET}\n"},
	}
	for _, c := range pass {
		t.Run("pass "+c.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, caFlow("ca-pass", p.Issuer, c.client, c.lines))
			itMustPass(t, res)
			body := ""
			for _, ex := range itStep(t, res, "token").Exchanges {
				if strings.HasSuffix(ex.URL, "/token") {
					body = ex.RequestBody
				}
			}
			if !strings.Contains(body, "client_assertion=[redacted") || strings.Contains(body, "client_secret=") {
				t.Errorf("token request body %q: want a redacted client_assertion and no client_secret", body)
			}
		})
	}

	fail := []struct {
		name, client, lines, problem string
		summary                      []string
	}{
		{"key not registered", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("stray.pem") + "\n", "key",
			[]string{`"pkjwt-client"`, "private_key_jwt", "RS256", "401 invalid_client", "does not hold this key"}},
		{"unknown kid", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("stray.pem") + "\n    client_key_id: rsa-2\n", "key",
			[]string{`kid "rsa-2"`, "does not hold this key"}},
		{"wrong aud", "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: " + k.file("rsa.pem") +
			"\n    client_key_id: rsa-1\n    client_assertion_audience: https://login.example.test/wrong\n", "audience",
			[]string{`aud "https://login.example.test/wrong"`, "audience (aud) must", "client_assertion_audience"}},
		{"alg not registered", "pkjwt-rs256-only", "    client_auth: private_key_jwt\n    client_key: " + k.file("rsa.pem") +
			"\n    client_key_id: rsa-1\n    client_assertion_alg: PS256\n", "algorithm",
			[]string{"PS256", "alg mismatch", "client_assertion_alg"}},
		{"client_secret_jwt wrong secret", "csjwt-client", "    client_auth: client_secret_jwt\n    client_secret: ${env:WRONG_CSJWT_SECRET}\n", "key",
			[]string{"client_secret_jwt", "HS256"}},
	}
	for _, c := range fail {
		t.Run("client_assertion_rejected "+c.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, caFlow("ca-fail", p.Issuer, c.client, c.lines))
			f := itMustFail(t, res, "token", flows.ReasonClientAssertionRejected)
			itSummaryHas(t, f, c.summary...)
			itFactIs(t, f, "client_assertion_problem", c.problem)
			itFactIs(t, f, "error", "invalid_client")
		})
	}

	t.Run("thumbprint and x5t#S256 shown", func(t *testing.T) {
		t.Parallel()
		res := run(t, caFlow("ca-cert-wrong-aud", p.Issuer, "pkjwt-client", "    client_auth: private_key_jwt\n    client_key: "+k.file("rsa.pem")+
			"\n    client_certificate: "+k.file("client.crt")+"\n    client_assertion_audience: urn:example:wrong\n"))
		f := itMustFail(t, res, "token", flows.ReasonClientAssertionRejected)
		want, _ := (&jose.JSONWebKey{Key: k.rsa.Public()}).Thumbprint(crypto.SHA256)
		itFactIs(t, f, "client_key_thumbprint", base64.RawURLEncoding.EncodeToString(want))
		itFactIs(t, f, "client_key", "RSA 2048")
		if x5t, _ := itFact(f, "client_certificate_x5t#S256"); len(x5t) != 43 || !strings.Contains(f.Summary, "x5t#S256 "+x5t) {
			t.Errorf("x5t#S256 fact %q, summary %q", x5t, f.Summary)
		}
	})

	t.Run("invalid_client stays for an unknown client", func(t *testing.T) {
		t.Parallel()
		res := run(t, caFlow("ca-unknown", p.Issuer, "no-such-pkjwt-client", "    client_auth: private_key_jwt\n    client_key: "+k.file("rsa.pem")+"\n"))
		itMustFail(t, res, "token", flows.ReasonInvalidClient)
	})
}

// TestClientAssertionEchoCanary sends assertions to a token endpoint that
// echoes the whole form back in error_description, as chatty IdPs do: the
// assertion (a bearer credential for its minute) and the key must appear
// nowhere, logs included, whatever the method.
func TestClientAssertionEchoCanary(t *testing.T) {
	t.Parallel()
	k := caNewKeys(t)
	endpoint := hardEchoingTokenEndpoint(t)
	var logs bytes.Buffer
	r := itLoggingRunner(itLookupFrom(map[string]string{"CSJWT_SECRET": caCsjwtSecret}, nil), &logs)
	for _, lines := range []string{
		"    client_auth: private_key_jwt\n    client_key: " + k.file("rsa.pem") + "\n",
		"    client_auth: private_key_jwt\n    client_key: " + k.file("ec.jwk") + "\n",
		"    client_auth: client_secret_jwt\n    client_secret: ${env:CSJWT_SECRET}\n",
	} {
		src := "name: echo\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: " + endpoint + "/token\n    client_id: app\n" + lines
		res := itRunYAML(t, r, src)
		f := itMustFail(t, res, "token", flows.ReasonClientAssertionRejected)
		if !strings.Contains(f.Summary, "client_assertion=") {
			t.Errorf("the echo is not in the summary (the test would prove nothing): %s", f.Summary)
		}
		itAssertNoSecrets(t, k.secrets(), res)
	}
	itAssertTextHasNoSecrets(t, "the Runner's log", logs.String(), k.secrets())
}
