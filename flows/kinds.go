package flows

import (
	"slices"
	"strings"
)

// Kind describes one step kind: its YAML name, its constructor (no side
// effects) and a one-line description for docs and the JSON Schema.
type Kind struct {
	Name string
	New  func() Step
	Doc  string
}

// kinds is the one table of step kinds: the loader, the JSON Schema and the
// docs all read it, so a kind cannot be known to one and not the others.
var kinds = map[string]Kind{
	"discovery":          {"discovery", func() Step { return &DiscoveryStep{} }, "Fetch and check the OIDC discovery document and the JWKS."},
	"client_credentials": {"client_credentials", func() Step { return &ClientCredentialsStep{} }, "Get a token with the client_credentials grant."},
	"password":           {"password", func() Step { return &PasswordStep{} }, "Get a token with the resource owner password grant."},
	"jwt_bearer":         {"jwt_bearer", func() Step { return &JWTBearerStep{} }, "Get a token with the JWT bearer grant (RFC 7523 §2.1): a given JWT, or one signed with a service account's key."},
	"refresh":            {"refresh", func() Step { return &RefreshStep{} }, "Get a token with the refresh_token grant."},
	"token_check":        {"token_check", func() Step { return &TokenCheckStep{} }, "Check a token obtained elsewhere: signature, iss, times, aud, scopes, claims."},
	"introspect":         {"introspect", func() Step { return &IntrospectStep{} }, "Ask the IdP's introspection endpoint (RFC 7662) about a token: active, scope, aud, exp, client_id, cnf; revoked tokens must be inactive."},
	"token_exchange":     {"token_exchange", func() Step { return &TokenExchangeStep{} }, "Exchange a token of an earlier step for another (RFC 8693): audience, resource, requested_token_type, an optional actor token."},
	"userinfo":           {"userinfo", func() Step { return &UserinfoStep{} }, "Call the userinfo endpoint with an access token and check the claims; a signed answer is verified against the issuer's JWKS."},
	"revoke":             {"revoke", func() Step { return &RevokeStep{} }, "Revoke a token at the IdP's revocation endpoint (RFC 7009), for a later step to check that it no longer works."},
	"logout":             {"logout", func() Step { return &LogoutStep{} }, "End the user's IdP session (RP-initiated logout) and check with prompt=none that it is gone: a session that survives is revocation_ineffective."},
	"login":              {"login", func() Step { return &LoginStep{} }, "Log the synthetic user in through the IdP's login page: authorization code + PKCE, OpenID Connect."},
	"device_code":        {"device_code", func() Step { return &DeviceCodeStep{} }, "Run the device authorization grant (RFC 8628), approving as the synthetic user."},
	"form_login":         {"form_login", func() Step { return &FormLoginStep{} }, "Log in to a session-cookie web app through its login form and check the session cookie."},
	"http":               {"http", func() Step { return &HTTPStep{} }, "Call a URL and check the answer (status, headers, JSON, latency)."},
	"preflight":          {"preflight", func() Step { return &PreflightStep{} }, "Send a CORS preflight (OPTIONS) and check the Access-Control-Allow-* answer."},
	KindWait:             {KindWait, func() Step { return &WaitStep{} }, "Wait between two steps (e.g. past a token's lifetime); counted in the run's duration, not in latency figures."},
}

// Kinds returns the step kinds, sorted by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Kind) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func kindNames() string {
	names := make([]string, 0, len(kinds))
	for _, k := range Kinds() {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}
