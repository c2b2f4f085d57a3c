package loginpage

import (
	"regexp"
	"strings"
	"testing"
)

// TestJudgeWordings checks the default patterns against the wording of
// common IdPs, shown as an alert.
func TestJudgeWordings(t *testing.T) {
	tests := []struct {
		idp, text string
		want      Verdict
	}{
		{"keycloak", "Invalid username or password.", Rejected},
		{"keycloak", "Account is disabled, contact your administrator.", Locked},
		{"keycloak", "Account is temporarily disabled; contact your administrator or retry later.", Locked},
		{"keycloak", "Invalid authenticator code.", Rejected},
		{"okta", "Unable to sign in", Rejected},
		{"okta", "Your account is locked. Please contact your administrator.", Locked},
		{"okta", "Verify with Google Authenticator", MFA},
		{"okta", "Enter a code", MFA},
		{"entra", "Your account or password is incorrect. If you don't remember your password, reset it now.", Rejected},
		{"entra", "AADSTS50126: Error validating credentials due to invalid username or password.", Rejected},
		{"entra", "AADSTS50053: The account is locked because the user tried to sign in too many times with an incorrect user ID or password.", Locked},
		{"entra", "AADSTS50057: The user account is disabled.", Locked},
		{"entra", "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.", MFA},
		{"entra", "AADSTS50079: Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.", MFA},
		{"entra", "Approve sign in request", MFA},
		{"entra", "Enter code", MFA},
		{"auth0", "Wrong email or password", Rejected},
		{"auth0", "Wrong username or password", Rejected},
		{"auth0", "Your account has been blocked after multiple consecutive login attempts.", Locked},
		{"auth0", "user is blocked", Locked},
		{"auth0", "Verify Your Identity", MFA},
		{"zitadel", "username or password wrong", Rejected},
		{"oidc-provider", "Invalid username or password", Rejected},
		{"oidc-provider", "Account locked. Contact your administrator.", Locked},
		{"oidc-provider", "Two-step verification", MFA},
		{"oidc-provider", "Enter the one-time code from your authenticator app.", MFA},
		{"generic", "Incorrect password", Rejected},
		{"generic", "Invalid credentials", Rejected},
		{"generic", "Login failed", Rejected},
		{"generic", "Authentication failed.", Rejected},
		{"generic", "Your account is suspended", Locked},
		{"generic", "Account deactivated", Locked},
		{"generic", "Too many failed login attempts. Try again later.", Locked},
		{"generic", "Too many attempts", Locked},
		{"generic", "Two-factor authentication", MFA},
		{"generic", "2-step verification", MFA},
		{"generic", "Multi-factor authentication required", MFA},
		{"generic", "Enter your one-time passcode", MFA},
		{"generic", "Open your authenticator app", MFA},
		{"generic", "Enter the security code we sent you", MFA},
		{"generic", "Welcome back", None},
		{"generic", "Forgot your password?", None},
	}
	pats := DefaultPatterns()
	for _, tt := range tests {
		t.Run(tt.idp+"/"+tt.text, func(t *testing.T) {
			p := parse(t, `<div role=alert>`+tt.text+`</div>`)
			v, ev := pats.Judge(p)
			want := ""
			if tt.want != None {
				want = tt.text
			}
			if v != tt.want || ev != want {
				t.Errorf("Judge = %v, %q; want %v, %q", v, ev, tt.want, want)
			}
		})
	}
}

func TestJudgeOrder(t *testing.T) {
	tests := []struct {
		name, html string
		want       Verdict
		evidence   string
	}{
		{
			"locked before rejected across messages",
			`<p role=alert>Invalid username or password</p><p role=alert>Account locked</p>`,
			Locked, "Account locked",
		},
		{
			"message before text",
			`<p>Your account is locked? Contact us.</p><p role=alert>Invalid credentials</p>`,
			Rejected, "Invalid credentials",
		},
		{
			"otp form without password",
			`<form id=f action=/mfa><input name=code></form>`,
			MFA, "form asks for a one-time code: form#f (GET /mfa; fields code)",
		},
		{
			"otp and password is not mfa",
			`<form action=/l><input name=user><input type=password name=pw><input name=otp></form>`,
			None, "",
		},
		{
			"title",
			`<title>Account locked</title><p>Contact support.</p>`,
			Locked, "Account locked",
		},
		{
			"text excerpt",
			`<h1>Welcome</h1><p>` + strings.Repeat("filler ", 40) + `Sign-in failed because of reasons. ` + strings.Repeat("more ", 40) + `</p>`,
			Rejected, strings.Repeat("filler ", 11) + "Sign-in failed because of reasons." + strings.Repeat(" more", 11),
		},
		{
			"hidden error template is not shown",
			`<div class="error hidden">Your account is locked</div><form><input name=u><input type=password name=p></form>`,
			None, "",
		},
	}
	pats := DefaultPatterns()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ev := pats.Judge(parse(t, tt.html))
			if v != tt.want || ev != tt.evidence {
				t.Errorf("Judge = %v, %q; want %v, %q", v, ev, tt.want, tt.evidence)
			}
		})
	}
}

func TestPatternsCustom(t *testing.T) {
	p := Patterns{Rejected: []*regexp.Regexp{nil, regexp.MustCompile(`nope`)}}
	if v, _ := p.Judge(parse(t, `<p role=alert>nope</p>`)); v != Rejected {
		t.Errorf("custom pattern: %v", v)
	}
	d := DefaultPatterns()
	d.Locked = append(d.Locked, regexp.MustCompile(`x`))
	if len(DefaultPatterns().Locked) == len(d.Locked) {
		t.Error("DefaultPatterns shares its slices")
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{None: "", Rejected: "login_rejected", Locked: "account_locked", MFA: "mfa_required", 42: ""} {
		if v.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(v), v.String(), want)
		}
	}
}
