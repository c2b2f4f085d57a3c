package idp

import (
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// knownScopes is every scope this IdP defines. The op passes client_credentials
// scopes to the storage unchecked, so the policy lives here.
var knownScopes = []string{
	oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone,
	oidc.ScopeAddress, oidc.ScopeOfflineAccess,
	ScopeOrdersRead, ScopeOrdersWrite, ScopeBillingRead,
}

// grantScopes decides the scopes of a client_credentials token:
//   - no scope requested: the client's full allowance (RFC 6749 §3.3 default);
//   - a scope this IdP does not define: refused with invalid_scope, so a typo
//     in a flow fails loudly;
//   - a defined scope the client may not have: silently dropped, and the
//     narrower set is reported in the response's scope (RFC 6749 §3.3), as
//     many IdPs do. That is how reader-client ends up at the API without
//     orders.write.
func grantScopes(c *serviceClient, requested []string) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(c.scopes), nil
	}
	granted := []string{}
	for _, s := range requested {
		if !slices.Contains(knownScopes, s) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not defined at this IdP", s)
		}
		if c.IsScopeAllowed(s) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted, nil
}

// grantAudience decides a token's aud from the RFC 8707 resource (or the
// Auth0-style audience) parameters. Unlike scopes, an audience the client may
// not have is refused with invalid_target (RFC 8707 §2): narrowing it silently
// would hand out a token that is useless at the API the caller named.
func grantAudience(c *serviceClient, requested []string) ([]string, error) {
	if len(requested) == 0 {
		return []string{c.audiences[0]}, nil
	}
	var aud []string
	for _, a := range requested {
		if !slices.Contains(c.audiences, a) {
			return nil, oidc.ErrInvalidTarget().WithDescription("client %s may not get tokens for %s", c.id, a)
		}
		if !slices.Contains(aud, a) {
			aud = append(aud, a)
		}
	}
	return aud, nil
}
