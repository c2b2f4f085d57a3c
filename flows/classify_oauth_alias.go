package flows

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/authwatch/authwatch/internal/oautherr"
)

// Meanings an IdP's error can be recognised as that are not RFC 6749
// codes: reasons the token endpoint can prove on its own.
const (
	meansAccountLocked = "account_locked"
	meansMFARequired   = "mfa_required"
)

// oauthAlias recognises an IdP's own wording of an OAuth error: a
// non-standard "error" value, or a standard one the IdP uses for something
// else (Keycloak's unauthorized_client for a wrong secret), or a vendor
// sub-code in the description that says more than the code (Entra's
// AADSTS numbers).
type oauthAlias struct {
	codes  []string       // the "error" values it applies to, lower case; none: any
	desc   *regexp.Regexp // must match the description; nil: any
	means  string         // an RFC 6749/8707 code, or meansAccountLocked/meansMFARequired
	refine bool           // a standard code made more specific, not a non-standard answer
	source string         // where the wording was seen
}

// oauthAliases is tried in order; the first match wins, so the entries
// that read a vendor sub-code come before those that read the code alone.
// Each records where the wording is documented or was reported verbatim.
var oauthAliases = []oauthAlias{
	// Entra ID: AADSTS codes in error_description (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
	{desc: aadsts(7000215, 7000222, 50012), means: "invalid_client",
		source: "Entra ID AADSTS7000215/7000222 (github.com/thobach/MMM-MicrosoftToDo/issues/33, github.com/Azure-Samples/ms-identity-python-webapp/issues/67)"},
	{desc: aadsts(700016), means: "invalid_client", // sent as unauthorized_client
		source: "Entra ID AADSTS700016, unknown application (github.com/vippsas/vipps-ecom-api/issues/183)"},
	{desc: aadsts(500011), means: "invalid_target", // sent as invalid_resource
		source: "Entra ID AADSTS500011, resource principal not found (github.com/rootinc/laravel-azure-middleware/issues/51)"},
	{desc: aadsts(70011), means: "invalid_scope",
		source: "Entra ID AADSTS70011, invalid scope (github.com/laravel/socialite/issues/315)"},
	{desc: aadsts(50053, 50057), means: meansAccountLocked, refine: true,
		source: "Entra ID AADSTS50053 locked / AADSTS50057 disabled (github.com/AzureAD/microsoft-authentication-library-for-python/issues/211, github.com/knavesec/CredMaster/pull/64)"},
	{desc: aadsts(50076, 50079), means: meansMFARequired, refine: true, // invalid_grant or interaction_required
		source: "Entra ID AADSTS50076/50079, MFA required (github.com/geoffreylagaisse/Hass-Microsoft-Graph/issues/14, github.com/AzureAD/azure-activedirectory-library-for-nodejs/issues/151)"},
	{codes: []string{"invalid_resource"}, means: "invalid_target",
		source: "Entra ID invalid_resource (github.com/rootinc/laravel-azure-middleware/issues/51)"},

	// Keycloak answers unauthorized_client (RFC 6749: a grant the client may
	// not use) when client authentication fails.
	{codes: []string{"unauthorized_client"}, desc: regexp.MustCompile(`(?i)invalid client secret|invalid client or invalid client credentials|client secret not provided|unknown_client|client was not identified`),
		means:  "invalid_client",
		source: "Keycloak (github.com/keycloak/keycloak/issues/16923, github.com/code-specialist/fastapi-keycloak/issues/65, github.com/Waziup/WaziCloud/issues/173)"},
	{codes: []string{"invalid_grant"}, desc: regexp.MustCompile(`(?i)^account (temporarily )?disabled|account is locked|user is locked`),
		means: meansAccountLocked, refine: true,
		source: "Keycloak \"Account disabled\" (github.com/Nerzal/gocloak/issues/427)"},

	// Audiences and resources refused in other words than RFC 8707's
	// invalid_target: once idp_error (invalid_request) or invalid_client.
	{codes: []string{"invalid_request"}, desc: regexp.MustCompile(`(?i)requested audience not available`), means: "invalid_target",
		source: "Keycloak standard token exchange \"Requested audience not available\" (StandardTokenExchangeProvider; github.com/keycloak/keycloak/issues/37104)"},
	{codes: []string{"invalid_client"}, desc: regexp.MustCompile(`(?i)^audience not found`), means: "invalid_target",
		source: "Keycloak token exchange \"Audience not found\" for an audience that is no client of the realm (keycloak/keycloak TokenExchangeProvider)"},
	{codes: []string{"invalid_request"}, desc: regexp.MustCompile(`(?i)requested (audience|resource) '[^']*' has not been whitelisted`), means: "invalid_target",
		source: "ORY Hydra / fosite (and Authelia) \"Requested audience '…' has not been whitelisted by the OAuth 2.0 Client\" (ory/fosite audience_strategy.go)"},

	// Auth0 answers access_denied at /oauth/token.
	{codes: []string{"access_denied"}, desc: regexp.MustCompile(`(?i)^service not (found|enabled)`), means: "invalid_target",
		source: "Auth0 \"Service not found: <audience>\" (github.com/Moesif/moesif-developer-portal/issues/43, github.com/auth0/terraform-provider-auth0/issues/951)"},
	{codes: []string{"access_denied"}, desc: regexp.MustCompile(`(?i)not been granted scopes`), means: "invalid_scope",
		source: "Auth0 \"Client has not been granted scopes\" (github.com/auth0/docs/issues/5466)"},
	{codes: []string{"access_denied"}, desc: regexp.MustCompile(`(?i)^unauthorized\.?$`), means: "invalid_client",
		source: "Auth0 access_denied \"Unauthorized\" for a wrong client id or secret (github.com/auth0/laravel-auth0/issues/42, github.com/auth0/node-auth0/issues/682)"},

	// Okta: no access policy rule of the authorization server lets this
	// client use this grant with these scopes.
	{codes: []string{"access_denied"}, desc: regexp.MustCompile(`(?i)policy evaluation failed`), means: "unauthorized_client",
		source: "Okta \"Policy evaluation failed for this request\" (github.com/okta/okta-spring-boot/issues/602)"},

	// Hand-written OAuth servers that invent their own codes.
	{codes: []string{"scope_invalid", "invalid_scopes", "empty_scopes"}, means: "invalid_scope",
		source: "REASONS.md; midday-ai/midday OAuthErrorType (invalid_scopes, empty_scopes)"},
	{codes: []string{"invalid_client_id", "invalid_client_credentials", "invalid_client_secret", "client_not_found", "unknown_client"}, means: "invalid_client",
		source: "midday-ai/midday OAuthErrorType (invalid_client_id, invalid_client_credentials)"},
	{codes: []string{"invalid_refresh_token", "refresh_token_expired", "refresh_token_revoked", "invalid_authorization_code",
		"authorization_code_expired", "authorization_code_used", "invalid_code_verifier"}, means: "invalid_grant",
		source: "midday-ai/midday OAuthErrorType (refresh_token_*, authorization_code_*, invalid_code_verifier)"},
	{codes: []string{"grant_type_not_supported"}, means: "unsupported_grant_type",
		source: "midday-ai/midday OAuthErrorType (grant_type_not_supported)"},
}

// aadsts matches an Entra ID description that names one of the codes.
func aadsts(codes ...int) *regexp.Regexp {
	alts := make([]string, len(codes))
	for i, c := range codes {
		alts[i] = strconv.Itoa(c)
	}
	return regexp.MustCompile(`\bAADSTS(` + strings.Join(alts, "|") + `)\b`)
}

// recogniseOAuthError finds what an error means: the alias that recognises
// it, or nil when the answer is taken as it is.
func recogniseOAuthError(oe oautherr.Error) *oauthAlias {
	code := strings.ToLower(oe.Code)
	for i := range oauthAliases {
		a := &oauthAliases[i]
		if len(a.codes) > 0 && !containsStr(a.codes, code) {
			continue
		}
		if a.desc != nil && !a.desc.MatchString(oe.Description) {
			continue
		}
		if a.means == code {
			return nil // the IdP used the standard code; the description only agrees
		}
		return a
	}
	return nil
}

// note is what the summary adds about a recognised answer.
func (a *oauthAlias) note(oe oautherr.Error) string {
	if a.refine {
		return "recognised from the IdP's description as " + a.meaning() + " (" + a.vendor() + ")"
	}
	return "non-standard answer: the IdP said " + strconv.Quote(oe.Code) + ", recognised as " + a.meaning() + " (" + a.vendor() + ")"
}

func (a *oauthAlias) meaning() string {
	switch a.means {
	case meansAccountLocked:
		return "a locked or disabled account"
	case meansMFARequired:
		return "a second factor being required"
	}
	return a.means
}

// vendor is the source up to its first parenthesis: "Entra ID AADSTS500011, …".
func (a *oauthAlias) vendor() string {
	if i := strings.Index(a.source, " ("); i > 0 {
		return a.source[:i]
	}
	return a.source
}
