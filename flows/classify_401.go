package flows

import (
	"strings"

	"github.com/authwatch/authwatch/internal/challenge"
	"github.com/authwatch/authwatch/internal/jwtinspect"
)

// classify401 explains a 401 (RFC 9110 §15.5.2, RFC 6750 §3).
func classify401(st *State, a *answer) *Failure {
	values := a.resp.Header.Values("WWW-Authenticate")
	chs, _ := challenge.Parse(values)
	if f := classifyDPoPChallenge(st, a, chs); f != nil {
		return f
	}
	bearer, hasBearer := challenge.Find(chs, "Bearer")
	// What the token itself proves (expired, an ID token, a foreign
	// audience) beats what a challenge lacks.
	if f := explainTokenByEvidence(st, a, bearer.Param("error_description")); f != nil && bearer.Param("error") != "insufficient_scope" {
		return f
	}
	if len(values) == 0 {
		return Fail(ReasonWWWAuthenticateMissing, "%s answered 401 without a WWW-Authenticate header (RFC 9110 requires one), so it does not say why%s",
			hostOf(a), credNote(a))
	}
	switch bearer.Param("error") {
	case "invalid_token":
		return explainInvalidToken(st, a, bearer)
	case "insufficient_scope":
		return Fail(ReasonInsufficientScope, "%s refused the token for insufficient scope; it wants %s", hostOf(a), fmtScope(bearer.Param("scope"))).
			With(F("scope", bearer.Param("scope")), F("error_description", bearer.Param("error_description")))
	case "":
	default:
		return Fail(ReasonUnauthorized, "%s answered 401 with error=%q: %s", hostOf(a), bearer.Param("error"), describeParam(bearer))
	}
	if a.cred.kind == "basic" && !offers(chs, "Basic") {
		return Fail(ReasonUnauthorized, "%s accepts %s, and the step sent basic credentials: RFC 6750 §3.1 sends no error code for an unsupported scheme", hostOf(a), schemes(chs))
	}
	if hasBearer && a.cred.kind != "" {
		return Fail(ReasonAuthorizationHeaderDropped, "the request carried %s credentials, yet the 401's Bearer challenge has no error code, which RFC 6750 §3.1 reserves for requests without credentials: "+
			"a proxy, CDN or WAF in between probably dropped the Authorization header. This is an inference: an API that never sends error codes looks the same", a.cred.kind).
			With(F("challenge", bearer.String()))
	}
	if a.cred.kind == "" {
		return Fail(ReasonUnauthorized, "%s requires authentication (challenge: %s) and the step sent no credentials", hostOf(a), truncate(strings.Join(values, ", "), 120))
	}
	return Fail(ReasonUnauthorized, "%s answered 401 to %s credentials (challenge: %s)", hostOf(a), a.cred.kind, truncate(strings.Join(values, ", "), 120))
}

func credNote(a *answer) string {
	if a.cred.kind == "" {
		return "; the step sent no credentials"
	}
	return ""
}

func describeParam(c challenge.Challenge) string {
	if d := c.Param("error_description"); d != "" {
		return quote(d)
	}
	return "no description"
}

// classify403 explains a 403: insufficient scope, a refused token, or a
// caller that is known but not allowed.
func classify403(st *State, a *answer) *Failure {
	chs, _ := challenge.Parse(a.resp.Header.Values("WWW-Authenticate"))
	bearer, _ := challenge.Find(chs, "Bearer")
	switch bearer.Param("error") {
	case "insufficient_scope":
		f := Fail(ReasonInsufficientScope, "%s refused the token for insufficient scope; it wants %s", hostOf(a), fmtScope(bearer.Param("scope"))).
			With(F("scope", bearer.Param("scope")))
		if t := inspectBearer(a.cred.bearer); t != nil {
			f.Summary += "; the token grants " + quoteList(append(t.Scopes, t.Roles...))
		}
		return f
	case "invalid_token":
		return explainInvalidToken(st, a, bearer)
	}
	return Fail(ReasonForbidden, "%s answered 403: the caller is authenticated but not allowed%s", hostOf(a), bodyHint(a))
}

// bodyHint quotes a short error message from the body, if there is one.
func bodyHint(a *answer) string {
	doc, err := a.json()
	m, ok := doc.(map[string]any)
	if err != nil || !ok {
		return ""
	}
	for _, k := range []string{"error_description", "message", "error", "detail", "title"} {
		if s, ok := m[k].(string); ok && s != "" {
			return ` ("` + truncate(s, 160) + `")`
		}
	}
	return ""
}

// inspectBearer decodes a bearer token that is a JWT, or returns nil.
// (Parse accepts only what LooksLikeJWT accepts: no need to ask it first.)
func inspectBearer(raw string) *jwtinspect.Token {
	if raw == "" {
		return nil
	}
	t, err := jwtinspect.Parse(raw)
	if err != nil {
		return nil
	}
	return t
}

func offers(chs []challenge.Challenge, scheme string) bool {
	_, ok := challenge.Find(chs, scheme)
	return ok
}

func schemes(chs []challenge.Challenge) string {
	var names []string
	for _, c := range chs {
		names = append(names, c.Scheme)
	}
	return strings.Join(names, ", ")
}
