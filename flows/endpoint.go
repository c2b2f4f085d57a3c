package flows

import (
	"github.com/authwatch/authwatch/internal/conf"
)

// Endpoint fields (issuer, token_url, jwks_url, authorization_url,
// device_authorization_url, and the url of http, preflight and form_login)
// are templates: a flow can take them from an earlier step, such as a
// discovery step's token_endpoint, or from the environment. A literal is
// checked at load; a template's value is checked when the run resolves it.
//
// Where credentials go is decided by the resolved value exactly as by a
// literal one: the client secret goes to the token endpoint the flow names,
// and a redirect from it is never followed (redirect_guard.go). A value from
// a discovery step is trusted as issuer: trusts discovery's: the document
// comes from the issuer's own origin.

// validateEndpoint checks an endpoint field at load: a literal must be an
// absolute http(s) URL (an issuer also without query or fragment).
func validateEndpoint(path string, t conf.Template, issuer bool) error {
	if t.IsZero() || t.LoadErr() != nil || len(t.Refs()) > 0 {
		return nil // unset, already reported, or checked when resolved
	}
	check := func(v string) error { return validateHTTPURL(v, false) }
	if issuer {
		check = validateIssuer
	}
	if err := check(t.String()); err != nil {
		return conf.FieldError{Path: path, Err: err}
	}
	return nil
}

// expandEndpoint resolves an endpoint field for one run: "" when unset. A
// value that a template produced is checked as a literal is at load.
func expandEndpoint(st *State, field string, t conf.Template, issuer bool) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	v, err := st.Expand(t)
	if err != nil {
		return "", err
	}
	if len(t.Refs()) == 0 {
		return v, nil
	}
	check := func(v string) error { return validateHTTPURL(v, true) }
	if issuer {
		check = validateIssuer
	}
	if err := check(v); err != nil {
		return "", Fail(ReasonConfigInvalid, "%s %s resolved to a value that is not usable: %v", field, t, err).With(F("field", field))
	}
	return v, nil
}
