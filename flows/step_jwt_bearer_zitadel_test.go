package flows_test

// The JWT bearer grant (RFC 7523 §2.1) against zitadel's example OP (its
// JWT profile grant) for its service user "service", with a 2048-bit key
// the test registers as kid "key-2048" (the example's own key1 is 1024
// bits, which authwatch refuses as IdPs do).

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/authwatch/authwatch/flows"
)

// jbStorage is the example storage with one more service key.
type jbStorage struct {
	*storage.Storage
	key *rsa.PublicKey
}

// GetKeyByIDAndClientID serves the test's key for the service user.
func (s *jbStorage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	if clientID == storage.ServiceUserID && keyID == "key-2048" {
		return &jose.JSONWebKey{KeyID: keyID, Use: "sig", Key: s.key}, nil
	}
	return s.Storage.GetKeyByIDAndClientID(ctx, keyID, clientID)
}

func jbStartOP(t *testing.T, key *rsa.PublicKey) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	store := &jbStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(issuer), map[string]*storage.Client{}), key: key}
	srv.Config.Handler = exampleop.SetupServer(issuer, store, nil, false)
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

func jbKeyFile(t *testing.T, key *rsa.PrivateKey) (string, []string) {
	t.Helper()
	text := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(text), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") {
			lines = append(lines, line)
		}
	}
	return path, lines
}

func jbFlow(issuer, lines string) string {
	return `
name: jwt-bearer
every: 1m
steps:
  - id: token
    kind: jwt_bearer
    issuer: "` + issuer + `"
    client_id: service
    client_auth: none
    scopes: [openid]
` + lines
}

// proves: invalid_grant
func TestZitadelJWTBearer(t *testing.T) {
	t.Parallel()
	service, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	stray, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	issuer := jbStartOP(t, &service.PublicKey)
	keyFile, serviceLines := jbKeyFile(t, service)
	strayFile, strayLines := jbKeyFile(t, stray)
	secretLines := append(serviceLines, strayLines...)
	// A ready assertion, as another system (a workload identity, a CI
	// token service) would hand it over.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: service}, (&jose.SignerOptions{}).WithHeader("kid", "key-2048"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": "service", "sub": "service", "aud": issuer, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := jws.CompactSerialize()
	secretLines = append(secretLines, ready)
	r := itTappedRunner(itLookupFrom(map[string]string{"READY_ASSERTION": ready}, nil))
	run := func(t *testing.T, lines string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, jbFlow(issuer, lines))
		itAssertNoSecrets(t, append(slices.Clone(secretLines), itReceived(r)...), res)
		return res
	}

	t.Run("signed_with_the_service_key", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, run(t, "    assertion_key: ${file:"+keyFile+"}\n    assertion_key_id: key-2048\n"))
	})
	t.Run("ready_assertion", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, run(t, "    assertion: ${env:READY_ASSERTION}\n"))
	})
	t.Run("key_not_registered", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, "    assertion_key: ${file:"+strayFile+"}\n    assertion_key_id: key-2048\n"), "token", flows.ReasonInvalidGrant)
		itSummaryHas(t, f, "jwt-bearer")
		if !strings.Contains(f.Next, "assertion was refused") {
			t.Errorf("next step %q does not explain the refused assertion", f.Next)
		}
	})
	t.Run("unknown_kid", func(t *testing.T) {
		t.Parallel()
		itMustFail(t, run(t, "    assertion_key: ${file:"+keyFile+"}\n    assertion_key_id: key-rotated-away\n"), "token", flows.ReasonInvalidGrant)
	})
	t.Run("wrong_audience", func(t *testing.T) {
		t.Parallel()
		itMustFail(t, run(t, "    assertion_key: ${file:"+keyFile+"}\n    assertion_key_id: key-2048\n    assertion_audience: https://other-idp.example.com\n"), "token", flows.ReasonInvalidGrant)
	})
}
