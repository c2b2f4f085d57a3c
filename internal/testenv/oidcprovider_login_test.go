package testenv_test

// Browser logins against testdata/oidc-provider walked with net/http and a
// cookie jar: the login styles (LOGIN_STYLE), carol's TOTP, the consent page
// (CONSENT=page), refused logins and the device authorization grant
// (RFC 8628). See testdata/oidc-provider/README.md.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/testenv"
)

const (
	carolTOTPSecret = "JBSWY3DPEHPK3PXP"
	deviceGrant     = "urn:ietf:params:oauth:grant-type:device_code"
)

// totpAt is the RFC 6238 code (HMAC-SHA1, 6 digits, 30 s) of a base32
// secret at time at.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		t.Fatalf("TOTP secret: %v", err)
	}
	return hotpCode(key, uint64(at.Unix()/30))
}

func hotpCode(key []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	h := mac.Sum(nil)
	off := h[len(h)-1] & 0x0f
	bin := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", bin%1000000)
}

func TestTOTPHelper(t *testing.T) {
	// RFC 6238 appendix B, SHA1 at T=59: 94287082; 6 digits keep the last six.
	if got := hotpCode([]byte("12345678901234567890"), 59/30); got != "287082" {
		t.Fatalf("hotpCode = %s, want 287082", got)
	}
}

// webForm is one <form> of a page: its absolute action, the named inputs
// with their values, and its submit buttons.
type webForm struct {
	id, action, method string
	fields             url.Values
	buttons            []formButton
}

type formButton struct{ name, value, text string }

var (
	formRE   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	buttonRE = regexp.MustCompile(`(?is)<button\b([^>]*)>(.*?)</button>`)
	attrRE   = regexp.MustCompile(`(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?`)
	tagRE    = regexp.MustCompile(`(?s)<[^>]*>`)
)

// attrs parses the attributes of a start tag (the text after its name).
func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(strings.TrimSuffix(strings.TrimSpace(s), "/"), -1) {
		name := strings.ToLower(a[1])
		if _, dup := m[name]; !dup {
			m[name] = html.UnescapeString(a[2] + a[3] + a[4])
		}
	}
	return m
}

// parseForms returns the forms of page, actions resolved against base. A
// regexp parse is enough for the pages of server.mjs and oidc-provider.
func parseForms(t *testing.T, base *url.URL, page string) []webForm {
	t.Helper()
	var forms []webForm
	for _, fm := range formRE.FindAllStringSubmatch(page, -1) {
		fa := attrs(fm[1])
		u, err := base.Parse(fa["action"])
		if err != nil {
			t.Fatalf("form action %q: %v", fa["action"], err)
		}
		f := webForm{id: fa["id"], method: fa["method"], action: u.String(), fields: url.Values{}}
		for _, im := range inputRE.FindAllStringSubmatch(fm[2], -1) {
			ia := attrs(im[1])
			name, hasName := ia["name"]
			if ia["type"] == "submit" {
				f.buttons = append(f.buttons, formButton{name, ia["value"], ia["value"]})
			} else if hasName {
				f.fields.Add(name, ia["value"])
			}
		}
		for _, bm := range buttonRE.FindAllStringSubmatch(fm[2], -1) {
			ba := attrs(bm[1])
			if typ := ba["type"]; typ == "" || typ == "submit" {
				text := strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(bm[2], "")))
				f.buttons = append(f.buttons, formButton{ba["name"], ba["value"], text})
			}
		}
		forms = append(forms, f)
	}
	return forms
}

// webPage is a fetched HTML page.
type webPage struct {
	url    *url.URL
	status int
	header http.Header
	body   string
}

func (p webPage) form(t *testing.T, id string) webForm {
	t.Helper()
	for _, f := range parseForms(t, p.url, p.body) {
		if f.id == id {
			return f
		}
	}
	t.Fatalf("no form id=%q on %s (status %d):\n%s", id, p.url, p.status, p.body)
	return webForm{}
}

func (f webForm) hasButton(text string) bool {
	for _, b := range f.buttons {
		if b.text == text {
			return true
		}
	}
	return false
}

// fetch turns a response into a webPage, or returns the redirect location
// when the client stopped at the callback.
func fetch(t *testing.T, resp *http.Response, err error) (webPage, *url.URL) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	body := readPage(t, resp)
	if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		return webPage{url: resp.Request.URL, status: resp.StatusCode, header: resp.Header, body: body}, loc
	}
	return webPage{url: resp.Request.URL, status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// getPage GETs u with b.
func getPage(t *testing.T, b *http.Client, u string) (webPage, *url.URL) {
	t.Helper()
	resp, err := b.Get(u)
	return fetch(t, resp, err)
}

// submit posts form with its fields, set overriding them, plus the button's
// name=value when the button has a name.
func submit(t *testing.T, b *http.Client, f webForm, set url.Values, button *formButton) (webPage, *url.URL) {
	t.Helper()
	vals := url.Values{}
	for k, v := range f.fields {
		vals[k] = append([]string(nil), v...)
	}
	for k, v := range set {
		vals[k] = v
	}
	if button != nil && button.name != "" {
		vals.Add(button.name, button.value)
	}
	resp, err := b.PostForm(f.action, vals)
	return fetch(t, resp, err)
}

func button(t *testing.T, f webForm, text string) *formButton {
	t.Helper()
	for i := range f.buttons {
		if f.buttons[i].text == text {
			return &f.buttons[i]
		}
	}
	t.Fatalf("form %q has no button %q: %+v", f.id, text, f.buttons)
	return nil
}

// codeLogin is one authorization code + PKCE request in its own browser.
type codeLogin struct {
	idp         *testenv.NodeIdP
	b           *http.Client
	redirectURI string
	verifier    string
	state       string
}

// startCodeLogin requests /auth for app-client and returns the first page.
func startCodeLogin(t *testing.T, idp *testenv.NodeIdP, redirectURI string) (*codeLogin, webPage) {
	t.Helper()
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	l := &codeLogin{idp: idp, b: browser(t), redirectURI: redirectURI, verifier: base64.RawURLEncoding.EncodeToString(buf), state: "st-" + base64.RawURLEncoding.EncodeToString(buf[:6])}
	sum := sha256.Sum256([]byte(l.verifier))
	q := url.Values{
		"client_id":             {"app-client"},
		"response_type":         {"code"},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid email api:read"},
		"resource":              {apiResource},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"state":                 {l.state},
	}
	resp, err := l.b.Get(idp.URL + "/auth?" + q.Encode())
	p, loc := fetch(t, resp, err)
	if loc != nil {
		t.Fatalf("/auth redirected straight to %s", loc)
	}
	return l, p
}

// finish checks the callback and exchanges its code; it returns the access
// token's claims.
func (l *codeLogin) finish(t *testing.T, cb *url.URL, wantSub string) map[string]any {
	t.Helper()
	if cb == nil {
		t.Fatal("no redirect to the callback")
	}
	q := cb.Query()
	if q.Get("code") == "" || q.Get("state") != l.state || q.Get("iss") != l.idp.Issuer {
		t.Fatalf("callback %s", cb)
	}
	status, tok := tokenRequest(t, l.idp, "app-client", "app-secret", url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {l.redirectURI}, "code_verifier": {l.verifier},
	})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	_, at := decodeJWT(t, tok["access_token"].(string))
	if at["sub"] != wantSub || at["aud"] != apiResource {
		t.Errorf("access token claims %v, want sub %s", at, wantSub)
	}
	if _, id := decodeJWT(t, tok["id_token"].(string)); id["sub"] != wantSub {
		t.Errorf("id token claims %v", id)
	}
	return at
}

func TestNodeOIDCProviderLoginStyles(t *testing.T) {
	t.Parallel()
	const redirectURI = "http://127.0.0.1:50111/callback"

	t.Run("password", func(t *testing.T) {
		t.Parallel()
		idp := testenv.NodeOIDCProvider(t, map[string]string{"LOGIN_STYLE": "password"})
		l, p := startCodeLogin(t, idp, redirectURI)
		f := p.form(t, "login-form")
		if _, ok := f.fields["password"]; !ok || !f.hasButton("Sign in") {
			t.Fatalf("login form %+v", f)
		}
		for _, c := range []struct{ user, pass, want string }{
			{"alice", "wrong", "Invalid username or password"},
			{"locked", "locked-password", "Account locked. Contact your administrator."},
			{"disabled", "disabled-password", "Your account has been disabled."},
			{"disabled", "wrong", "Invalid username or password"},
		} {
			again, cb := submit(t, l.b, f, url.Values{"login": {c.user}, "password": {c.pass}}, nil)
			if cb != nil || !strings.Contains(again.body, c.want) {
				t.Errorf("%s/%s: callback %v, page lacks %q:\n%s", c.user, c.pass, cb, c.want, again.body)
			}
			again.form(t, "login-form")
		}
		_, cb := submit(t, l.b, f, url.Values{"login": {"alice"}, "password": {"alice-password"}}, nil)
		l.finish(t, cb, "alice")
	})

	t.Run("identifier-first", func(t *testing.T) {
		t.Parallel()
		idp := testenv.NodeOIDCProvider(t, map[string]string{"LOGIN_STYLE": "identifier-first"})
		for _, c := range []struct{ user, pass, want string }{
			{"alice", "alice-password", ""},
			{"dave", "dave-password", ""},
			{"dave", "wrong", "Invalid username or password"},
			{"nobody", "x", "Invalid username or password"},
			{"disabled", "disabled-password", "Your account has been disabled."},
			{"locked", "locked-password", "Account locked."},
		} {
			l, p := startCodeLogin(t, idp, redirectURI)
			id := p.form(t, "identifier-form")
			if _, ok := id.fields["password"]; ok || !strings.HasSuffix(id.action, "/identify") || !id.hasButton("Next") {
				t.Fatalf("identifier form %+v", id)
			}
			if _, ok := id.fields["login"]; !ok {
				t.Fatalf("identifier form without login field: %+v", id)
			}
			pw, cb := submit(t, l.b, id, url.Values{"login": {c.user}}, nil)
			if cb != nil {
				t.Fatalf("identify redirected to %s", cb)
			}
			pf := pw.form(t, "password-form")
			if pf.fields.Get("login") != c.user || !strings.HasSuffix(pf.action, "/login") || !strings.Contains(pw.body, ">"+c.user+"<") {
				t.Fatalf("password page for %s: form %+v\n%s", c.user, pf, pw.body)
			}
			// Reloading the interaction shows the password step again.
			reload, _ := getPage(t, l.b, pw.url.String()[:strings.LastIndex(pw.url.String(), "/")])
			reload.form(t, "password-form")

			res, cb := submit(t, l.b, pf, url.Values{"password": {c.pass}}, nil)
			if c.want == "" {
				l.finish(t, cb, c.user)
				continue
			}
			if cb != nil || !strings.Contains(res.body, c.want) {
				t.Errorf("%s/%s: callback %v, page lacks %q:\n%s", c.user, c.pass, cb, c.want, res.body)
				continue
			}
			if again := res.form(t, "password-form"); again.fields.Get("login") != c.user {
				t.Errorf("password form after an error: %+v", again)
			}
		}

		// An empty username stays on the first page.
		l, p := startCodeLogin(t, idp, redirectURI)
		res, _ := submit(t, l.b, p.form(t, "identifier-form"), url.Values{"login": {""}}, nil)
		res.form(t, "identifier-form")
		if !strings.Contains(res.body, "Enter your username") {
			t.Errorf("empty username:\n%s", res.body)
		}
	})

	t.Run("spa", func(t *testing.T) {
		t.Parallel()
		idp := testenv.NodeOIDCProvider(t, map[string]string{"LOGIN_STYLE": "spa"})
		_, p := startCodeLogin(t, idp, redirectURI)
		if p.status != http.StatusOK || strings.Contains(strings.ToLower(p.body), "<form") {
			t.Fatalf("SPA shell (status %d) has a form:\n%s", p.status, p.body)
		}
		if !strings.Contains(p.body, `src="/interaction-assets/login.js"`) || !strings.Contains(p.body, `id="login-app"`) {
			t.Fatalf("SPA shell does not load the script:\n%s", p.body)
		}
		if csp := p.header.Get("Content-Security-Policy"); csp != "script-src 'self'" {
			t.Errorf("CSP %q", csp)
		}
		resp, err := client.Get(idp.URL + "/interaction-assets/login.js")
		if err != nil {
			t.Fatal(err)
		}
		js := readPage(t, resp)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Fatalf("login.js: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, want := range []string{"login-form", "'login'", "'password'", "data-action"} {
			if !strings.Contains(js, want) {
				t.Errorf("login.js lacks %s", want)
			}
		}
	})
}

func TestNodeOIDCProviderTOTP(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"STATIC_OTP": "off"})
	l, p := startCodeLogin(t, idp, "http://localhost:50112/callback")
	otp, cb := submit(t, l.b, p.form(t, "login-form"), url.Values{"login": {"carol"}, "password": {"carol-password"}}, nil)
	if cb != nil {
		t.Fatalf("carol's password alone redirected to %s", cb)
	}
	f := otp.form(t, "otp-form")
	if !strings.Contains(otp.body, "Two-step verification") || !strings.Contains(otp.body, `autocomplete="one-time-code"`) {
		t.Fatalf("OTP page:\n%s", otp.body)
	}

	// Codes the server would take now: the current step and one either side.
	now := time.Now()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[totpAt(t, carolTOTPSecret, now.Add(d))] = true
	}
	var wrong string
	for _, c := range []string{"123456", "000000", "111111", "222222"} {
		if !valid[c] {
			wrong = c
			break
		}
	}
	again, cb := submit(t, l.b, f, url.Values{"otp": {wrong}}, nil)
	if cb != nil || !strings.Contains(again.body, "Invalid code") {
		t.Fatalf("wrong code %s (STATIC_OTP=off): callback %v\n%s", wrong, cb, again.body)
	}
	f = again.form(t, "otp-form")
	_, cb = submit(t, l.b, f, url.Values{"otp": {totpAt(t, carolTOTPSecret, time.Now())}}, nil)
	l.finish(t, cb, "carol")
}

func TestNodeOIDCProviderConsentPage(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"CONSENT": "page"})
	const redirectURI = "http://127.0.0.1:50113/callback"

	consent := func(t *testing.T) (*codeLogin, webForm) {
		l, p := startCodeLogin(t, idp, redirectURI)
		page, cb := submit(t, l.b, p.form(t, "login-form"), url.Values{"login": {"alice"}, "password": {"alice-password"}}, nil)
		if cb != nil {
			t.Fatalf("CONSENT=page: login went straight to %s", cb)
		}
		f := page.form(t, "consent-form")
		if !strings.HasSuffix(f.action, "/consent") || !strings.Contains(page.body, "app-client") || !strings.Contains(page.body, "api:read") {
			t.Fatalf("consent page:\n%s", page.body)
		}
		return l, f
	}

	t.Run("allow", func(t *testing.T) {
		l, f := consent(t)
		_, cb := submit(t, l.b, f, nil, button(t, f, "Allow"))
		l.finish(t, cb, "alice")
	})
	t.Run("deny", func(t *testing.T) {
		l, f := consent(t)
		_, cb := submit(t, l.b, f, nil, button(t, f, "Deny"))
		if cb == nil {
			t.Fatal("Deny: no redirect to the callback")
		}
		q := cb.Query()
		if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("state") != l.state || q.Get("code") != "" {
			t.Errorf("Deny: callback %s, want error=access_denied with a description and the state", cb)
		}
	})
}

func TestNodeOIDCProviderRedirectURIMismatch(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, nil)
	b := browser(t)
	q := url.Values{
		"client_id": {"app-client"}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri":   {"https://evil.example.test/callback"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}
	p, loc := getPage(t, b, idp.URL+"/auth?"+q.Encode())
	if loc != nil || !strings.Contains(p.body, "redirect_uri") || strings.Contains(p.body, "<form") {
		t.Fatalf("unregistered redirect_uri: status %d, location %v:\n%s", p.status, loc, p.body)
	}
	t.Logf("status %d: %s", p.status, p.body)
}

// deviceStart posts to the device authorization endpoint.
func deviceStart(t *testing.T, idp *testenv.NodeIdP, user, pass string, form url.Values) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, idp.URL+"/device/auth", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization: %d %v", resp.StatusCode, body)
	}
	return body
}

func deviceBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// deviceConfirmPage walks verification_uri_complete (an auto-submitting
// form_post page) or verification_uri plus the user code, and returns the
// confirmation form.
func deviceConfirmPage(t *testing.T, b *http.Client, dev map[string]any, complete bool) webForm {
	t.Helper()
	var p webPage
	if complete {
		p, _ = getPage(t, b, dev["verification_uri_complete"].(string))
		forms := parseForms(t, p.url, p.body)
		if len(forms) != 1 || forms[0].fields.Get("user_code") != dev["user_code"] || forms[0].fields.Get("xsrf") == "" {
			t.Fatalf("verification_uri_complete page:\n%s", p.body)
		}
		p, _ = submit(t, b, forms[0], nil, nil)
	} else {
		p, _ = getPage(t, b, dev["verification_uri"].(string))
		in := p.form(t, "op.deviceInputForm")
		if _, ok := in.fields["user_code"]; !ok || in.fields.Get("xsrf") == "" || !in.hasButton("Continue") {
			t.Fatalf("user code form %+v:\n%s", in, p.body)
		}
		// A wrong code gets the form again.
		bad, _ := submit(t, b, in, url.Values{"user_code": {"BBBB-BBBB"}}, nil)
		in = bad.form(t, "op.deviceInputForm")
		if !strings.Contains(bad.body, "The code you entered is incorrect") {
			t.Errorf("wrong user code:\n%s", bad.body)
		}
		// Lower case without the dash is accepted too.
		code := strings.ToLower(strings.ReplaceAll(dev["user_code"].(string), "-", ""))
		p, _ = submit(t, b, in, url.Values{"user_code": {code}}, nil)
	}
	f := p.form(t, "op.deviceConfirmForm")
	if f.fields.Get("confirm") != "yes" || f.fields.Get("xsrf") == "" || !f.hasButton("Continue") || !f.hasButton("Abort") {
		t.Fatalf("confirm form %+v:\n%s", f, p.body)
	}
	if !strings.Contains(p.body, dev["user_code"].(string)) {
		t.Errorf("confirm page does not show the user code %s:\n%s", dev["user_code"], p.body)
	}
	return f
}

func devicePoll(t *testing.T, idp *testenv.NodeIdP, user, pass string, dev map[string]any, clientID string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {deviceGrant}, "device_code": {dev["device_code"].(string)}}
	if clientID != "" {
		form.Set("client_id", clientID)
	}
	return tokenRequest(t, idp, user, pass, form)
}

func TestNodeOIDCProviderDeviceFlow(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"DEVICE_INTERVAL": "1"})

	disc, _ := getJSON(t, idp.URL+"/.well-known/openid-configuration")
	if disc["device_authorization_endpoint"] != idp.URL+"/device/auth" {
		t.Errorf("device_authorization_endpoint %v", disc["device_authorization_endpoint"])
	}

	t.Run("public client, verification_uri_complete", func(t *testing.T) {
		dev := deviceStart(t, idp, "", "", url.Values{"client_id": {"device-client"}, "scope": {"openid email offline_access api:read"}})
		if dev["interval"] != float64(1) || dev["expires_in"] != float64(600) || dev["verification_uri"] != idp.URL+"/device" ||
			dev["verification_uri_complete"] != idp.URL+"/device?user_code="+url.QueryEscape(dev["user_code"].(string)) {
			t.Errorf("device authorization response %v", dev)
		}
		if status, body := devicePoll(t, idp, "", "", dev, "device-client"); status != 400 || body["error"] != "authorization_pending" {
			t.Errorf("first poll: %d %v, want authorization_pending", status, body)
		}
		// Two polls within the 1 s interval: the second is slow_down. Under a
		// heavy load the pair may take longer than the interval; then try
		// again (a slow pair must still be authorization_pending).
		for attempt := 1; ; attempt++ {
			time.Sleep(1100 * time.Millisecond)
			start := time.Now()
			s1, b1 := devicePoll(t, idp, "", "", dev, "device-client")
			s2, b2 := devicePoll(t, idp, "", "", dev, "device-client")
			elapsed := time.Since(start)
			if s1 != 400 || b1["error"] != "authorization_pending" {
				t.Fatalf("poll after waiting the interval: %d %v, want authorization_pending", s1, b1)
			}
			if elapsed < 900*time.Millisecond {
				if s2 != 400 || b2["error"] != "slow_down" {
					t.Errorf("second poll %s after the first: %d %v, want slow_down", elapsed, s2, b2)
				}
				break
			}
			if attempt == 5 {
				t.Fatalf("could not poll twice within 900ms (last pair took %s)", elapsed)
			}
		}

		b := deviceBrowser(t)
		f := deviceConfirmPage(t, b, dev, true)
		login, _ := submit(t, b, f, nil, button(t, f, "Continue"))
		lf := login.form(t, "login-form")
		done, _ := submit(t, b, lf, url.Values{"login": {"alice"}, "password": {"alice-password"}}, nil)
		if done.status != 200 || !strings.Contains(done.body, "Sign-in Success") {
			t.Fatalf("after login: status %d\n%s", done.status, done.body)
		}

		time.Sleep(1100 * time.Millisecond)
		status, tok := devicePoll(t, idp, "", "", dev, "device-client")
		if status != 200 || tok["access_token"] == nil || tok["id_token"] == nil || tok["refresh_token"] == nil {
			t.Fatalf("poll after approval: %d %v", status, tok)
		}
		// No email claim in the ID token: oidc-provider leaves claims to
		// userinfo when the access token can be used there (no resource).
		if _, id := decodeJWT(t, tok["id_token"].(string)); id["sub"] != "alice" || id["aud"] != "device-client" {
			t.Errorf("id token %v", id)
		}
		status, ref := tokenRequest(t, idp, "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {"device-client"}, "refresh_token": {tok["refresh_token"].(string)}})
		if status != 200 || ref["access_token"] == nil || ref["refresh_token"] == nil {
			t.Fatalf("refresh: %d %v", status, ref)
		}
		// The device code is used up, and presenting it again revokes the
		// grant (like a reused authorization code), refresh tokens included.
		time.Sleep(1100 * time.Millisecond)
		if status, body := devicePoll(t, idp, "", "", dev, "device-client"); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("poll after tokens: %d %v, want invalid_grant", status, body)
		}
		if status, body := tokenRequest(t, idp, "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {"device-client"}, "refresh_token": {ref["refresh_token"].(string)}}); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("refresh after device code reuse: %d %v, want invalid_grant", status, body)
		}
	})

	t.Run("confidential client, verification_uri and user code, TOTP user", func(t *testing.T) {
		if status, body := tokenRequest(t, idp, "device-app", "wrong", url.Values{"grant_type": {deviceGrant}, "device_code": {"x"}}); status != 401 || body["error"] != "invalid_client" {
			t.Errorf("wrong secret: %d %v", status, body)
		}
		dev := deviceStart(t, idp, "device-app", "device-secret", url.Values{"scope": {"openid api:read"}})
		b := deviceBrowser(t)
		f := deviceConfirmPage(t, b, dev, false)
		login, _ := submit(t, b, f, nil, button(t, f, "Continue"))
		otp, _ := submit(t, b, login.form(t, "login-form"), url.Values{"login": {"carol"}, "password": {"carol-password"}}, nil)
		done, _ := submit(t, b, otp.form(t, "otp-form"), url.Values{"otp": {totpAt(t, carolTOTPSecret, time.Now())}}, nil)
		if !strings.Contains(done.body, "Sign-in Success") {
			t.Fatalf("after OTP:\n%s", done.body)
		}
		status, tok := devicePoll(t, idp, "device-app", "device-secret", dev, "")
		if status != 200 || tok["access_token"] == nil {
			t.Fatalf("poll: %d %v", status, tok)
		}
		if _, id := decodeJWT(t, tok["id_token"].(string)); id["sub"] != "carol" {
			t.Errorf("id token %v", id)
		}
	})

	t.Run("abort", func(t *testing.T) {
		dev := deviceStart(t, idp, "", "", url.Values{"client_id": {"device-client"}, "scope": {"openid"}})
		b := deviceBrowser(t)
		f := deviceConfirmPage(t, b, dev, true)
		res, _ := submit(t, b, f, nil, button(t, f, "Abort"))
		if !strings.Contains(res.body, "The Sign-in request was interrupted") {
			t.Errorf("after Abort:\n%s", res.body)
		}
		if status, body := devicePoll(t, idp, "", "", dev, "device-client"); status != 400 || body["error"] != "access_denied" {
			t.Errorf("poll after abort: %d %v, want access_denied", status, body)
		}
	})

	t.Run("locked user leaves it pending", func(t *testing.T) {
		dev := deviceStart(t, idp, "", "", url.Values{"client_id": {"device-client"}, "scope": {"openid"}})
		b := deviceBrowser(t)
		f := deviceConfirmPage(t, b, dev, true)
		login, _ := submit(t, b, f, nil, button(t, f, "Continue"))
		res, _ := submit(t, b, login.form(t, "login-form"), url.Values{"login": {"locked"}, "password": {"locked-password"}}, nil)
		if !strings.Contains(res.body, "Account locked") {
			t.Errorf("locked user:\n%s", res.body)
		}
		if status, body := devicePoll(t, idp, "", "", dev, "device-client"); status != 400 || body["error"] != "authorization_pending" {
			t.Errorf("poll: %d %v, want authorization_pending", status, body)
		}
	})
}

func TestNodeOIDCProviderDeviceFlowConsentDeny(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"CONSENT": "page", "DEVICE_INTERVAL": "1"})
	dev := deviceStart(t, idp, "", "", url.Values{"client_id": {"device-client"}, "scope": {"openid api:read"}})
	b := deviceBrowser(t)
	f := deviceConfirmPage(t, b, dev, true)
	login, _ := submit(t, b, f, nil, button(t, f, "Continue"))
	consent, _ := submit(t, b, login.form(t, "login-form"), url.Values{"login": {"alice"}, "password": {"alice-password"}}, nil)
	cf := consent.form(t, "consent-form")
	res, _ := submit(t, b, cf, nil, button(t, cf, "Deny"))
	if !strings.Contains(res.body, "The Sign-in request was interrupted") {
		t.Errorf("after Deny:\n%s", res.body)
	}
	if status, body := devicePoll(t, idp, "", "", dev, "device-client"); status != 400 || body["error"] != "access_denied" {
		t.Errorf("poll after Deny: %d %v, want access_denied", status, body)
	}
}

func TestNodeOIDCProviderDeviceCodeExpiry(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, map[string]string{"DEVICE_CODE_TTL": "1", "DEVICE_INTERVAL": "1"})
	dev := deviceStart(t, idp, "", "", url.Values{"client_id": {"device-client"}, "scope": {"openid"}})
	if dev["expires_in"] != float64(1) {
		t.Errorf("expires_in %v, want 1", dev["expires_in"])
	}
	time.Sleep(2100 * time.Millisecond)
	if status, body := devicePoll(t, idp, "", "", dev, "device-client"); status != 400 || body["error"] != "expired_token" {
		t.Errorf("poll after expiry: %d %v, want expired_token", status, body)
	}
	// The user code is refused on the verification page too.
	b := deviceBrowser(t)
	p, _ := getPage(t, b, dev["verification_uri_complete"].(string))
	forms := parseForms(t, p.url, p.body)
	if len(forms) != 1 {
		t.Fatalf("verification_uri_complete page:\n%s", p.body)
	}
	res, _ := submit(t, b, forms[0], nil, nil)
	res.form(t, "op.deviceInputForm")
	if !strings.Contains(res.body, "The code you entered is incorrect") {
		t.Errorf("expired user code:\n%s", res.body)
	}
}
