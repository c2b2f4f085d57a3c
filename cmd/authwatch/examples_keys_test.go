package main

// What the key-based examples of flows.d run against locally: oidc-provider
// with clients registered (EXTRA_CLIENTS) with the public key of a key pair
// generated here, the private key written where the rewritten example's
// ${file:...} finds it and nowhere else.
//
//   - okta-private-key-jwt.yaml: an API services client (private_key_jwt,
//     kid) of oidc-provider behind nginx, the issuer keeping Okta's
//     /oauth2/<server id> path (oktaProvider), and exampleAPI for its tokens.
//   - entra-id-certificate.yaml: a client registered with the key of a
//     certificate and no kid (Entra finds the certificate by x5t#S256), PS256
//     only, and exampleAPI.
//   - fapi2-dpop-par.yaml: a code-flow client that must push its
//     authorization requests (require_pushed_authorization_requests), with
//     private_key_jwt (ES256 only) and DPoP-bound tokens
//     (dpop_bound_access_tokens), and testenv.DPoPAPI, which checks proofs.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/internal/testenv"
)

// exResource is the oidc-provider resource whose access tokens are JWTs
// (testdata/oidc-provider/README.md): the examples' token checks need one.
const exResource = "https://api.example.test/"

// exKey is a generated client key pair, its private key in a PEM file.
type exKey struct {
	signer  crypto.Signer
	keyFile string
	keyPEM  string
}

// exNewKey generates an RSA 2048 key ("rsa") or an EC P-256 key ("ec") and
// writes it (PKCS#8 PEM, mode 0600) into a temporary directory.
func exNewKey(t *testing.T, kind string) exKey {
	t.Helper()
	var signer crypto.Signer
	var err error
	switch kind {
	case "rsa":
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ec":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("exNewKey: unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	k := exKey{signer: signer, keyFile: filepath.Join(t.TempDir(), "client.key"),
		keyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
	if err := os.WriteFile(k.keyFile, []byte(k.keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// canaries are the lines of the private key's PEM body: none may appear in
// any output.
func (k exKey) canaries() []string {
	var out []string
	for _, line := range strings.Split(k.keyPEM, "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

// publicJWK is the key's public JWK, with kid when given.
func (k exKey) publicJWK(t *testing.T, kid string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: k.signer.Public(), KeyID: kid})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// selfSignedCertificate writes a certificate for the key (as uploaded to an
// Entra ID app registration) and returns its file.
func (k exKey) selfSignedCertificate(t *testing.T) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:   pkix.Name{CommonName: "authwatch-monitor", Organization: []string{"authwatch TEST ONLY"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.signer.Public(), k.signer)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "client.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// exClientsFile writes client metadata for oidc-provider's EXTRA_CLIENTS.
func exClientsFile(t *testing.T, clients ...map[string]any) string {
	t.Helper()
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

// exServiceClient is a client_credentials client authenticating with
// private_key_jwt by the keys of jwks, limited to the alg when given.
func exServiceClient(id, alg string, jwks ...json.RawMessage) map[string]any {
	c := map[string]any{"client_id": id, "grant_types": []string{"client_credentials"}, "response_types": []string{},
		"redirect_uris": []string{}, "scope": "api:read", "token_endpoint_auth_method": "private_key_jwt",
		"jwks": map[string]any{"keys": jwks}}
	if alg != "" {
		c["token_endpoint_auth_signing_alg"] = alg
	}
	return c
}

// exFAPI2 is what fapi2-dpop-par.yaml runs against: oidc-provider (PAR and
// DPoP on) with a client that can only log in the FAPI 2.0 way, and a DPoP
// API for its tokens.
type exFAPI2 struct {
	issuer string
	key    exKey
	api    *testenv.DPoPAPI
}

func exFAPI2Setup(t *testing.T, clientID, kid, redirectURI string) exFAPI2 {
	t.Helper()
	testenv.Require(t, "node")
	key := exNewKey(t, "ec")
	clients := exClientsFile(t, map[string]any{
		"client_id": clientID, "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"}, "redirect_uris": []string{redirectURI}, "scope": "openid api:read",
		"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
		"jwks": map[string]any{"keys": []json.RawMessage{key.publicJWK(t, kid)}},
		// Without a pushed request or a DPoP proof the server refuses the
		// login: the example passes only by doing both.
		"require_pushed_authorization_requests": true,
		"dpop_bound_access_tokens":              true,
	})
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "EXTRA_CLIENTS": clients, "ERROR_DETAIL": "1"})
	return exFAPI2{issuer: p.Issuer, key: key, api: testenv.NewDPoPAPI(t, p.URL+"/jwks", nil)}
}
