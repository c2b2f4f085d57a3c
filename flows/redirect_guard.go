package flows

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/redact"
)

// Go's client drops Authorization and Cookie on a redirect to another host
// name only: it keeps them across a port or scheme change, and keeps every
// other header (an API key, a header expanded from a secret) everywhere,
// and a 307/308 re-sends the body (client_secret, password) wherever it
// points. The guard sends credentials only to the origin (scheme, host,
// port) they were configured for.

// credentialEndpoint is an endpoint that takes client credentials, and the
// flow field that sets its address.
type credentialEndpoint struct{ name, field string }

var (
	tokenEndpoint               = &credentialEndpoint{"token endpoint", "token_url"}
	deviceAuthorizationEndpoint = &credentialEndpoint{"device authorization endpoint", "device_authorization_url"}
)

// redirectGuard is the CheckRedirect of a step's client.
type redirectGuard struct {
	st   *State
	opts ClientOptions
	max  int
}

func (g *redirectGuard) check(req *http.Request, via []*http.Request) error {
	switch {
	case g.opts.NoRedirects:
		return http.ErrUseLastResponse
	case g.opts.Endpoint != nil:
		return g.opts.Endpoint.refuse(req)
	case len(via) >= g.max:
		return fmt.Errorf("%w after %d requests", errTooManyRedirects, len(via))
	}
	first := via[0].URL
	if sameOrigin(first, req.URL) {
		return nil
	}
	if f := g.refuseSecretBody(req, via[len(via)-1]); f != nil {
		return f
	}
	if dropped := g.stripCredentials(req, via[0]); len(dropped) > 0 {
		g.st.Note("a redirect from %s to %s changed the origin: %s not sent on (authwatch sends credentials only to the scheme, host and port they were configured for)",
			origin(via[len(via)-1].URL), origin(req.URL), strings.Join(dropped, ", "))
	}
	return nil
}

// refuse is the failure of a redirect from a credential endpoint.
func (e *credentialEndpoint) refuse(req *http.Request) error {
	status := req.Response.StatusCode
	f := Fail(ReasonIdPError, "the %s answered %d to %s: authwatch never follows a redirect from a %s, which would re-send client credentials; point %s at the final address",
		e.name, status, redactURL(req.URL.String()), e.name, e.field)
	f.Next = fmt.Sprintf("The %s moved, or a proxy in front of it redirects (http to https, a trailing slash, a new host). Check that the address the redirect names belongs to the IdP, then set %s to it (or fix the discovery document's endpoint).",
		e.name, e.field)
	return f.With(F("status", status), F("location", redactURL(req.URL.String())), F("field", e.field))
}

// refuseSecretBody stops a 307/308 that would re-send a body holding a
// secret to another origin.
func (g *redirectGuard) refuseSecretBody(req, prev *http.Request) *Failure {
	if req.GetBody == nil || req.ContentLength == 0 {
		return nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil
	}
	defer body.Close()
	b, _ := io.ReadAll(io.LimitReader(body, MaxBodySize))
	if !g.st.Secrets.Contains(string(b)) {
		return nil
	}
	return secretBodyRedirect(prev.Method, prev.URL, req.Response.StatusCode, req.URL)
}

func secretBodyRedirect(method string, from *url.URL, status int, to *url.URL) *Failure {
	f := Fail(ReasonRedirectDroppedCredentials, "%s %s answered %d to %s: following it would re-send the request body, which holds a secret, to another origin (%s), so authwatch did not",
		method, redactURL(from.String()), status, redactURL(to.String()), originChange(from, to))
	f.Next = fmt.Sprintf("A 307/308 repeats the request, body included, at the new address. Find out why %s redirects to %s: if that origin is meant to get the credentials, point the flow at it directly.",
		origin(from), origin(to))
	return f.With(F("status", status), F("redirect_from", redactURL(from.String())), F("redirect_to", redactURL(to.String())))
}

// stripCredentials removes from a redirect to another origin every header
// that carries credentials, and returns the names the original request
// carried that are therefore not sent on (Go itself already dropped
// Authorization and Cookie on a host change). Cookies the jar adds for the
// new origin are its own, added after this.
func (g *redirectGuard) stripCredentials(req, first *http.Request) []string {
	var dropped []string
	drop := func(name string) {
		req.Header.Del(name)
		if !slices.Contains(dropped, http.CanonicalHeaderKey(name)) {
			dropped = append(dropped, http.CanonicalHeaderKey(name))
		}
	}
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		if first.Header.Get(name) != "" {
			drop(name)
		}
	}
	for _, name := range g.opts.SecretHeaders {
		// The step set it (the first request's Cookie also holds the jar's).
		if first.Header.Get(name) != "" {
			drop(name)
		}
	}
	for name, values := range req.Header {
		if redact.SensitiveHeader(name) || g.st.Secrets.Contains(strings.Join(values, "\n")) {
			drop(name)
		}
	}
	slices.Sort(dropped)
	return dropped
}

// sameOrigin compares scheme, host and port (RFC 6454), an explicit
// default port being the same as none.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

// origin is scheme://host[:port] of a URL, nothing of its path or query.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// originChange says what differs between two origins.
func originChange(a, b *url.URL) string {
	switch {
	case !strings.EqualFold(a.Hostname(), b.Hostname()):
		return "another host"
	case !strings.EqualFold(a.Scheme, b.Scheme):
		return "from " + a.Scheme + " to " + b.Scheme
	default:
		return "another port"
	}
}
