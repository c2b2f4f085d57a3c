package flows

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/authwatch/authwatch/internal/challenge"
	"github.com/authwatch/authwatch/internal/exchange"
)

// classifyStatus explains an answer whose status differs from the
// expected one, from the most specific evidence to the most general.
func classifyStatus(st *State, a *answer, expected []int) error {
	status := a.resp.StatusCode
	f := classifyStatusReason(st, a, expected)
	f.With(F("status", status), F("expected_status", statusText(expected)))
	if c := a.resp.Header.Values("WWW-Authenticate"); len(c) > 0 {
		f.With(F("www_authenticate", truncate(strings.Join(c, ", "), 300)))
	}
	if a.cred.bearer != "" {
		if t := inspectBearer(a.cred.bearer); t != nil {
			f.Evidence.Token = tokenEvidence(a.cred.bearer, t)
		}
	}
	return f
}

func classifyStatusReason(st *State, a *answer, expected []int) *Failure {
	status := a.resp.StatusCode
	hops := st.Recorder().Exchanges()
	switch {
	case isNegativeCheck(expected) && status >= 200 && status < 300:
		return Fail(ReasonAuthNotEnforced, "%s %s answered %d to a request that must be refused (expected %s): authentication is not enforced",
			a.resp.Request.Method, a.resp.Request.URL.Redacted(), status, statusText(expected))
	case status == http.StatusTooManyRequests || ((status == 401 || status == 403) && a.resp.Header.Get("Retry-After") != ""):
		return rateLimited(a.resp, st.Now(), hostOf(a))
	}
	if f := redirectDroppedCredentials(a, hops); f != nil {
		return f
	}
	if f := redirectedToLogin(a, hops); f != nil {
		return f
	}
	switch {
	case status == http.StatusUnauthorized:
		return classify401(st, a)
	case status == http.StatusForbidden:
		return classify403(st, a)
	case status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return Fail(ReasonServerError, "%s answered %d %s: the gateway in front of the API could not get an answer from it%s", hostOf(a), status, http.StatusText(status), serverHeader(a))
	case status >= 500:
		return Fail(ReasonServerError, "%s answered %d %s%s", hostOf(a), status, http.StatusText(status), serverHeader(a))
	}
	return Fail(ReasonUnexpectedStatus, "%s answered %d %s, expected %s", hostOf(a), status, http.StatusText(status), statusText(expected))
}

// isNegativeCheck: every expected status is a refusal.
func isNegativeCheck(expected []int) bool {
	if len(expected) == 0 {
		return false
	}
	for _, c := range expected {
		if c != 401 && c != 403 {
			return false
		}
	}
	return true
}

// redirectDroppedCredentials: the first request carried credentials
// (Authorization, or a header the step marked as one), a redirect left its
// origin (scheme, host or port), and the final request carried none of
// them. Go drops Authorization on a host change and authwatch drops every
// credential on any origin change (see redirectGuard), so the final
// request's headers are the evidence, not the hop.
func redirectDroppedCredentials(a *answer, hops []*exchange.Exchange) *Failure {
	if len(hops) < 2 {
		return nil
	}
	first, last := hops[0], hops[len(hops)-1]
	var dropped []string
	for _, name := range a.cred.names() {
		if first.RequestHeader.Get(name) != "" && last.RequestHeader.Get(name) == "" {
			dropped = append(dropped, name)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	if a.resp.StatusCode != 401 && a.resp.StatusCode != 403 && !looksLikeLogin(last.URL) {
		return nil
	}
	for i := 1; i < len(hops); i++ {
		prev, cur := hops[i-1].URL, hops[i].URL
		if !sameOrigin(first.URL, cur) {
			return Fail(ReasonRedirectDroppedCredentials, "a redirect from %s to %s crossed %s, so the final request carried no %s and got %d",
				hopText(prev), hopText(cur), crossing(prev, cur), strings.Join(dropped, ", "), a.resp.StatusCode).
				With(F("redirect_from", prev.Redacted()), F("redirect_to", cur.Redacted()), F("hops", len(hops)),
					F("not_sent", strings.Join(dropped, ", ")))
		}
	}
	return nil
}

// names are the request headers that carried the credential.
func (c credential) names() []string {
	var out []string
	if c.kind != "" {
		out = append(out, "Authorization")
	}
	for _, h := range c.headers {
		if h != "Authorization" {
			out = append(out, h)
		}
	}
	return out
}

func crossing(a, b *url.URL) string {
	if c := originChange(a, b); c != "another host" && c != "another port" {
		return c
	}
	return "to " + originChange(a, b)
}

func hopText(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

var loginPath = regexp.MustCompile(`(?i)/(login|log-in|signin|sign-in|sign_in|auth/realms/[^/]+/protocol/openid-connect/auth|oauth2?/(v[0-9.]+/)?authorize|authorize|sso|saml)(/|$|\?|\.)`)

func looksLikeLogin(u *url.URL) bool { return u != nil && loginPath.MatchString(u.Path) }

// redirectedToLogin: the API answered (or ended) with a redirect to a login
// page instead of the resource.
func redirectedToLogin(a *answer, hops []*exchange.Exchange) *Failure {
	if loc := a.resp.Header.Get("Location"); a.resp.StatusCode >= 300 && a.resp.StatusCode < 400 && loc != "" {
		if u, err := a.resp.Request.URL.Parse(loc); err == nil && looksLikeLogin(u) {
			return Fail(ReasonRedirectedToLogin, "%s answered %d with a redirect to the login page %s instead of the resource",
				hostOf(a), a.resp.StatusCode, hopText(u)).With(F("location", u.Redacted()))
		}
	}
	if len(hops) > 1 && looksLikeLogin(hops[len(hops)-1].URL) && !looksLikeLogin(hops[0].URL) {
		final := hops[len(hops)-1].URL
		return Fail(ReasonRedirectedToLogin, "%s redirected to the login page %s instead of answering with the resource",
			hops[0].URL.Host, hopText(final)).With(F("final_url", final.Redacted()), F("hops", len(hops)))
	}
	return nil
}

func hostOf(a *answer) string {
	return a.resp.Request.Method + " " + a.resp.Request.URL.Redacted()
}

func statusText(codes []int) string {
	if len(codes) == 0 {
		return "2xx"
	}
	return StatusList{codes: codes}.String()
}

// checkChallenge checks that a refusal offers the expected auth scheme.
func checkChallenge(a *answer, scheme string) error {
	values := a.resp.Header.Values("WWW-Authenticate")
	if len(values) == 0 {
		return Fail(ReasonWWWAuthenticateMissing, "%s answered %d without a WWW-Authenticate header; expected a %s challenge (RFC 9110 §11.6.1)",
			hostOf(a), a.resp.StatusCode, scheme)
	}
	chs, _ := challenge.Parse(values)
	if _, ok := challenge.Find(chs, scheme); !ok {
		return Fail(ReasonAssertionFailed, "WWW-Authenticate offers %s, expected a %s challenge", truncate(strings.Join(values, ", "), 200), scheme).
			With(F("www_authenticate", truncate(strings.Join(values, ", "), 300)))
	}
	return nil
}

func fmtScope(s string) string {
	if s == "" {
		return "a scope it does not name"
	}
	return fmt.Sprintf("%q", s)
}

// serverHeader names the software that answered, when it says (a gateway's
// 5xx and the API's look alike otherwise).
func serverHeader(a *answer) string {
	if v := a.resp.Header.Get("Server"); v != "" {
		return " (Server: " + truncate(v, 60) + ")"
	}
	return ""
}
