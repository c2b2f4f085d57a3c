package loginpage

import (
	"regexp"
	"strings"
)

// Verdict is what a page shown instead of a redirect says about a login.
type Verdict int

// Verdicts, from nothing recognised to a second factor asked for.
const (
	None     Verdict = iota // nothing recognised
	Rejected                // the credentials were refused
	Locked                  // the account is locked, disabled or blocked
	MFA                     // the IdP asks for a second factor
)

// String returns the reason code for v: "", "login_rejected",
// "account_locked" or "mfa_required".
func (v Verdict) String() string {
	switch v {
	case Rejected:
		return "login_rejected"
	case Locked:
		return "account_locked"
	case MFA:
		return "mfa_required"
	}
	return ""
}

// Patterns are the wordings Judge recognises, per verdict.
type Patterns struct {
	Rejected, Locked, MFA []*regexp.Regexp
}

// Default wordings, case-insensitive. Sources: Keycloak's messages_en,
// Okta's sign-in widget, Entra ID's AADSTS codes and login page, Auth0's
// Universal Login, zitadel's example OP, and testdata/oidc-provider.
var (
	defaultRejected = compile(
		`invalid (username|user name|email|e-mail|login|user ?id)( address)? or password`,   // Keycloak, oidc-provider
		`(username|user name|email|login) or password (is |was )?(wrong|incorrect|invalid)`, // zitadel example
		`wrong (username|user name|email|e-mail|login) or password`,                         // Auth0
		`(account|username|user name|email|user ?id) or password (is|was) incorrect`,        // Entra ID
		`incorrect (username|user name|email|password|credentials)`,
		`(password|credentials) (is|are|was|were) (incorrect|wrong|invalid)`,
		`wrong password`,
		`invalid (credentials|password|login)`,
		`unable to sign ?in`, // Okta
		`(login|log ?in|sign[- ]?in) (failed|unsuccessful)`,
		`authentication failed`,
		`invalid authenticator code`, // Keycloak, a wrong TOTP
		`invalid (verification |one-time |otp |security |authentication )?code`,
		`AADSTS50126`, // invalid username or password
		`AADSTS50034`, // user account does not exist
	)
	defaultLocked = compile(
		`account (is |has been |was )?(now |temporarily |permanently )?(locked|disabled|suspended|deactivated|blocked)`, // Keycloak, Okta, Auth0, oidc-provider
		`user (is |has been )?(blocked|locked|disabled|suspended)`,                                                      // Auth0
		`locked out`,
		`too many (failed |unsuccessful |invalid )?(login |log ?in |sign[- ]?in )?attempts`,
		`AADSTS50053`, // locked
		`AADSTS50057`, // disabled
	)
	defaultMFA = compile(
		`two[- ]?(step|factor)`,
		`\b2[- ]?(step|factor|fa)\b`,
		`multi[- ]?factor`,
		`\bmfa\b`,
		`one[- ]?time (pass)?code`,
		`one[- ]?time password`,
		`authenticator app`,
		`security code`,
		`verification code`,
		`verify with`, // Okta
		`enter (a |the |your )?code`,
		`verify your identity`,        // Auth0
		`approve sign[- ]?in request`, // Entra ID
		`AADSTS5007[469]`,             // strong authentication required
		// A required password change is an extra interaction too.
		`password (has )?expired`,
		`(must|need to) (change|update) (your )?password`, // Keycloak's "Update password"
		`AADSTS50055`, // password expired
	)
)

func compile(exprs ...string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(exprs))
	for i, e := range exprs {
		out[i] = regexp.MustCompile(`(?i)` + e)
	}
	return out
}

// DefaultPatterns returns the built-in wordings of common IdPs. The slices
// are fresh, so a caller may append its own.
func DefaultPatterns() Patterns {
	return Patterns{
		Rejected: append([]*regexp.Regexp(nil), defaultRejected...),
		Locked:   append([]*regexp.Regexp(nil), defaultLocked...),
		MFA:      append([]*regexp.Regexp(nil), defaultMFA...),
	}
}

// Judge reads a page the IdP showed instead of redirecting, and says what
// it means, with the text that proves it. It reads the page's messages
// first (lockout before rejection, since lockout texts often also say
// "invalid"), then a form that asks for a one-time code and no password,
// then the title and body text. A wrong one-time code on an OTP page is
// Rejected: its message is read before the form.
func (p Patterns) Judge(page *Page) (Verdict, string) {
	if page == nil {
		return None, ""
	}
	if v, ev := p.scan(page.Messages, false); v != None {
		return v, ev
	}
	for _, f := range page.Forms {
		if f.OTPField() != nil && f.PasswordField() == nil {
			return MFA, "form asks for a one-time code: " + f.Describe()
		}
	}
	return p.scan([]string{page.Title, page.Text}, true)
}

// JudgeMessage says what one message means (an element the flow names as
// the page's error), in the order Judge reads messages: lockout, then
// rejection, then a second factor.
func (p Patterns) JudgeMessage(text string) Verdict {
	v, _ := p.scan([]string{text}, false)
	return v
}

// scan checks texts for each verdict in turn. For long texts the evidence
// is the part around the match.
func (p Patterns) scan(texts []string, excerpt bool) (Verdict, string) {
	for _, set := range []struct {
		v   Verdict
		res []*regexp.Regexp
	}{{Locked, p.Locked}, {Rejected, p.Rejected}, {MFA, p.MFA}} {
		for _, t := range texts {
			for _, re := range set.res {
				if re == nil {
					continue
				}
				loc := re.FindStringIndex(t)
				if loc == nil {
					continue
				}
				if excerpt {
					return set.v, around(t, loc[0], loc[1])
				}
				return set.v, t
			}
		}
	}
	return None, ""
}

// around returns the sentence-ish part of t around t[i:j], at most about
// 200 bytes, cut on word boundaries.
func around(t string, i, j int) string {
	const pad = 80
	start, end := max(0, i-pad), min(len(t), j+pad)
	if start > 0 {
		if k := strings.IndexByte(t[start:i], ' '); k >= 0 {
			start += k + 1
		}
	}
	if end < len(t) {
		if k := strings.LastIndexByte(t[j:end], ' '); k >= 0 {
			end = j + k
		}
	}
	return strings.ToValidUTF8(t[start:end], "")
}
