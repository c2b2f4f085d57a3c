package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// keyClientKey is KeyClientID's key pair: generated once per process, on
// first use, and kept in memory only (never written anywhere). RSA because
// the op announces RS256 as its only token_endpoint_auth_signing_alg.
var keyClientKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// dpopClientKey is DPoPClientID's key pair, made and kept like
// keyClientKey's: each client has its own credentials.
var dpopClientKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// KeyClientPrivateKeyPEM is KeyClientID's private key (PKCS#8 PEM) for the
// demo flow that authenticates with it, handed over as a secret reference's
// value. Every IdP of the process registers its public key.
func KeyClientPrivateKeyPEM() (string, error) { return privateKeyPEM(keyClientKey) }

// DPoPClientPrivateKeyPEM is DPoPClientID's private key (PKCS#8 PEM), as
// KeyClientPrivateKeyPEM is KeyClientID's. It signs client assertions only;
// the flow's DPoP proofs are signed with a key authwatch makes per run.
func DPoPClientPrivateKeyPEM() (string, error) { return privateKeyPEM(dpopClientKey) }

func privateKeyPEM(generated func() (*rsa.PrivateKey, error)) (string, error) {
	key, err := generated()
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// Limits of a client assertion: how old its iat may be, and the leeway for
// a client clock slightly ahead.
const (
	assertionMaxAge = 5 * time.Minute
	assertionLeeway = 5 * time.Second
)

type clientAssertionKey struct{}

// clientAssertion returns the request's client_assertion (RFC 7523 §2.2) as
// withTokenRequestContext stored it. The op's client_credentials path hands
// the storage only client_id and client_secret, hence the detour.
func clientAssertion(ctx context.Context) string {
	a, _ := ctx.Value(clientAssertionKey{}).(string)
	return a
}

// assertionClient authenticates a private_key_jwt client by its assertion,
// with zitadel's JWT profile verifier: aud the token endpoint (RFC 7523
// §3), iss = sub = the client, exp, iat, and an RS256 signature by the
// client's registered key. clientID is the form's client_id: RFC 7523 makes
// it optional, but the op looks the client up by it after authentication.
func (s *demoStorage) assertionClient(ctx context.Context, clientID, assertion string) (*serviceClient, error) {
	if clientID == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("client_id is required with a client_assertion")
	}
	c, ok := s.services[clientID]
	if !ok || c.publicKey == nil {
		return nil, errBadClient
	}
	verifier := op.NewJWTProfileVerifierKeySet(clientKeySet{key: c.publicKey, kid: c.keyID}, s.tokenEndpoint, assertionMaxAge, assertionLeeway)
	profile, err := op.VerifyJWTAssertion(ctx, assertion, verifier)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("client assertion rejected: %v", err)
	}
	if profile.Issuer != c.id {
		return nil, oidc.ErrInvalidClient().WithDescription("client assertion rejected: iss %q is not client_id %q", profile.Issuer, c.id)
	}
	return c, nil
}

// clientKeySet verifies an assertion with one client's public key: RS256
// only, as discovery says, and a kid in the header must be the registered
// one.
type clientKeySet struct {
	key *rsa.PublicKey
	kid string
}

func (k clientKeySet) VerifySignature(_ context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	if alg := jws.Signatures[0].Header.Algorithm; alg != string(jose.RS256) {
		return nil, fmt.Errorf("alg %s: only RS256 is supported", alg)
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != "" && kid != k.kid {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	return jws.Verify(k.key)
}

// PrivateKeyLines are the lines of the key clients' private keys' PEM
// bodies, for the secret canary tests: none may appear anywhere.
func PrivateKeyLines() []string {
	var out []string
	for _, pemOf := range []func() (string, error){KeyClientPrivateKeyPEM, DPoPClientPrivateKeyPEM} {
		key, err := pemOf()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(key, "\n") {
			if line != "" && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	return out
}
