// Package oautherr reads OAuth 2.0 error responses: the token endpoint's
// JSON body of RFC 6749 §5.2, the authorization redirect's query of RFC 6749
// §4.1.2.1, and the shapes real identity providers send instead (GitHub's
// form-encoded body, Google and Azure's nested {"error":{...}}, Okta's
// errorCode/errorSummary, Entra's extra identifiers).
//
// Bodies come from servers we monitor and are hostile: parsing never panics,
// reads at most MaxBody bytes, and every string it returns is valid UTF-8
// without control characters and cut to a fixed length, so it can go into
// logs and notifications as it is.
package oautherr

// Limits on what is read and echoed.
const (
	MaxBody        = 64 << 10 // bytes of body read; a longer JSON body fails to parse
	MaxDescription = 500      // characters of Description and URI
	MaxCode        = 200      // characters of Code
	MaxExtra       = 200      // characters of each Extra value
)

// Error is an OAuth error response (RFC 6749 §5.2 and §4.1.2.1).
// It implements error so that callers can wrap and return it.
type Error struct {
	// Code is the "error" value (RFC 6749 §5.2), e.g. "invalid_client"; for
	// vendor shapes, the closest equivalent (Okta's errorCode "E0000011",
	// Azure's error.code, Google's error.status).
	Code string
	// Description is "error_description" (or the vendor's message), at most
	// MaxDescription characters.
	Description string
	// URI is "error_uri" (RFC 6749 §5.2), unchecked: it is evidence, never
	// fetched.
	URI string
	// Extra holds the vendor identifiers that support desks ask for, keyed
	// as sent: Okta errorId, Entra trace_id, correlation_id and error_codes,
	// Microsoft Graph request-id, and so on. Only names on an allow list
	// are kept, so a body can never smuggle a token into evidence through
	// it. Nil when there are none.
	Extra map[string]string
}

// Error implements error: "code: description".
func (e Error) Error() string {
	if e.Description == "" {
		return "oauth2: " + e.Code
	}
	return "oauth2: " + e.Code + ": " + e.Description
}

// extraKeys lists the vendor fields kept in Error.Extra: identifiers that
// let a support desk find the failed request, and sub-codes that refine
// the error. Anything else is ignored. "code" must never be on this list: on
// a redirect it is the authorization code (RFC 6749 §4.1.2).
var extraKeys = []string{
	"error_codes", "trace_id", "correlation_id", "timestamp", "suberror", "error_subcode", // Entra ID
	"errorId", "errorLink", "errorCode", // Okta (errorCode too for Auth0's management API)
	"statusCode",                              // Auth0
	"request-id", "client-request-id", "date", // Microsoft Graph innerError
	"request_id", "requestId", "traceId", "error_id", // common elsewhere
}

// nestedKeys are kept only from inside a nested {"error":{...}} object,
// where "code" is Google's HTTP status number or Azure's error name.
var nestedKeys = []string{"status", "code"}
