package idp

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
)

// demoStorage is zitadel's in-memory example storage (users, login clients,
// auth requests, codes, refresh tokens, signing key) with the
// client_credentials side replaced: the example only knows one hard-coded
// service user and always sets aud to the client id.
type demoStorage struct {
	*storage.Storage
	services map[string]*serviceClient
	// tokenEndpoint is the aud a client assertion must name; set once the
	// op is built.
	tokenEndpoint string
	// shortened says whether the drift client's tokens are short by now.
	shortened func() bool
}

var (
	_ op.Storage                        = (*demoStorage)(nil)
	_ op.ClientCredentialsStorage       = (*demoStorage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*demoStorage)(nil)
)

func newDemoStorage(issuer string, extraRedirectURIs []string, shortened func() bool) (*demoStorage, error) {
	services, err := serviceClients()
	if err != nil {
		return nil, err
	}
	users := storage.NewUserStore(issuer)
	return &demoStorage{
		Storage:   storage.NewStorageWithClients(users, loginClients(extraRedirectURIs)),
		services:  services,
		shortened: shortened,
	}, nil
}

// errBadClient is deliberately vague: the op turns it into invalid_client, and
// an IdP should not reveal whether the id or the secret was wrong.
var errBadClient = errors.New("unknown client or wrong secret")

// ClientCredentials authenticates a client_credentials caller. Login clients
// are authenticated too, so that using one here yields the op's
// unauthorized_client (grant not allowed) instead of invalid_client.
func (s *demoStorage) ClientCredentials(ctx context.Context, clientID, clientSecret string) (op.Client, error) {
	if assertion := clientAssertion(ctx); assertion != "" {
		if clientSecret != "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")
		}
		return s.assertionClient(ctx, clientID, assertion)
	}
	if c, ok := s.services[clientID]; ok {
		if c.publicKey != nil {
			return nil, errBadClient // a key client never authenticates with a secret
		}
		if subtle.ConstantTimeCompare([]byte(c.secret), []byte(clientSecret)) != 1 {
			return nil, errBadClient
		}
		return c, nil
	}
	if err := s.Storage.AuthorizeClientIDSecret(ctx, clientID, clientSecret); err != nil {
		return nil, errBadClient
	}
	return s.Storage.GetClientByClientID(ctx, clientID)
}

// ClientCredentialsTokenRequest applies the scope and audience policy (see
// grant.go). The op calls it only after ClientCredentials succeeded and the
// client was checked for the grant type, so clientID is a service client.
func (s *demoStorage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	c, ok := s.services[clientID]
	if !ok {
		return nil, errBadClient
	}
	if c.requiresDPoP && dpopBinding(ctx) == nil {
		return nil, &oidc.Error{ErrorType: dpopproof.ErrorCode, Description: "client " + c.id + " must use DPoP: send a DPoP proof with the token request (RFC 9449)"}
	}
	granted, err := grantScopes(c, scopes)
	if err != nil {
		return nil, err
	}
	aud, err := grantAudience(c, requestedAudience(ctx))
	if err != nil {
		return nil, err
	}
	return &serviceTokenRequest{client: c, audience: aud, scopes: granted}, nil
}

// CreateAccessToken keeps the example's token bookkeeping (5 minute lifetime)
// but moves exp onto a drifting client's clock: the op takes exp from here and
// iat/nbf from serviceClient.ClockSkew, so both are shifted alike. It also
// shortens the drift client's tokens once their time has come (the op
// derives expires_in from exp too).
func (s *demoStorage) CreateAccessToken(ctx context.Context, request op.TokenRequest) (string, time.Time, error) {
	id, exp, err := s.Storage.CreateAccessToken(ctx, request)
	if r, ok := request.(*serviceTokenRequest); ok && err == nil {
		exp = exp.Add(-r.client.clockDrift)
		if r.client.shortensTokens && s.shortened() {
			exp = exp.Add(DriftClientShortLifetime - DriftClientLifetime)
		}
	}
	return id, exp, err
}

// GetPrivateClaimsFromRequest adds the granted scopes as the JWT's scope claim
// (RFC 9068 §2.2.3): the op itself never writes scope into access tokens. It
// keeps the example's custom claims. For a token request with a verified
// DPoP proof (see withDPoP) it binds the token to the proof's key: cnf.jkt
// (RFC 9449 §6.1). The op calls it for JWT access tokens only.
func (s *demoStorage) GetPrivateClaimsFromRequest(ctx context.Context, request op.TokenRequest, restrictedScopes []string) (map[string]any, error) {
	var clientID string
	if r, ok := request.(interface{ GetClientID() string }); ok {
		clientID = r.GetClientID()
	}
	claims, err := s.Storage.GetPrivateClaimsFromScopes(ctx, request.GetSubject(), clientID, restrictedScopes)
	if err != nil {
		return nil, err
	}
	if scopes := request.GetScopes(); len(scopes) > 0 {
		if claims == nil {
			claims = map[string]any{}
		}
		claims["scope"] = strings.Join(scopes, " ")
	}
	if b := dpopBinding(ctx); b != nil {
		if claims == nil {
			claims = map[string]any{}
		}
		claims["cnf"] = map[string]any{"jkt": b.jkt}
		b.bound.Store(true)
	}
	return claims, nil
}

// GetClientByClientID also knows the service clients, so the op's
// introspection and revocation endpoints accept them.
func (s *demoStorage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	if c, ok := s.services[clientID]; ok {
		return c, nil
	}
	return s.Storage.GetClientByClientID(ctx, clientID)
}

// AuthorizeClientIDSecret is the secret check of the op's other endpoints
// (code exchange, refresh, introspection, revocation).
func (s *demoStorage) AuthorizeClientIDSecret(ctx context.Context, clientID, clientSecret string) error {
	if c, ok := s.services[clientID]; ok {
		if c.publicKey != nil {
			return errBadClient
		}
		if subtle.ConstantTimeCompare([]byte(c.secret), []byte(clientSecret)) != 1 {
			return errBadClient
		}
		return nil
	}
	return s.Storage.AuthorizeClientIDSecret(ctx, clientID, clientSecret)
}
