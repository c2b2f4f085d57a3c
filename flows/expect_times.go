package flows

import (
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/jwtinspect"
)

// checkTimes checks exp, nbf and iat against this host's clock with the
// flow's skew allowance, and names a clock that is off when iat shows it.
func (st *State) checkTimes(what string, t *jwtinspect.Token, c *TokenChecks) *Failure {
	now, skew := st.Now(), st.Skew()
	// iat is compared with when the token was received: a token from the
	// shared cache is older than this run, and its age is no clock skew.
	received := st.received()
	hint := ""
	if t.IssuedAt != nil {
		if off := t.IssuedAt.Sub(received); absDur(off) > skew {
			hint = "; its iat says the issuer's clock is " + roundDur(absDur(off)).String() + " " + aheadBehind(off) + " this host's"
			st.Finding(ReasonClockSkew, "the %s was issued at %s (iat), %s %s this host's clock: the issuer's clock is off",
				what, t.IssuedAt.UTC().Format(time.RFC3339), roundDur(absDur(off)), aheadBehind(off))
		}
	}
	if t.ExpiresAt != nil && !now.Before(t.ExpiresAt.Add(skew)) {
		return Fail(ReasonTokenExpired, "the %s expired %s ago, at %s, when it was received%s", what,
			roundDur(now.Sub(*t.ExpiresAt)), t.ExpiresAt.UTC().Format(time.RFC3339), hint).
			With(F("exp", t.ExpiresAt.UTC().Format(time.RFC3339)), F("now", now.UTC().Format(time.RFC3339)))
	}
	if t.NotBefore != nil && t.NotBefore.After(now.Add(skew)) {
		return Fail(ReasonTokenNotYetValid, "the %s is not valid before %s (nbf), %s from now%s", what,
			t.NotBefore.UTC().Format(time.RFC3339), roundDur(t.NotBefore.Sub(now)), hint).
			With(F("nbf", t.NotBefore.UTC().Format(time.RFC3339)), F("now", now.UTC().Format(time.RFC3339)))
	}
	if t.IssuedAt != nil && t.IssuedAt.After(received.Add(skew)) {
		return Fail(ReasonTokenNotYetValid, "the %s was issued in the future (iat %s, %s from now)%s", what,
			t.IssuedAt.UTC().Format(time.RFC3339), roundDur(t.IssuedAt.Sub(received)), hint).
			With(F("iat", t.IssuedAt.UTC().Format(time.RFC3339)), F("now", now.UTC().Format(time.RFC3339)))
	}
	if min := c.MinLifetime.Std(); min > 0 && t.ExpiresAt != nil {
		// The lifetime the IdP issued (exp - iat) is what the setting
		// controls; time spent in transit must not make an exact match warn.
		left := t.ExpiresAt.Sub(received)
		if t.IssuedAt != nil {
			left = t.ExpiresAt.Sub(*t.IssuedAt)
		}
		if left < min {
			st.Finding(ReasonTokenLifetimeShort, "the %s is issued for %s, less than the %s expected", what, left.Truncate(time.Second), c.MinLifetime)
		}
	}
	return nil
}

// received is when the token the step checks was received: now, or
// when a token from the shared cache was fetched.
func (st *State) received() time.Time {
	if st.step != nil && !st.step.tokenReceived.IsZero() {
		return st.step.tokenReceived
	}
	return st.Now()
}

// checkLatency fails a step that succeeded too slowly.
func checkLatency(st *State, max conf.Duration) error {
	if max.IsZero() {
		return nil
	}
	if took := st.Now().Sub(st.step.start); took > max.Std() {
		return Fail(ReasonSlowResponse, "the step took %s, more than its max_latency of %s", roundDur(took), max).
			With(F("duration_ms", took.Milliseconds()), F("max_latency", max.String()))
	}
	return nil
}
