// Package jwtinspect decodes a JWT (RFC 7519) to explain a failure, WITHOUT
// verifying or trusting it: signatures are checked elsewhere, through
// go-oidc and go-jose. Nothing decoded here may be used to grant access.
//
// Tokens come from servers we monitor and are hostile: decoding never
// panics, reads at most MaxToken bytes, and never keeps the signature.
package jwtinspect

import "time"

// MaxToken is the longest token inspected, in bytes. Real JWTs are a few
// KiB; browsers and servers refuse headers far shorter than this.
const MaxToken = 64 << 10

// Token is the decoded, unverified header and claims of a JWS-compact JWT.
// The signature is neither returned nor stored.
type Token struct {
	// Header is the JOSE header (RFC 7515 §4); Alg, Kid and Typ are its
	// "alg", "kid" and "typ" when they are strings.
	Header        map[string]any
	Alg, Kid, Typ string

	// Claims is the whole claims set (RFC 7519 §4) as decoded, numbers as
	// json.Number so large values are not rounded. It may hold personal
	// data or embedded credentials: use SafeClaims for evidence.
	Claims map[string]any

	// Issuer, Subject, Nonce and AuthorizedParty are "iss", "sub", "nonce"
	// and "azp" (RFC 7519 §4.1, OIDC Core §2) when they are strings.
	Issuer, Subject, Nonce, AuthorizedParty string
	// ClientID is "client_id" (RFC 9068 §2.2, RFC 8693 §4.3), or the
	// vendor equivalent when that is absent: Okta's "cid", Entra v1's
	// "appid".
	ClientID string

	// Audience is "aud", which RFC 7519 §4.1.3 allows as a string or an
	// array of strings; non-string elements are skipped.
	Audience []string

	// ExpiresAt, NotBefore and IssuedAt are "exp", "nbf" and "iat": a
	// NumericDate (RFC 7519 §2) given as an integer, a fraction or, though
	// non-standard, a numeric string. Nil when absent or not a plausible
	// date (outside years 1 to 9999).
	ExpiresAt, NotBefore, IssuedAt *time.Time

	// Scopes merges "scope" (RFC 9068 §2.2.3, RFC 8693 §4.2: one
	// space-separated string) and "scp" (Okta: an array; Entra: a
	// space-separated string), without duplicates, in order.
	Scopes []string
	// Roles is "roles" (RFC 9068 §2.2.3.1, RFC 7643 §4.1.2; Entra app
	// roles), a string or an array of strings.
	Roles []string
}
