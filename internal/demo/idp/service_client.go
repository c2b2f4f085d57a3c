package idp

import (
	"crypto/rsa"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// serviceClient is a client_credentials-only client. zitadel's example
// storage.Client cannot express audiences, allowed scopes or a per-client clock
// drift (its fields are unexported), hence this small op.Client of our own.
type serviceClient struct {
	id     string
	secret string // "" for a key client: no secret is ever accepted for it
	// publicKey, for a private_key_jwt client, verifies its assertions;
	// keyID is the key's kid (an assertion may also carry none).
	publicKey  *rsa.PublicKey
	keyID      string
	audiences  []string // allowed audiences; the first is the default
	scopes     []string // scopes the client may be granted
	clockDrift time.Duration
	// shortensTokens: the client's tokens last DriftClientShortLifetime
	// instead of DriftClientLifetime once the IdP's switch has come.
	shortensTokens bool
	// requiresDPoP: the client's token requests must carry a DPoP proof
	// (dpop_bound_access_tokens, RFC 9449 §5.2).
	requiresDPoP bool
}

var _ op.Client = (*serviceClient)(nil)

func (c *serviceClient) GetID() string                    { return c.id }
func (c *serviceClient) RedirectURIs() []string           { return nil }
func (c *serviceClient) PostLogoutRedirectURIs() []string { return nil }
func (c *serviceClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c *serviceClient) AuthMethod() oidc.AuthMethod {
	if c.publicKey != nil {
		return oidc.AuthMethodPrivateKeyJWT
	}
	return oidc.AuthMethodBasic
}
func (c *serviceClient) ResponseTypes() []oidc.ResponseType { return nil }
func (c *serviceClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (c *serviceClient) LoginURL(string) string { return "" }

// AccessTokenType makes the op sign JWT access tokens (RS256, kid from the
// storage's signing key) instead of its default opaque encrypted tokens.
func (c *serviceClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *serviceClient) IDTokenLifetime() time.Duration      { return 0 }
func (c *serviceClient) DevMode() bool                       { return false }
func (c *serviceClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *serviceClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *serviceClient) IsScopeAllowed(scope string) bool     { return slices.Contains(c.scopes, scope) }
func (c *serviceClient) IDTokenUserinfoClaimsAssertion() bool { return false }

// ClockSkew is the op's hook for stamping a client's tokens: it sets iat and
// nbf to now-ClockSkew. Meant as leeway, it is exactly the shift a token service
// with a slow clock produces, so the legacy client's drift is simulated through
// it (exp is shifted by demoStorage.CreateAccessToken).
func (c *serviceClient) ClockSkew() time.Duration { return c.clockDrift }

// serviceTokenRequest is what a granted client_credentials request turns into:
// the subject is the client itself, as in RFC 9068 §2.2 for client tokens.
type serviceTokenRequest struct {
	client   *serviceClient
	audience []string
	scopes   []string
}

func (r *serviceTokenRequest) GetSubject() string    { return r.client.id }
func (r *serviceTokenRequest) GetAudience() []string { return r.audience }
func (r *serviceTokenRequest) GetScopes() []string   { return r.scopes }
func (r *serviceTokenRequest) GetClientID() string   { return r.client.id }
