package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/testenv"
)

// fapiLocal is what flows.d/fapi-mtls.yaml runs against locally: nginx
// terminating mutual TLS (ssl_verify_client) in front of oidc-provider
// (MTLS=1, the mtls alias published in discovery) and of an accounts API.
type fapiLocal struct {
	issuer, api, caFile, certFile, keyFile string
}

func fapiMTLS(t *testing.T) fapiLocal {
	t.Helper()
	testenv.Require(t, "node")
	dir := t.TempDir()
	server := testenv.Certs(t)
	ca, caKey := fapiIssue(t, nil, nil, "fapi test client CA")
	client, clientKey := fapiIssue(t, ca, caKey, "fapi-monitor")
	der, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	l := fapiLocal{caFile: server.CAFile, certFile: filepath.Join(dir, "client.crt"), keyFile: filepath.Join(dir, "client.key")}
	clientCA := filepath.Join(dir, "client-ca.pem")
	for path, block := range map[string]*pem.Block{l.certFile: {Type: "CERTIFICATE", Bytes: client.Raw},
		l.keyFile: {Type: "PRIVATE KEY", Bytes: der}, clientCA: {Type: "CERTIFICATE", Bytes: ca.Raw}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clients, _ := json.Marshal([]map[string]any{{"client_id": "fapi-monitor", "token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": client.Subject.String(), "tls_client_certificate_bound_access_tokens": true,
		"grant_types": []string{"client_credentials"}, "response_types": []string{}, "redirect_uris": []string{}, "scope": "api:read"}})
	clientsFile, aliases := filepath.Join(dir, "clients.json"), filepath.Join(dir, "aliases.json")
	if err := os.WriteFile(clientsFile, clients, 0o600); err != nil {
		t.Fatal(err)
	}
	idp := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "EXTRA_CLIENTS": clientsFile, "MTLS": "1",
		"MTLS_ENDPOINT_ALIASES_FILE": aliases})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-SSL-Client-Verify") != "SUCCESS" || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Error(w, "mutual TLS and a bearer token required", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"accounts":[]}`)
	}))
	t.Cleanup(api.Close)
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}} ssl;
        ssl_certificate %[1]s;
        ssl_certificate_key %[2]s;
        ssl_client_certificate %[3]s;
        ssl_verify_client on;
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
        proxy_set_header X-SSL-Client-S-DN $ssl_client_s_dn;
        location /accounts { proxy_pass %[4]s; }
        location / { proxy_pass %[5]s; }
    }`, server.Valid.CertFile, server.Valid.KeyFile, clientCA, api.URL, idp.URL))
	if err := os.WriteFile(aliases, []byte(`{"token_endpoint":"https://`+ngx.Addr(0)+`/token"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	l.issuer, l.api = idp.Issuer, "https://"+ngx.Addr(0)+"/accounts"
	return l
}

func fapiIssue(t *testing.T, issuer *x509.Certificate, issuerKey *ecdsa.PrivateKey, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"authwatch TEST ONLY"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	signer, signerKey := tmpl, key
	if issuer == nil {
		tmpl.IsCA, tmpl.KeyUsage, tmpl.ExtKeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature, nil
	} else {
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
