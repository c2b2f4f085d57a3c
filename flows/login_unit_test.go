package flows

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/loginpage"
)

// RFC 6238 Appendix B, SHA-1 vectors (the last 6 of the 8 digits).
func TestTOTPCodeRFC6238Vectors(t *testing.T) {
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // base32 of "12345678901234567890"
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		got, err := totpCode(strings.ToLower(secret), time.Unix(tc.unix, 0))
		if err != nil || got != tc.want {
			t.Errorf("at %d: %q, %v; want %s", tc.unix, got, err, tc.want)
		}
	}
	if _, err := totpCode("not base32!", time.Now()); err == nil {
		t.Error("a non-base32 secret gave a code")
	}
}

// OpenID Connect Core 1.0 Appendix A.3: the example at_hash.
func TestLeftHalfHashOIDCExample(t *testing.T) {
	got, ok := leftHalfHash("RS256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y")
	if !ok || got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Errorf("at_hash %q (%v), want 77QmUPtjPfzWtF2AnpK9RQ", got, ok)
	}
	if _, ok := leftHalfHash("EdDSA", "x"); ok {
		t.Error("EdDSA's hash is not defined by OIDC Core; want no verdict")
	}
}

func TestCallbackErrorClassification(t *testing.T) {
	pats := loginpage.DefaultPatterns()
	for _, tc := range []struct {
		code, desc string
		want       Reason
	}{
		{"access_denied", "End-User denied the authorization request", ReasonIdPError},
		{"interaction_required", "AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication", ReasonMFARequired},
		{"access_denied", "AADSTS50053: Your account is locked", ReasonAccountLocked},
		{"server_error", "", ReasonIdPError},
	} {
		f := callbackError(tc.code, tc.desc, pats)
		if f.Reason != tc.want || !strings.Contains(f.Summary, tc.code) {
			t.Errorf("%s %q: %s %q, want %s with the code in the summary", tc.code, tc.desc, f.Reason, f.Summary, tc.want)
		}
	}
}

func TestSameEndpointIgnoresQueryOnly(t *testing.T) {
	cb, _ := url.Parse("http://127.0.0.1/callback")
	for raw, want := range map[string]bool{
		"http://127.0.0.1/callback?code=x&state=y": true,
		"http://127.0.0.1/callback/":               true,
		"HTTP://127.0.0.1/callback":                true,
		"https://127.0.0.1/callback":               false,
		"http://127.0.0.1:8080/callback":           false,
		"http://127.0.0.1/callbacks":               false,
		"http://127.0.0.1:80/callback":             true, // the default port, spelled out
	} {
		u, _ := url.Parse(raw)
		if got := sameEndpoint(u, cb); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
}

func TestSameEndpointDefaultPorts(t *testing.T) {
	cb, _ := url.Parse("https://app.example.test:443/cb")
	for raw, want := range map[string]bool{
		"https://app.example.test/cb":      true,
		"https://APP.example.test:443/cb":  true,
		"https://app.example.test:8443/cb": false,
		"http://app.example.test:443/cb":   false,
	} {
		u, _ := url.Parse(raw)
		if got := sameEndpoint(u, cb); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
}

func TestRedactURLDropsEverythingThatCarriesSessions(t *testing.T) {
	got := redactURL("https://user:pw@idp.example.test/login;jsessionid=S3CR3T?code=C0DE#frag")
	if got != "https://idp.example.test/login" {
		t.Errorf("redactURL: %s", got)
	}
}

// The request the walker sends for a page's form: the pressed button's
// formaction/formmethod win, a script-only action is refused, a disabled
// button is never pressed.
func TestWalkRequestFromForm(t *testing.T) {
	u, _ := url.Parse("https://idp.example.test/login")
	parse := func(html string) *loginpage.Page {
		p, err := loginpage.Parse(u, []byte(html))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	w := &httpWalk{}
	page := parse(`<form method=post action=/login><input name=u><button formaction=/alt formmethod=get>Go</button></form>`)
	form := page.Forms[0]
	req, err := w.request(t.Context(), page, &pageAction{form: form, button: form.SubmitButton(nil), fill: map[string]string{"u": "x"}})
	if err != nil || req.Method != "GET" || req.URL.Path != "/alt" || req.URL.Query().Get("u") != "x" {
		t.Fatalf("formaction/formmethod: %v %v", req, err)
	}

	page = parse(`<form method=post action="javascript:void(0)"><input name=u><button>Go</button></form>`)
	form = page.Forms[0]
	_, err = w.request(t.Context(), page, &pageAction{form: form, button: form.SubmitButton(nil)})
	var f *Failure
	if !errors.As(err, &f) || f.Reason != ReasonLoginFormChanged || !strings.Contains(f.Summary, "browser: true") {
		t.Fatalf("script action: %v", err)
	}

	page = parse(`<form method=post action=/login><button name=b value=off disabled>Wait</button><button name=b value=on>Go</button></form>`)
	if b := page.Forms[0].SubmitButton(nil); b == nil || b.Value != "on" {
		t.Fatalf("disabled button chosen: %+v", b)
	}
}

// The walker's decisions on real page shapes, without a network.
func TestDecideOnPages(t *testing.T) {
	form := &LoginForm{}
	if errs := form.validate("form"); len(errs) > 0 {
		t.Fatal(errs)
	}
	page := func(html string) *loginpage.Page {
		u, _ := url.Parse("https://idp.example.test/login?session=secret")
		p, err := loginpage.Parse(u, []byte(html))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	user := loginUser{username: "synthetic", password: "pw"}
	login := `<form method=post action=/login><input type=hidden name=csrf value=c><input name=username autocomplete=username><input type=password name=password><button>Sign in</button></form>`

	var prog walkProgress
	act, f := decide(loginSeen{status: 200, page: page(login)}, user, &prog, walkPolicy{form: form}, nil)
	if f != nil || act == nil || act.fill["username"] != "synthetic" || act.fill["password"] != "pw" {
		t.Fatalf("login page: %+v %v", act, f)
	}
	// The same form again, with a message: rejected, quoted.
	_, f = decide(loginSeen{status: 200, page: page(`<p class="alert alert-danger">Invalid username or password.</p>` + login)}, user, &prog, walkPolicy{form: form}, nil)
	if f == nil || f.Reason != ReasonLoginRejected || !strings.Contains(f.Summary, "Invalid username or password.") {
		t.Fatalf("form again: %v", f)
	}
	if strings.Contains(f.Summary, "secret") {
		t.Errorf("the page's query leaked into the summary: %s", f.Summary)
	}

	otp := `<h1>Two-step verification</h1><form method=post action=/otp><input name=otp autocomplete=one-time-code><button>Verify</button></form>`
	prog = walkProgress{password: 1}
	_, f = decide(loginSeen{status: 200, page: page(otp)}, user, &prog, walkPolicy{form: form}, nil)
	if f == nil || f.Reason != ReasonMFARequired {
		t.Fatalf("otp page without a secret: %v", f)
	}
	act, f = decide(loginSeen{status: 200, page: page(otp)}, user, &prog, walkPolicy{form: form}, func() (string, error) { return "123456", nil })
	if f != nil || act.fill["otp"] != "123456" {
		t.Fatalf("otp page with a secret: %+v %v", act, f)
	}

	consent := `<form method=post action=/consent><input type=hidden name=uid value=1><button name=decision value=allow>Allow</button><button name=decision value=deny>Deny</button></form>`
	prog = walkProgress{password: 1}
	_, f = decide(loginSeen{status: 200, page: page(consent)}, user, &prog, walkPolicy{form: form}, nil)
	if f == nil || f.Reason != ReasonMFARequired || !strings.Contains(f.Summary, "consent") {
		t.Fatalf("consent without approve: %v", f)
	}
	act, f = decide(loginSeen{status: 200, page: page(consent)}, user, &prog, walkPolicy{form: form, approve: true}, nil)
	if f != nil || act.button == nil || act.button.Value != "allow" {
		t.Fatalf("consent with approve: %+v %v", act, f)
	}

	prog = walkProgress{}
	_, f = decide(loginSeen{status: 400, page: page(`<h1>Error</h1><p class="error">invalid_redirect_uri: redirect_uri did not match any of the client's registered redirect_uris</p>`)}, user, &prog, walkPolicy{form: form}, nil)
	if f == nil || f.Reason != ReasonRedirectURIMismatch {
		t.Fatalf("redirect_uri error page: %v", f)
	}
	_, f = decide(loginSeen{status: 200, page: page(`<div id="app"></div><script src="/app.js"></script>`)}, user, &prog, walkPolicy{form: form}, nil)
	if f == nil || f.Reason != ReasonLoginFormChanged {
		t.Fatalf("script-only page: %v", f)
	}
	_, f = decide(loginSeen{status: 503, page: page(`<h1>Service Unavailable</h1>`)}, user, &prog, walkPolicy{form: form}, nil)
	if f == nil || f.Reason != ReasonIdPError || !strings.Contains(f.Summary, "503") {
		t.Fatalf("503: %v", f)
	}
}

// FuzzDecide: whatever page an IdP serves, the walker's decision neither
// panics nor echoes the user's password into its messages.
func FuzzDecide(f *testing.F) {
	for _, seed := range []string{
		`<form method=post><input name=username><input type=password name=password><button>Go</button></form>`,
		`<form><input name=otp autocomplete=one-time-code></form><p class=error>Invalid code</p>`,
		`<form><input type=hidden name=x><button>Allow</button><button>Deny</button></form>`,
		`<button onclick="location.href='./confirm?action=allowed'">Allow</button>`,
		`<meta http-equiv=refresh content="0;url=/next"><p role=alert>Account locked</p>`,
	} {
		f.Add(seed, 200, 0)
	}
	form := &LoginForm{Consent: consentApprove}
	if errs := form.validate("form"); len(errs) > 0 {
		f.Fatal(errs)
	}
	u, _ := url.Parse("https://idp.example.test/login")
	f.Fuzz(func(t *testing.T, html string, status, progress int) {
		page, err := loginpage.Parse(u, []byte(html))
		if err != nil {
			return
		}
		user := loginUser{username: "fuzz-user", password: "fuzz-password-Zq9", userCode: "ABCD-EFGH"}
		prog := walkProgress{password: progress & 1, otp: progress >> 1 & 1, userCode: progress >> 2 & 1, consent: progress >> 3 & 3}
		for _, pol := range []walkPolicy{{form: form}, {form: form, approve: true, stopWhenIdle: true}} {
			p := prog
			_, fail := decide(loginSeen{status: status%600 + 1, page: page}, user, &p, pol, func() (string, error) { return "123456", nil })
			// (A page that shows the password itself is quoted; the
			// runner's redaction catches it there.)
			if fail != nil && strings.Contains(fail.Summary, user.password) && !strings.Contains(html, user.password) {
				t.Fatalf("the password is in the summary: %s", fail.Summary)
			}
		}
	})
}

// A password written literally in the flow file (against the advice) is
// still redacted, like one from a secret reference.
func TestLiteralPasswordIsRedacted(t *testing.T) {
	st := newState(&Runner{}, &Flow{})
	creds := UserCredentials{Username: conf.NewTemplate("synthetic"), Password: conf.NewTemplate("literal-pw-9Qx"), TOTPSecret: conf.NewTemplate("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")}
	if _, _, err := creds.expand(st); err != nil {
		t.Fatal(err)
	}
	got := st.Secrets.String("pw=literal-pw-9Qx totp=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
	if strings.Contains(got, "literal-pw") || strings.Contains(got, "GEZDGNBV") {
		t.Errorf("not redacted: %s", got)
	}
}

func TestDevicePollIntervalIsClamped(t *testing.T) {
	for in, want := range map[int]time.Duration{0: 5 * time.Second, -3: time.Second, 2: 2 * time.Second, 1 << 62: maxDeviceInterval, 9223372036: maxDeviceInterval} {
		if got := pollInterval(in); got != want {
			t.Errorf("interval %d: %v, want %v", in, got, want)
		}
	}
}

// The callback's state is checked before its error: an error for another
// login is not this login's error. A missing state on an error is common
// and the error is reported.
func TestReadCallbackOrder(t *testing.T) {
	s := &LoginStep{}
	tx := loginTx{state: "st-1", nonce: "n", verifier: "v"}
	for raw, want := range map[string]Reason{
		"http://127.0.0.1/cb?error=access_denied&state=other": ReasonStateMismatch,
		"http://127.0.0.1/cb?error=access_denied":             ReasonIdPError,
		"http://127.0.0.1/cb?error=access_denied&state=st-1":  ReasonIdPError,
		"http://127.0.0.1/cb?code=c0de-c0de":                  ReasonStateMismatch,
		"http://127.0.0.1/cb?code=c0de-c0de&state=other":      ReasonStateMismatch,
		"http://127.0.0.1/cb?state=st-1":                      ReasonIdPError,
		"http://127.0.0.1/cb?code=c0de-c0de&state=st-1":       "",
	} {
		cb, _ := url.Parse(raw)
		_, err := s.readCallback(newState(&Runner{}, &Flow{}), cb, tx, nil)
		var f *Failure
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", raw, err)
		case want != "" && (!errors.As(err, &f) || f.Reason != want):
			t.Errorf("%s: %v, want %s", raw, err, want)
		}
	}
}

func TestBrowserNetFailure(t *testing.T) {
	for text, want := range map[string]Reason{
		"net::ERR_CERT_AUTHORITY_INVALID": ReasonTLSCertificateInvalid,
		"net::ERR_CERT_DATE_INVALID":      ReasonTLSCertificateInvalid,
		"net::ERR_SSL_PROTOCOL_ERROR":     ReasonTLSCertificateInvalid,
		"net::ERR_NAME_NOT_RESOLVED":      ReasonDNSFailure,
		"net::ERR_CONNECTION_REFUSED":     ReasonConnectionFailed,
		"net::ERR_CONNECTION_TIMED_OUT":   ReasonTimeout,
		"net::ERR_ABORTED":                "",
		"net::ERR_BLOCKED_BY_RESPONSE":    "",
		"something Chromium has not said": "",
	} {
		f := browserNetFailure(text, "opening https://idp.example.test/")
		switch {
		case want == "" && f != nil:
			t.Errorf("%s: %s, want no verdict", text, f.Reason)
		case want != "" && (f == nil || f.Reason != want || !strings.Contains(f.Summary, strings.TrimPrefix(text, "net::"))):
			t.Errorf("%s: %v, want %s naming the error", text, f, want)
		}
	}
}

// A page whose GET form leads to the redirect_uri ends the walk with that
// URL: the redirect_uri is never contacted.
func TestWalkStopsAtGETFormToRedirectURI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<form method=get action="http://127.0.0.1:1/cb"><input type=hidden name=code value=c-1><input type=hidden name=state value=s-1><button>Continue</button></form>`)
	}))
	defer srv.Close()
	stop, _ := url.Parse("http://127.0.0.1:1/cb")
	form := &LoginForm{Consent: consentApprove}
	if errs := form.validate("form"); len(errs) > 0 {
		t.Fatal(errs)
	}
	w := &httpWalk{client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		policy: walkPolicy{form: form, approve: true}, stopAt: stop}
	got, err := w.run(t.Context(), srv.URL+"/login")
	if err != nil || got == nil || got.Query().Get("code") != "c-1" || got.Query().Get("state") != "s-1" {
		t.Fatalf("walk: %v, %v", got, err)
	}
}

// form.error_selector judges a page after a submission, in both walkers
// (decide): a visible match is login_rejected with its text; a hidden
// template of the message is not.
func TestDecideErrorSelector(t *testing.T) {
	form := &LoginForm{ErrorSelector: ".flash-error"}
	if errs := form.validate("form"); len(errs) > 0 {
		t.Fatal(errs)
	}
	u, _ := url.Parse("https://idp.example.test/login")
	login := `<form method=post action=/login><input name=username><input type=password name=password><button>Sign in</button></form>`
	for _, tc := range []struct {
		name, html string
		prog       walkProgress
		want       Reason
	}{
		{"shown after the password", `<div class="flash-error">Computer says no</div>` + login, walkProgress{password: 1}, ReasonLoginRejected},
		{"hidden template", `<div class="flash-error" hidden>Computer says no</div>` + login, walkProgress{}, ""},
		{"before any submission", `<div class="flash-error">Computer says no</div>` + login, walkProgress{}, ""},
		// The most specific reason wins; the patterns read the element as
		// they read a page's messages.
		{"locked", `<div class="flash-error">Computer says no: your account is locked</div>` + login, walkProgress{password: 1}, ReasonAccountLocked},
		{"second factor", `<div class="flash-error">Computer says no: verify with your authenticator app</div>` + login, walkProgress{password: 1}, ReasonMFARequired},
		{"wrong one-time code", `<div class="flash-error">Computer says no: invalid verification code</div>` + login, walkProgress{password: 1}, ReasonLoginRejected},
	} {
		page, err := loginpage.Parse(u, []byte(tc.html))
		if err != nil {
			t.Fatal(err)
		}
		prog := tc.prog
		_, f := decide(loginSeen{status: 200, page: page}, loginUser{username: "u", password: "p"}, &prog, walkPolicy{form: form}, nil)
		switch {
		case tc.want == "" && f != nil && strings.Contains(f.Summary, "error_selector"):
			t.Errorf("%s: %s", tc.name, f.Summary)
		case tc.want != "" && (f == nil || f.Reason != tc.want || !strings.Contains(f.Summary, "Computer says no") || !strings.Contains(f.Summary, "form.error_selector")):
			t.Errorf("%s: %v, want %s quoting the element", tc.name, f, tc.want)
		}
	}
}
