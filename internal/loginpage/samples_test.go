package loginpage

import (
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// pageURL is where the samples pretend to have been fetched from.
const pageURL = "https://idp.example.test/path/page?x=1"

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func parseFile(t *testing.T, name string) *Page {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(mustURL(t, pageURL), b)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return p
}

func fieldName(f *Field) string {
	if f == nil {
		return ""
	}
	return f.Name
}

// TestSamples checks each sample page end to end: what a walker finds and
// what Judge makes of it.
func TestSamples(t *testing.T) {
	tests := []struct {
		name, file    string
		title         string
		forms         string // DescribeForms
		action        string // first form's
		user, pw, otp string // first form's heuristic picks, by name
		values        string // first form's Values(SubmitButton(nil)), encoded
		messages      []string
		actions       []Action
		verdict       Verdict
		evidence      string
	}{
		{
			name: "oidc-provider login", file: "oidc-provider-login.html",
			title:  "Sign in",
			forms:  "1 form: form#login-form (POST /interaction/abc123/login; fields login, password)",
			action: "https://idp.example.test/interaction/abc123/login",
			user:   "login", pw: "password",
			values: "login=&password=",
		},
		{
			name: "oidc-provider wrong password", file: "oidc-provider-login-error.html",
			title:  "Sign in",
			forms:  "1 form: form#login-form (POST /interaction/abc123/login; fields login, password)",
			action: "https://idp.example.test/interaction/abc123/login",
			user:   "login", pw: "password",
			values:   "login=alice&password=",
			messages: []string{"Invalid username or password"},
			verdict:  Rejected, evidence: "Invalid username or password",
		},
		{
			name: "oidc-provider locked", file: "oidc-provider-locked.html",
			title:  "Sign in",
			forms:  "1 form: form#login-form (POST /interaction/abc123/login; fields login, password)",
			action: "https://idp.example.test/interaction/abc123/login",
			user:   "login", pw: "password",
			values:   "login=locked&password=",
			messages: []string{"Account locked. Contact your administrator."},
			verdict:  Locked, evidence: "Account locked. Contact your administrator.",
		},
		{
			name: "oidc-provider identifier first", file: "oidc-provider-identifier.html",
			title:  "Sign in",
			forms:  "1 form: form#identifier-form (POST /interaction/abc123/identify; fields login)",
			action: "https://idp.example.test/interaction/abc123/identify",
			user:   "login",
			values: "login=",
		},
		{
			// The username rides along hidden: nothing to type it into.
			name: "oidc-provider password step", file: "oidc-provider-password-step.html",
			title:    "Enter your password",
			forms:    "1 form: form#password-form (POST /interaction/abc123/login; fields password; 1 hidden)",
			action:   "https://idp.example.test/interaction/abc123/login",
			pw:       "password",
			values:   "login=alice&password=",
			messages: []string{"Invalid username or password"},
			verdict:  Rejected, evidence: "Invalid username or password",
		},
		{
			name: "oidc-provider otp", file: "oidc-provider-otp.html",
			title:   "Two-step verification",
			forms:   "1 form: form#otp-form (POST /interaction/abc123/otp; fields otp)",
			action:  "https://idp.example.test/interaction/abc123/otp",
			otp:     "otp",
			values:  "otp=",
			verdict: MFA, evidence: "form asks for a one-time code: form#otp-form (POST /interaction/abc123/otp; fields otp)",
		},
		{
			name: "oidc-provider wrong otp", file: "oidc-provider-otp-error.html",
			title:    "Two-step verification",
			forms:    "1 form: form#otp-form (POST /interaction/abc123/otp; fields otp)",
			action:   "https://idp.example.test/interaction/abc123/otp",
			otp:      "otp",
			values:   "otp=",
			messages: []string{"Invalid code"},
			verdict:  Rejected, evidence: "Invalid code",
		},
		{
			name: "zitadel login", file: "zitadel-login.html",
			title:  "Login",
			forms:  "1 form: form[0] (POST /login/username; fields username, password; 1 hidden)",
			action: "https://idp.example.test/login/username",
			user:   "username", pw: "password",
			values: "id=auth-req-42&password=&username=",
		},
		{
			name: "zitadel wrong password", file: "zitadel-login-error.html",
			title:  "Login",
			forms:  "1 form: form[0] (POST /login/username; fields username, password; 1 hidden)",
			action: "https://idp.example.test/login/username",
			user:   "username", pw: "password",
			values:   "id=auth-req-42&password=&username=",
			messages: []string{"username or password wrong"},
			verdict:  Rejected, evidence: "username or password wrong",
		},
		{
			// The form has no action: it posts back to the page, query included.
			name: "zitadel user code", file: "zitadel-usercode.html",
			title:  "Device authorization",
			forms:  "1 form: form[0] (POST /path/page; fields user_code)",
			action: pageURL,
			values: "user_code=",
		},
		{
			// The template's password input has no type, so it is a text field.
			name: "zitadel device login", file: "zitadel-device-login.html",
			title:  "Login",
			forms:  "1 form: form[0] (POST /device/login; fields username, password; 1 hidden)",
			action: "https://idp.example.test/device/login",
			user:   "username",
			values: "password=&user_code=ABCD-EFGH&username=",
		},
		{
			name: "zitadel confirm device", file: "zitadel-confirm-device.html",
			title: "Confirm device authorization",
			forms: "no forms",
			actions: []Action{
				{Text: "Allow", URL: "https://idp.example.test/path/confirm?action=allowed", Kind: "button"},
				{Text: "Deny", URL: "https://idp.example.test/path/confirm?action=denied", Kind: "button"},
			},
		},
		{
			name: "keycloak wrong password", file: "keycloak-login-error.html",
			title:  "Sign in to demo",
			forms:  "1 form: form#kc-form-login (POST /realms/demo/login-actions/authenticate; fields username, password, rememberMe; 1 hidden)",
			action: "https://sso.example.test/realms/demo/login-actions/authenticate?session_code=SESSCODE&execution=9a1f&client_id=authwatch&tab_id=TAB",
			user:   "username", pw: "password",
			values:   "credentialId=&login=Sign+In&password=&username=alice",
			messages: []string{"Invalid username or password."},
			actions: []Action{
				{Text: "Forgot Password?", URL: "https://idp.example.test/realms/demo/login-actions/reset-credentials?client_id=authwatch&tab_id=TAB", Kind: "link"},
				{Text: "Register", URL: "https://idp.example.test/realms/demo/login-actions/registration?client_id=authwatch&tab_id=TAB", Kind: "link"},
			},
			verdict: Rejected, evidence: "Invalid username or password.",
		},
		{
			name: "keycloak locked", file: "keycloak-locked.html",
			title:  "Sign in to demo",
			forms:  "1 form: form#kc-form-login (POST /realms/demo/login-actions/authenticate; fields username, password, rememberMe; 1 hidden)",
			action: "https://sso.example.test/realms/demo/login-actions/authenticate?session_code=SESSCODE&execution=9a1f&client_id=authwatch&tab_id=TAB",
			user:   "username", pw: "password",
			values:   "credentialId=&login=Sign+In&password=&username=alice",
			messages: []string{"Account is temporarily disabled; contact your administrator or retry later."},
			actions: []Action{
				{Text: "Forgot Password?", URL: "https://idp.example.test/realms/demo/login-actions/reset-credentials?client_id=authwatch&tab_id=TAB", Kind: "link"},
				{Text: "Register", URL: "https://idp.example.test/realms/demo/login-actions/registration?client_id=authwatch&tab_id=TAB", Kind: "link"},
			},
			verdict: Locked, evidence: "Account is temporarily disabled; contact your administrator or retry later.",
		},
		{
			name: "keycloak wrong otp", file: "keycloak-otp.html",
			title:    "Sign in to demo",
			forms:    "1 form: form#kc-otp-login-form (POST /realms/demo/login-actions/authenticate; fields otp)",
			action:   "https://sso.example.test/realms/demo/login-actions/authenticate?session_code=S2&execution=E2&client_id=authwatch&tab_id=TAB",
			otp:      "otp",
			values:   "login=Sign+In&otp=",
			messages: []string{"Invalid authenticator code."},
			verdict:  Rejected, evidence: "Invalid authenticator code.",
		},
		{
			// The noscript meta refresh counts: we are a browser without script.
			name: "entra wrong password", file: "entra-login-error.html",
			title:  "Sign in to your account",
			forms:  "1 form: form#i0281 (POST /common/login; fields loginfmt, passwd; 3 hidden)",
			action: "https://idp.example.test/common/login",
			user:   "loginfmt", pw: "passwd",
			values:   "ctx=rQQIARAAhZE9a&flowToken=AQABAAEAAAD--DLA3VO7&i13=0&loginfmt=alice%40contoso.example&passwd=",
			messages: []string{"Your account or password is incorrect. If you don't remember your password, reset it now."},
			actions: []Action{
				{URL: "https://login.microsoftonline.com/jsdisabled", Kind: "refresh"},
				{Text: "reset it now.", URL: "https://passwordreset.microsoftonline.com/?ru=https%3a%2f%2flogin.microsoftonline.com", Kind: "link"},
				{Text: "Terms of use", URL: "https://www.microsoft.com/en-US/servicesagreement/", Kind: "link"},
			},
			verdict: Rejected, evidence: "Your account or password is incorrect. If you don't remember your password, reset it now.",
		},
		{
			name: "entra mfa", file: "entra-mfa.html",
			title:   "Sign in to your account",
			forms:   "1 form: form#i0281 (POST /common/SAS/ProcessAuth; fields otc, rememberMFA; 2 hidden)",
			action:  "https://login.microsoftonline.com/common/SAS/ProcessAuth",
			otp:     "otc",
			values:  "flowToken=AQABAAEAAAD--MFA&mfaAuthMethod=OneWaySMS&otc=",
			verdict: MFA, evidence: "form asks for a one-time code: form#i0281 (POST /common/SAS/ProcessAuth; fields otc, rememberMFA; 2 hidden)",
		},
	}
	pats := DefaultPatterns()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseFile(t, tt.file)
			if p.Title != tt.title {
				t.Errorf("Title = %q, want %q", p.Title, tt.title)
			}
			if got := p.DescribeForms(); got != tt.forms {
				t.Errorf("DescribeForms =\n %s\nwant\n %s", got, tt.forms)
			}
			if !reflect.DeepEqual(p.Messages, tt.messages) {
				t.Errorf("Messages = %q, want %q", p.Messages, tt.messages)
			}
			if !reflect.DeepEqual(p.Actions, tt.actions) {
				t.Errorf("Actions = %+v, want %+v", p.Actions, tt.actions)
			}
			if v, ev := pats.Judge(p); v != tt.verdict || ev != tt.evidence {
				t.Errorf("Judge = %v, %q; want %v, %q", v, ev, tt.verdict, tt.evidence)
			}
			if len(p.Forms) == 0 {
				return
			}
			f := p.Forms[0]
			if f.Action != tt.action {
				t.Errorf("Action = %q, want %q", f.Action, tt.action)
			}
			got := [3]string{fieldName(f.UsernameField()), fieldName(f.PasswordField()), fieldName(f.OTPField())}
			if want := [3]string{tt.user, tt.pw, tt.otp}; got != want {
				t.Errorf("username, password, otp fields = %q, want %q", got, want)
			}
			if got := f.Values(f.SubmitButton(nil)).Encode(); got != tt.values {
				t.Errorf("Values = %s, want %s", got, tt.values)
			}
		})
	}
}

// TestSamplesText checks that Text keeps what a person reads and drops
// scripts.
func TestSamplesText(t *testing.T) {
	p := parseFile(t, "entra-login-error.html")
	want := "Enter password Your account or password is incorrect. If you don't remember your password, reset it now. Terms of use"
	if p.Text != want {
		t.Errorf("Text = %q, want %q", p.Text, want)
	}
}
