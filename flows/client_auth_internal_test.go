package flows

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authwatch/authwatch/internal/conf"
)

// TestClientAssertionClaims checks one assertion against RFC 7523 §3: iss
// = sub = client_id, aud, a fresh jti, iat now, exp a minute later, and
// the header: kid, or Entra's x5t#S256 (the SHA-256 of the certificate's DER).
func TestClientAssertionClaims(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "c"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	_, x5t, err := parseClientCertificate(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); x5t != want {
		t.Fatalf("x5t#S256 %q, want %q", x5t, want)
	}
	now := time.Unix(1_800_000_000, 0)
	s := &assertionSetup{clientID: "app", alg: jose.PS256, key: key, kid: "k1", x5t: x5t, aud: "https://idp.example.test/token"}
	first, err := s.sign(now)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.sign(now)
	jws, err := jose.ParseSignedCompact(first, []jose.SignatureAlgorithm{jose.PS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Protected
	if h.KeyID != "k1" || h.ExtraHeaders["x5t#S256"] != x5t || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header %+v", h)
	}
	payload, err := jws.Verify(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	if c["iss"] != "app" || c["sub"] != "app" || c["aud"] != "https://idp.example.test/token" ||
		c["iat"] != float64(now.Unix()) || c["nbf"] != float64(now.Unix()) || c["exp"] != float64(now.Unix()+60) || len(c["jti"].(string)) < 20 {
		t.Errorf("claims %v", c)
	}
	var c2 map[string]any
	parts := strings.Split(second, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &c2)
	if c2["jti"] == c["jti"] {
		t.Errorf("two assertions share the jti %v", c["jti"])
	}
}

// TestDefaultAlgFromKey checks the algorithm each key type implies.
func TestDefaultAlgFromKey(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, c := range []struct {
		k    assertionKey
		want jose.SignatureAlgorithm
		fits []jose.SignatureAlgorithm
		not  []jose.SignatureAlgorithm
	}{
		{assertionKey{signer: rsaKey}, jose.RS256, []jose.SignatureAlgorithm{jose.PS256, jose.RS512}, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}},
		{assertionKey{signer: p256}, jose.ES256, nil, []jose.SignatureAlgorithm{jose.ES384, jose.RS256}},
		{assertionKey{signer: p384}, jose.ES384, nil, []jose.SignatureAlgorithm{jose.ES256}},
	} {
		if got := c.k.defaultAlg(); got != c.want {
			t.Errorf("%s: default %s, want %s", c.k.describe(), got, c.want)
		}
		for _, a := range c.fits {
			if !c.k.fits(a) {
				t.Errorf("%s: %s should fit", c.k.describe(), a)
			}
		}
		for _, a := range c.not {
			if c.k.fits(a) {
				t.Errorf("%s: %s should not fit", c.k.describe(), a)
			}
		}
	}
}

// TestSharedCacheKeyNamesTheKey checks that two flows of one client id
// with different keys (or audiences) never share a token, and that a
// run's own assertions (a new jti each) do not split the cache.
func TestSharedCacheKeyNamesTheKey(t *testing.T) {
	keys := map[string]string{}
	for _, name := range []string{"A", "B"} {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalECPrivateKey(k)
		keys["KEY_"+name] = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	}
	r := NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: func(n string) (string, bool) { v, ok := keys[n]; return v, ok }}
	st := newState(r, &Flow{Name: "f"})
	cfg := &clientcredentials.Config{ClientID: "app", TokenURL: "https://idp.example.test/token", EndpointParams: url.Values{}}
	keyOf := func(env, aud string) string {
		t.Helper()
		req := &TokenRequest{ClientAuth: authPrivateKeyJWT, ClientAssertion: ClientAssertion{ClientKey: conf.NewTemplate("${env:" + env + "}"), AssertionAudience: aud}}
		k, err := req.sharedCacheKey(st, grantClientCredentials, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := keyOf("KEY_A", "")
	if a != keyOf("KEY_A", "") {
		t.Error("the same key gives two cache keys")
	}
	if a == keyOf("KEY_B", "") || a == keyOf("KEY_A", "https://other.example.test/") {
		t.Error("another key or audience shares the cache key")
	}
}

// TestSharedCacheKeyNamesTheCertificate: a certificate-bound token is
// shared by the certificate's content, not its reference: a certificate
// renewed behind the same ${env:...} gets a token of its own.
func TestSharedCacheKeyNamesTheCertificate(t *testing.T) {
	env := map[string]string{}
	issue := func() {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		env["CERT"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		env["KEY"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	}
	r := NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }}
	cfg := &clientcredentials.Config{ClientID: "app", TokenURL: "https://idp.example.test/token", EndpointParams: url.Values{}}
	req := &TokenRequest{ClientAuth: authTLSClientAuth,
		TLSOptions: TLSOptions{TLSClientCertificate: conf.NewTemplate("${env:CERT}"), TLSClientKey: conf.NewTemplate("${env:KEY}")}}
	keyOf := func() string {
		t.Helper()
		k, err := req.sharedCacheKey(newState(r, &Flow{Name: "f"}), grantClientCredentials, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue()
	before := keyOf()
	if before != keyOf() {
		t.Error("the same certificate gives two cache keys")
	}
	issue()
	if keyOf() == before {
		t.Error("a renewed certificate behind the same reference shares the cache key of the old one")
	}
}
