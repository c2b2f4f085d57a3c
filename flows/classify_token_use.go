package flows

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/challenge"
	"github.com/authwatch/authwatch/internal/jwtinspect"
)

// explainInvalidToken explains error="invalid_token": first from the token
// itself and the clocks, then from the API's own words, else as is.
func explainInvalidToken(st *State, a *answer, bearer challenge.Challenge) *Failure {
	desc := bearer.Param("error_description")
	if f := explainTokenByEvidence(st, a, desc); f != nil {
		return f
	}
	if f := explainByDescription(a, desc); f != nil {
		return f
	}
	return Fail(ReasonInvalidToken, "%s refused the token as invalid_token: %s", hostOf(a), quoteOr(desc, "no error_description")).
		With(F("error_description", desc))
}

// explainTokenByEvidence reads the bearer token we sent: an ID token, an
// expired or not-yet-valid token, a clock that is off, or an audience the
// API does not accept.
func explainTokenByEvidence(st *State, a *answer, desc string) *Failure {
	t := inspectBearer(a.cred.bearer)
	if t == nil {
		return nil
	}
	said := ""
	if desc != "" {
		said = "; the API says: " + quote(desc)
	}
	if kind, why := t.Kind(); kind == "id" {
		return Fail(ReasonIDTokenUsedAsAccessToken, "the bearer credential is an ID token (%s), not an access token, and the API refused it%s", why, said)
	}
	now, skew := st.Now(), st.Skew()
	if t.ExpiresAt != nil && !now.Before(t.ExpiresAt.Add(skew)) {
		return Fail(ReasonTokenExpired, "the access token expired %s ago, at %s%s", roundDur(now.Sub(*t.ExpiresAt)), t.ExpiresAt.UTC().Format(time.RFC3339), said).
			With(F("exp", t.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if t.NotBefore != nil && t.NotBefore.After(now.Add(skew)) {
		return Fail(ReasonTokenNotYetValid, "the access token is not valid before %s (nbf), %s from now%s", t.NotBefore.UTC().Format(time.RFC3339), roundDur(t.NotBefore.Sub(now)), said)
	}
	if off, ok := clockOffsetOf(st); ok && t.ExpiresAt != nil && absDur(off) > skew {
		apiNow := now.Add(off)
		if !apiNow.Before(*t.ExpiresAt) || (t.NotBefore != nil && t.NotBefore.After(apiNow)) || (t.IssuedAt != nil && t.IssuedAt.After(apiNow.Add(skew))) {
			return Fail(ReasonClockSkew, "the API's clock is %s %s this host's (its Date header), so by its clock the token is outside its validity (exp %s)%s",
				roundDur(absDur(off)), aheadBehind(off), t.ExpiresAt.UTC().Format(time.RFC3339), said).With(F("clock_offset_seconds", int(off.Seconds())))
		}
	}
	if a.audience != "" && !slices.Contains(t.Audience, a.audience) {
		return Fail(ReasonAudienceMismatch, "the access token's aud is %s, the API expects %s%s", quoteList(t.Audience), a.audience, said).
			With(F("aud", strings.Join(t.Audience, " ")), F("expected_audience", a.audience))
	}
	return nil
}

// clockOffsetOf is the last answer's Date header offset from our clock.
func clockOffsetOf(st *State) (time.Duration, bool) {
	if ex := st.lastExchange(); ex != nil {
		return clockOffset(ex)
	}
	return 0, false
}

var (
	descAudience  = regexp.MustCompile(`(?i)\baud(ience)?\b`)
	descKid       = regexp.MustCompile(`(?i)unknown (kid|key)|(kid|key)( id)?\b[^.;]{0,40}\b(not found|unknown|not (present|published|in))|no (matching|suitable) key|key (was )?not found`)
	descSignature = regexp.MustCompile(`(?i)signature`)
	descIssuer    = regexp.MustCompile(`(?i)\biss(uer)?\b`)
	descExpired   = regexp.MustCompile(`(?i)expired|\bexp\b`)
	descScope     = regexp.MustCompile(`(?i)\bscopes?\b`)
)

// explainByDescription classifies by the API's error_description. It is the
// API's own statement, so it is evidence, but it says what, not why.
func explainByDescription(a *answer, desc string) *Failure {
	if desc == "" {
		return nil
	}
	t := inspectBearer(a.cred.bearer)
	api := "the API says: " + quote(desc)
	switch {
	case descKid.MatchString(desc):
		return Fail(ReasonSigningKeyNotFound, "the API cannot find the key the token was signed with; %s%s", api, kidNote(t))
	case descSignature.MatchString(desc):
		return Fail(ReasonSignatureInvalid, "the API could not verify the token's signature; %s%s (an unknown kid can read the same: compare the kid with the API's JWKS)", api, kidNote(t))
	case descAudience.MatchString(desc):
		aud := "unknown (opaque token)"
		if t != nil {
			aud = quoteList(t.Audience)
		}
		return Fail(ReasonAudienceMismatch, "the API refused the token's audience (aud %s); %s", aud, api)
	case descIssuer.MatchString(desc):
		iss := "unknown"
		if t != nil {
			iss = quote(t.Issuer)
		}
		return Fail(ReasonIssuerMismatch, "the API refused the token's issuer (iss %s); %s", iss, api)
	case descExpired.MatchString(desc):
		return Fail(ReasonTokenExpired, "the API says the token expired, though by this host's clock it has not: compare the API's clock; %s", api)
	case descScope.MatchString(desc):
		return Fail(ReasonInsufficientScope, "the API refused the token's scopes; %s", api)
	}
	return nil
}

func kidNote(t *jwtinspect.Token) string {
	if t == nil || t.Kid == "" {
		return ""
	}
	return " (the token's kid is " + quote(t.Kid) + ", alg " + t.Alg + ")"
}

// quote quotes target text (an error_description, a kid) for a summary, Go
// style: quotes, control characters and invalid UTF-8 (a Latin-1
// description) are escaped, so that what a target sends can neither forge a
// line nor reach a store or receiver as bytes it refuses.
func quote(s string) string { return strconv.Quote(truncate(s, 200)) }

func quoteOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return quote(s)
}
