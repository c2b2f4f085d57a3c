package flows_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// caLoadKeyCanary is the body of a "key" that must never be quoted: valid
// base64, so the PEM block decodes and only the key inside fails.
var caLoadKeyCanary = base64.StdEncoding.EncodeToString([]byte("canary-key-body-0123456789-never-shown"))

// TestLoadClientAssertionErrors checks the positioned load errors of the
// JWT client authentication options, and that none quotes a key.
func TestLoadClientAssertionErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	garbage := write("garbage.pem", "-----BEGIN PRIVATE KEY-----\n"+caLoadKeyCanary+"\n-----END PRIVATE KEY-----\n")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	ec := write("ec.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})))
	pub := write("pub.pem", "-----BEGIN PUBLIC KEY-----\n"+caLoadKeyCanary+"\n-----END PUBLIC KEY-----\n")

	head := "name: pk\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: https://idp.example.test/token\n    client_id: app\n"
	cases := []struct{ name, lines, want string }{
		{"no client_key", "    client_auth: private_key_jwt\n",
			"pk.yaml:4:5: steps[0].client_key: required for private_key_jwt: a secret reference to the private key"},
		{"literal PEM", "    client_auth: private_key_jwt\n    client_key: |\n      -----BEGIN PRIVATE KEY-----\n      " + caLoadKeyCanary + "\n      -----END PRIVATE KEY-----\n",
			"pk.yaml:9:17: steps[0].client_key: a private key is never written into a flow file: give a secret reference"},
		{"literal around a reference", "    client_auth: private_key_jwt\n    client_key: \"x${env:KEY}\"\n",
			"pk.yaml:9:17: steps[0].client_key: must be exactly one secret reference"},
		{"step output", "    client_auth: private_key_jwt\n    client_key: ${steps.token.access_token}\n",
			"pk.yaml:9:17: steps[0].client_key: must come from a secret reference"},
		{"key does not parse", "    client_auth: private_key_jwt\n    client_key: ${file:" + garbage + "}\n",
			"pk.yaml:9:17: steps[0].client_key: ${file:" + garbage + "}: a PRIVATE KEY PEM block that does not parse"},
		{"public key", "    client_auth: private_key_jwt\n    client_key: ${file:" + pub + "}\n",
			"pk.yaml:9:17: steps[0].client_key: ${file:" + pub + "}: a public key: client_key must be the private key"},
		{"alg does not fit", "    client_auth: private_key_jwt\n    client_key: ${file:" + ec + "}\n    client_assertion_alg: RS256\n",
			"pk.yaml:10:27: steps[0].client_assertion_alg: RS256 does not fit client_key (EC P-256 key); leave client_assertion_alg out to use ES256"},
		{"client_secret with private_key_jwt", "    client_auth: private_key_jwt\n    client_key: ${file:" + ec + "}\n    client_secret: ${env:S}\n",
			"pk.yaml:10:20: steps[0].client_secret: not used with private_key_jwt"},
		{"client_secret_jwt without secret", "    client_auth: client_secret_jwt\n",
			"pk.yaml:4:5: steps[0].client_secret: required for client_secret_jwt"},
		{"client_key without a JWT method", "    client_secret: ${env:S}\n    client_key: ${file:" + ec + "}\n",
			"pk.yaml:9:17: steps[0].client_key: only goes with client_auth: private_key_jwt or client_secret_jwt"},
		{"audience", "    client_auth: private_key_jwt\n    client_key: ${file:" + ec + "}\n    client_assertion_audience: not a uri\n",
			"pk.yaml:10:32: steps[0].client_assertion_audience: must be token_endpoint, issuer or an absolute URI"},
		{"audience issuer without issuer", "    client_auth: private_key_jwt\n    client_key: ${file:" + ec + "}\n    client_assertion_audience: issuer\n",
			"pk.yaml:10:32: steps[0].client_assertion_audience: issuer needs the step's issuer field"},
		{"certificate does not parse", "    client_auth: private_key_jwt\n    client_key: ${file:" + ec + "}\n    client_certificate: nope\n",
			"pk.yaml:10:25: steps[0].client_certificate: no PEM CERTIFICATE block"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := head + c.lines
			_, err := flows.LoadBytes(flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: func(string) (string, bool) { return "set", true }}}, "pk.yaml", []byte(src))
			if err == nil {
				t.Fatalf("loaded; want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error:\n%v\nwant a line starting %q", err, c.want)
			}
			if strings.Contains(err.Error(), caLoadKeyCanary) {
				t.Errorf("the error quotes the key:\n%v", err)
			}
		})
	}
}

// TestLoadClientAssertionGood loads each method with its options.
func TestLoadClientAssertionGood(t *testing.T) {
	src := `name: pk
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: https://login.example.test/tenant/v2.0
    client_id: app
    client_auth: private_key_jwt
    client_key: ${file:/etc/authwatch/unset-client.key}
    client_certificate: ${file:/etc/authwatch/unset-client.crt}
    client_key_id: key-1
    client_assertion_alg: PS256
    client_assertion_audience: issuer
  - id: hs
    kind: client_credentials
    token_url: https://idp.example.test/token
    client_id: app
    client_auth: client_secret_jwt
    client_secret: ${env:S}
`
	set, err := flows.LoadBytes(flows.LoadOptions{}, "pk.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Flows) != 1 {
		t.Fatalf("%d flows", len(set.Flows))
	}
}
