package flows

// Reason is a stable failure code from the product contract (REASONS.md).
// Users route pages on it, silence it and graph it: never rename one.
type Reason string

// Layer names where to look first; layers follow the order in which a person
// debugs a 401: client → network → gateway → idp → token → app.
type Layer string

// The layers, in debugging order.
const (
	LayerClient  Layer = "client"
	LayerNetwork Layer = "network"
	LayerGateway Layer = "gateway"
	LayerIdP     Layer = "idp"
	LayerToken   Layer = "token"
	LayerApp     Layer = "app"
	LayerMonitor Layer = "monitor"
)

// Reason codes. The table in reasons_table.go documents each one.
const (
	ReasonCredentialsMissing         Reason = "credentials_missing"
	ReasonClockSkew                  Reason = "clock_skew"
	ReasonDNSFailure                 Reason = "dns_failure"
	ReasonConnectionFailed           Reason = "connection_failed"
	ReasonTimeout                    Reason = "timeout"
	ReasonTLSCertificateInvalid      Reason = "tls_certificate_invalid"
	ReasonTLSCertificateExpiring     Reason = "tls_certificate_expiring"
	ReasonAuthorizationHeaderDropped Reason = "authorization_header_dropped"
	ReasonRedirectDroppedCredentials Reason = "redirect_dropped_credentials"
	ReasonCORSPreflightRejected      Reason = "cors_preflight_rejected"
	ReasonCORSOriginNotAllowed       Reason = "cors_origin_not_allowed"
	ReasonCORSHeaderNotAllowed       Reason = "cors_header_not_allowed"
	ReasonCORSMethodNotAllowed       Reason = "cors_method_not_allowed"
	ReasonCORSCredentialsMisconfig   Reason = "cors_credentials_misconfigured"
	ReasonRateLimited                Reason = "rate_limited"
	ReasonDiscoveryFailed            Reason = "discovery_failed"
	ReasonIssuerMismatch             Reason = "issuer_mismatch"
	ReasonJWKSUnavailable            Reason = "jwks_unavailable"
	ReasonSigningKeyNotFound         Reason = "signing_key_not_found"
	ReasonSignatureInvalid           Reason = "signature_invalid"
	ReasonInvalidClient              Reason = "invalid_client"
	ReasonClientAssertionRejected    Reason = "client_assertion_rejected"
	ReasonClientCertificateRejected  Reason = "client_certificate_rejected"
	ReasonInvalidGrant               Reason = "invalid_grant"
	ReasonRefreshTokenRejected       Reason = "refresh_token_rejected"
	ReasonInvalidScope               Reason = "invalid_scope"
	ReasonGrantNotAllowed            Reason = "grant_not_allowed"
	ReasonInvalidTarget              Reason = "invalid_target"
	ReasonRedirectURIMismatch        Reason = "redirect_uri_mismatch"
	ReasonLoginRejected              Reason = "login_rejected"
	ReasonLoginFormChanged           Reason = "login_form_changed"
	ReasonMFARequired                Reason = "mfa_required"
	ReasonAccountLocked              Reason = "account_locked"
	ReasonIdPError                   Reason = "idp_error"
	ReasonStateMismatch              Reason = "state_mismatch"
	ReasonRevocationIneffective      Reason = "revocation_ineffective"
	ReasonTokenExpired               Reason = "token_expired"
	ReasonTokenNotYetValid           Reason = "token_not_yet_valid"
	ReasonTokenLifetimeShort         Reason = "token_lifetime_short"
	ReasonAudienceMismatch           Reason = "audience_mismatch"
	ReasonScopeMissing               Reason = "scope_missing"
	ReasonTokenBindingMismatch       Reason = "token_binding_mismatch"
	ReasonDPoPProofInvalid           Reason = "dpop_proof_invalid"
	ReasonIDTokenUsedAsAccessToken   Reason = "id_token_used_as_access_token"
	ReasonSessionCookieMissing       Reason = "session_cookie_missing"
	ReasonCookieAttributesInvalid    Reason = "cookie_attributes_invalid"
	ReasonRedirectedToLogin          Reason = "redirected_to_login"
	ReasonInvalidToken               Reason = "invalid_token"
	ReasonInsufficientScope          Reason = "insufficient_scope"
	ReasonWWWAuthenticateMissing     Reason = "www_authenticate_missing"
	ReasonUnauthorized               Reason = "unauthorized"
	ReasonForbidden                  Reason = "forbidden"
	ReasonAuthNotEnforced            Reason = "auth_not_enforced"
	ReasonServerError                Reason = "server_error"
	ReasonUnexpectedStatus           Reason = "unexpected_status"
	ReasonAssertionFailed            Reason = "assertion_failed"
	ReasonSlowResponse               Reason = "slow_response"
	ReasonBaselineChanged            Reason = "baseline_changed"
	ReasonLocationDisagreement       Reason = "location_disagreement"
	ReasonConfigInvalid              Reason = "config_invalid"
	ReasonInternalError              Reason = "internal_error"
)

// ReasonInfo documents one code: where to look, what proves it, what to do.
type ReasonInfo struct {
	Code     Reason
	Layer    Layer
	Warning  bool   // a warning: a finding with it makes a passing step warn
	Proves   string // the evidence that proves it
	NextStep string // what a person should do next
}

// Info returns the table row of a code; an unknown code yields an
// internal_error-shaped row so that output never breaks.
func (r Reason) Info() ReasonInfo {
	if info, ok := reasonIndex[r]; ok {
		return info
	}
	return ReasonInfo{Code: r, Layer: LayerMonitor, NextStep: "This code is not in the reason table: report it as an authwatch bug."}
}

// Layer is a shortcut for r.Info().Layer.
func (r Reason) Layer() Layer { return r.Info().Layer }

// ReasonLayer returns the layer the table gives a code, or "" when the code
// is not in the table: what notify.Deps.ReasonLayer asks for.
func ReasonLayer(code string) string {
	if info, ok := reasonIndex[Reason(code)]; ok {
		return string(info.Layer)
	}
	return ""
}

var reasonIndex = func() map[Reason]ReasonInfo {
	m := make(map[Reason]ReasonInfo, len(ReasonTable))
	for _, info := range ReasonTable {
		m[info.Code] = info
	}
	return m
}()
