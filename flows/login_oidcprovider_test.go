package flows_test

// Real-component tests of the login and device_code steps against the npm
// oidc-provider (testdata/oidc-provider, README.md there): the HTTP walker
// through every login style, carol's TOTP, the consent page, refused and
// locked accounts, an unregistered redirect_uri, a token endpoint routed to
// another IdP node, a proxy that mangles the redirect to the callback, the
// device authorization grant, and browser mode in headless Chromium.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/testenv"
)

const (
	lopCarolTOTP     = "JBSWY3DPEHPK3PXP" // carol's TOTP secret (README)
	lopWrongTOTP     = "GEZDGNBVGY3TQOJQ" // a valid base32 secret that is not carol's
	lopWrongPassword = "canary-wrong-password-91d3"
	lopCallback      = "http://127.0.0.1/callback"
	lopChromium      = "/usr/bin/chromium"
)

// lopSecretEnv are the secret references of the flows; every value is a
// canary that must not appear in any rendering of a result.
var lopSecretEnv = map[string]string{
	"APP_SECRET":        "app-secret",
	"DEVICE_SECRET":     "device-secret",
	"ALICE_PASSWORD":    "alice-password",
	"DAVE_PASSWORD":     "dave-password",
	"CAROL_PASSWORD":    "carol-password",
	"LOCKED_PASSWORD":   "locked-password",
	"DISABLED_PASSWORD": "disabled-password",
	"EXPIRED_PASSWORD":  "expired-password",
	"CAROL_TOTP":        lopCarolTOTP,
	"WRONG_TOTP":        lopWrongTOTP,
	"WRONG_PASSWORD":    lopWrongPassword,
}

func lopRunner(t *testing.T, withBrowser bool) *flows.Runner {
	r := itTappedRunner(itLookupFrom(lopSecretEnv, nil))
	if withBrowser {
		r.Browsers = browser.NewPool(browser.PoolOptions{ExecPath: lopChromium, Max: 2, TempDir: t.TempDir()})
	}
	return r
}

// lopProvider starts the Node IdP with keys of its own and no static OTP
// (only carol's real TOTP is accepted).
func lopProvider(t *testing.T, env map[string]string) *testenv.NodeIdP {
	t.Helper()
	merged := map[string]string{"KEY_DIR": t.TempDir(), "STATIC_OTP": "off", "DEVICE_INTERVAL": "1"}
	for k, v := range env {
		merged[k] = v
	}
	return testenv.NodeOIDCProvider(t, merged)
}

// lopNeedChromium skips without Chromium, and fails under CI (as
// internal/statuspage's browser test does).
func lopNeedChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(lopChromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("no Chromium at %s: %v", lopChromium, err)
	}
}

// lopExchanged reports whether the step made a request method to a URL
// whose path ends with suffix.
func lopExchanged(s *flows.StepResult, method, suffix string) bool {
	for _, ex := range s.Exchanges {
		u, err := url.Parse(ex.URL)
		if err == nil && ex.Method == method && strings.HasSuffix(u.Path, suffix) {
			return true
		}
	}
	return false
}

func lopExchanges(s *flows.StepResult) string {
	var b strings.Builder
	for _, ex := range s.Exchanges {
		fmt.Fprintf(&b, "  %s %s -> %d\n", ex.Method, ex.URL, ex.Status)
	}
	return b.String()
}

// lopCanary keeps every result of a test, every token value a passing
// flow handed to the API, and every token and credential the runners'
// flows received or sent (itReceived); at the end of the test none of the
// secrets and none of the tokens may appear in any rendering of any result.
type lopCanary struct {
	mu      sync.Mutex
	results []*flows.Result
	tokens  []string
}

func lopNewCanary(t *testing.T) *lopCanary {
	c := &lopCanary{}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.results) == 0 {
			return
		}
		secrets := slices.Collect(func(yield func(string) bool) {
			for _, v := range lopSecretEnv {
				if !yield(v) {
					return
				}
			}
		})
		secrets = append(secrets, c.tokens...)
		itAssertNoSecrets(t, secrets, c.results...)
	})
	return c
}

func (c *lopCanary) add(res *flows.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.results = append(c.results, res)
}

func (c *lopCanary) addTokens(vs ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range vs {
		if v != "" && !slices.Contains(c.tokens, v) {
			c.tokens = append(c.tokens, v)
		}
	}
}

func (c *lopCanary) tokenCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tokens)
}

func (c *lopCanary) run(t *testing.T, r *flows.Runner, yaml string) *flows.Result {
	t.Helper()
	res := itRunYAML(t, r, yaml)
	c.add(res)
	c.addTokens(itReceived(r)...)
	return res
}

// lopAPI is a tiny resource server: /orders wants a Bearer JWT signed by
// the IdP's key (checked against its JWKS) whose aud is the API resource;
// /sink takes a form of token values the flow published. Every token it
// sees goes to the canary.
type lopAPI struct {
	URL    string
	canary *lopCanary
	mu     sync.Mutex
	calls  int
}

func lopStartAPI(t *testing.T, p *testenv.NodeIdP, canary *lopCanary) *lopAPI {
	t.Helper()
	resp, err := http.Get(p.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.JWKSURI == "" {
		t.Fatalf("discovery of %s: %v (jwks_uri %q)", p.URL, err, doc.JWKSURI)
	}
	keys := oidc.NewRemoteKeySet(context.Background(), doc.JWKSURI)
	api := &lopAPI{canary: canary}
	mux := http.NewServeMux()
	mux.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orders"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		canary.addTokens(raw)
		payload, err := keys.VerifySignature(r.Context(), raw)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="signature"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var claims struct {
			Aud   any    `json:"aud"`
			Sub   string `json:"sub"`
			Scope string `json:"scope"`
		}
		_ = json.Unmarshal(payload, &claims)
		if !strings.Contains(fmt.Sprint(claims.Aud), itApiResource) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="audience"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		api.mu.Lock()
		api.calls++
		api.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": claims.Sub, "scope": claims.Scope})
	})
	mux.HandleFunc("/sink", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, vs := range r.PostForm {
			canary.addTokens(vs...)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	api.URL = srv.URL
	return api
}

func (a *lopAPI) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// lopLogin is a flow with one login step against issuer; extra is YAML
// indented under the step (4 spaces).
func lopLogin(name, issuer, extra string) string {
	return fmt.Sprintf(`
name: %s
every: 1m
steps:
  - id: login
    kind: login
    issuer: "%s"
    redirect_uri: %s
    timeout: 20s
%s`, name, issuer, lopCallback, extra)
}

const lopAlice = `    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: alice
    password: ${env:ALICE_PASSWORD}
`

const lopCarol = `    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: carol
    password: ${env:CAROL_PASSWORD}
`

// lopLoginAPIRefresh is the whole "log in, call the API, refresh" flow:
// login with a JWT access token for the API resource, the API call, a
// token_check of the access token, a refresh, and a step that hands the
// tokens to the sink (for the canary).
func lopLoginAPIRefresh(name, issuer, apiURL, client string) string {
	return fmt.Sprintf(`
name: %[1]s
every: 1m
steps:
  - id: login
    kind: login
    issuer: "%[2]s"
    redirect_uri: %[4]s
    timeout: 20s
%[5]s    username: alice
    password: ${env:ALICE_PASSWORD}
    scopes: [openid, profile, offline_access, "api:read"]
    resource: ["%[6]s"]
    expect:
      refresh_token: true
      access_token: {audience: ["%[6]s"], scopes: ["api:read"]}
  - id: orders
    kind: http
    url: %[3]s/orders
    auth: {bearer: "${steps.login.access_token}", audience: "%[6]s"}
    expect:
      status: 200
      json:
        - {path: .sub, equals: alice}
  - id: access_token
    kind: token_check
    token: ${steps.login.access_token}
    issuer: "%[2]s"
    expect: {kind: access, audience: ["%[6]s"], scopes: ["api:read"], claims: {sub: alice}}
  - id: refresh
    kind: refresh
    issuer: "%[2]s"
%[5]s    refresh_token: ${steps.login.refresh_token}
    resource: ["%[6]s"]
    expect:
      refresh_token: true
      access_token: {audience: ["%[6]s"]}
  - id: orders_after_refresh
    kind: http
    url: %[3]s/orders
    auth: {bearer: "${steps.refresh.access_token}"}
    expect: {status: 200}
  - id: sink
    kind: http
    method: POST
    url: %[3]s/sink
    headers: {Content-Type: application/x-www-form-urlencoded}
    body: "id_token=${steps.login.id_token}&refresh_token=${steps.login.refresh_token}&refresh2=${steps.refresh.refresh_token}&access2=${steps.refresh.access_token}&id2=${steps.refresh.id_token}"
    expect: {status: 200}
`, name, issuer, apiURL, lopCallback, client, itApiResource)
}

// TestOIDCProviderLoginDefaultIdP runs the login step against one default
// IdP (one login page, automatic consent): the whole login, API and refresh
// flow for a confidential and a public client, userinfo, carol's TOTP,
// every way the login pages refuse, a proxy that drops state from the
// redirect to the callback; the device grant; and browser mode.
//
// proves: mfa_required, login_rejected, account_locked, redirect_uri_mismatch, state_mismatch
func TestOIDCProviderLoginDefaultIdP(t *testing.T) {
	t.Parallel()
	p := lopProvider(t, nil)
	canary := lopNewCanary(t)
	api := lopStartAPI(t, p, canary)
	r := lopRunner(t, false)

	t.Run("login_api_refresh_confidential", func(t *testing.T) {
		t.Parallel()
		before := api.callCount()
		res := canary.run(t, r, lopLoginAPIRefresh("login-api-refresh", p.Issuer, api.URL, `    client_id: app-client
    client_secret: ${env:APP_SECRET}
`))
		itMustPass(t, res)
		if n := canary.tokenCount(); n < 5 {
			t.Errorf("the canary holds %d token values; want the access, ID and refresh tokens of the login and the refresh", n)
		}
		if got := api.callCount() - before; got < 2 {
			t.Errorf("the API saw %d authorised calls, want 2", got)
		}
		login := itStep(t, res, "login")
		if len(login.Exchanges) < 4 {
			t.Errorf("login recorded %d exchanges; want the authorization request, the pages, the token request and userinfo:\n%s", len(login.Exchanges), itDescribe(res))
		}
		if !lopExchanged(login, "POST", "/token") {
			t.Errorf("login recorded no token request:\n%s", lopExchanges(login))
		}
	})

	t.Run("userinfo", func(t *testing.T) {
		t.Parallel()
		// Without a resource the access token is opaque and meant for
		// the IdP itself: userinfo takes it, and its sub is the ID token's.
		res := canary.run(t, r, lopLogin("login-userinfo", p.Issuer, lopAlice+`    scopes: [openid, profile, email]
    userinfo: true
    expect: {id_token: {claims: {sub: alice}}}
`))
		itMustPass(t, res)
		if login := itStep(t, res, "login"); !lopExchanged(login, "GET", "/me") {
			t.Errorf("userinfo was not called:\n%s", lopExchanges(login))
		}
	})

	t.Run("signed_userinfo", func(t *testing.T) {
		t.Parallel()
		// A client registered for signed userinfo: the answer is a JWT
		// that must verify with the IdP's key and name the client as aud.
		res := canary.run(t, r, lopLogin("login-signed-userinfo", p.Issuer, `    client_id: signed-userinfo-client
    client_auth: none
    username: alice
    password: ${env:ALICE_PASSWORD}
    scopes: [openid, profile]
    userinfo: true
`))
		itMustPass(t, res)
		login := itStep(t, res, "login")
		signed := false
		for _, ex := range login.Exchanges {
			if strings.HasSuffix(ex.URL, "/me") {
				signed = strings.HasPrefix(strings.Join(ex.ResponseHeaders["Content-Type"], ""), "application/jwt")
			}
		}
		if !signed {
			t.Errorf("userinfo did not answer application/jwt:\n%s", lopExchanges(login))
		}
	})

	t.Run("login_api_refresh_public_client", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLoginAPIRefresh("login-api-refresh-public", p.Issuer, api.URL, `    client_id: public-client
    client_auth: none
`))
		itMustPass(t, res)
	})

	t.Run("carol_totp", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("carol-totp", p.Issuer, lopCarol+"    totp_secret: ${env:CAROL_TOTP}\n"))
		itMustPass(t, res)
	})

	t.Run("mfa_required_without_totp_secret", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("carol-no-totp", p.Issuer, lopCarol))
		f := itMustFail(t, res, "login", flows.ReasonMFARequired)
		itSummaryHas(t, f, "second-factor", "otp", "totp_secret")
	})

	t.Run("login_rejected_wrong_password", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("alice-wrong-password", p.Issuer, `    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: alice
    password: ${env:WRONG_PASSWORD}
`))
		f := itMustFail(t, res, "login", flows.ReasonLoginRejected)
		itSummaryHas(t, f, "Invalid username or password")
	})

	t.Run("login_rejected_wrong_totp", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("carol-wrong-totp", p.Issuer, lopCarol+"    totp_secret: ${env:WRONG_TOTP}\n"))
		f := itMustFail(t, res, "login", flows.ReasonLoginRejected)
		itSummaryHas(t, f, "Invalid code")
	})

	t.Run("account_locked", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("locked-user", p.Issuer, `    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: locked
    password: ${env:LOCKED_PASSWORD}
`))
		f := itMustFail(t, res, "login", flows.ReasonAccountLocked)
		itSummaryHas(t, f, "Account locked")
	})

	t.Run("mfa_required_password_expired", func(t *testing.T) {
		t.Parallel()
		// The IdP asks for a new password: the walker must stop there, in
		// both modes (submitting would change the user's password).
		for _, browserMode := range []bool{false, true} {
			extra := ""
			if browserMode {
				lopNeedChromium(t)
				extra = "    browser: true\n"
			}
			res := canary.run(t, lopRunner(t, browserMode), lopLogin("user-must-change-password", p.Issuer, `    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: expired
    password: ${env:EXPIRED_PASSWORD}
`+extra))
			f := itMustFail(t, res, "login", flows.ReasonMFARequired)
			itSummaryHas(t, f, "new password", "You need to change your password", "never changes a password")
		}
	})

	t.Run("account_disabled", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("disabled-user", p.Issuer, `    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: disabled
    password: ${env:DISABLED_PASSWORD}
`))
		f := itMustFail(t, res, "login", flows.ReasonAccountLocked)
		itSummaryHas(t, f, "Your account has been disabled")
	})

	t.Run("login_form_changed_selector", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("selector-stale", p.Issuer, lopAlice+"    form: {selector: \"form#signin-v1\"}\n"))
		f := itMustFail(t, res, "login", flows.ReasonLoginFormChanged)
		itSummaryHas(t, f, "form#signin-v1")
	})

	t.Run("login_form_changed_password_field", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("password-field-renamed", p.Issuer, lopAlice+"    form: {password_field: passwd}\n"))
		f := itMustFail(t, res, "login", flows.ReasonLoginFormChanged)
		itSummaryHas(t, f, `"passwd"`, "form.password_field", "form#login-form")
	})

	t.Run("redirect_uri_mismatch", func(t *testing.T) {
		t.Parallel()
		y := strings.Replace(lopLogin("unregistered-redirect", p.Issuer, lopAlice), lopCallback, "http://127.0.0.1/not-registered", 1)
		res := canary.run(t, r, y)
		f := itMustFail(t, res, "login", flows.ReasonRedirectURIMismatch)
		itSummaryHas(t, f, "redirect_uri")
	})

	t.Run("proxy_drops_state", func(t *testing.T) {
		t.Parallel()
		lopProxyDropsState(t, p, canary)
	})

	t.Run("state_mismatch_proxy_drops_nonce", func(t *testing.T) {
		t.Parallel()
		lopProxyDropsNonce(t, p, canary)
	})
	t.Run("device", func(t *testing.T) {
		t.Parallel()
		lopDeviceCases(t, p, canary)
	})
	t.Run("browser", func(t *testing.T) {
		t.Parallel()
		lopBrowserCases(t, p, canary, api)
	})

	// response_mode=form_post: the IdP answers with a page whose form
	// posts code and state to the redirect_uri by script. Nothing listens
	// there: the walker reads the form (HTTP) or the intercepted POST
	// (browser).
	formPost := lopAlice + "    auth_params: {response_mode: form_post}\n    expect: {refresh_token: true}\n"
	t.Run("form_post", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("form-post", p.Issuer, formPost))
		itMustPass(t, res)
		posted := false
		for _, ex := range itStep(t, res, "login").Exchanges {
			posted = posted || strings.Contains(ex.Body, "Submitting Callback")
		}
		if !posted {
			t.Errorf("the IdP did not answer with its form_post page:\n%s", lopExchanges(itStep(t, res, "login")))
		}
	})
	t.Run("form_post_browser", func(t *testing.T) {
		t.Parallel()
		lopNeedChromium(t)
		res := canary.run(t, lopRunner(t, true), lopLogin("form-post-browser", p.Issuer, formPost+"    browser: true\n"))
		itMustPass(t, res)
	})
	t.Run("form_post_denied", func(t *testing.T) {
		t.Parallel()
		// An error answered by form_post (status 400, error in the form).
		res := canary.run(t, r, lopLogin("form-post-denied", p.Issuer, lopAlice+"    auth_params: {response_mode: form_post}\n    prompt: none\n"))
		f := itMustFail(t, res, "login", flows.ReasonIdPError)
		itSummaryHas(t, f, "login_required")
	})
}

// TestOIDCProviderLoginIdentifierFirst: a username page, then a password
// page, walked without any form configuration.
func TestOIDCProviderLoginIdentifierFirst(t *testing.T) {
	t.Parallel()
	p := lopProvider(t, map[string]string{"LOGIN_STYLE": "identifier-first"})
	canary := lopNewCanary(t)
	r := lopRunner(t, false)
	res := canary.run(t, r, lopLogin("identifier-first", p.Issuer, lopAlice+"    expect: {refresh_token: true}\n"))
	itMustPass(t, res)
}

// TestOIDCProviderLoginConsentPage runs the login with CONSENT=page: the
// consent approved, not approved (the default), and denied by the user;
// and the device grant through the consent page with DEVICE_INTERVAL=2.
//
// proves: mfa_required, idp_error
func TestOIDCProviderLoginConsentPage(t *testing.T) {
	t.Parallel()
	p := lopProvider(t, map[string]string{"CONSENT": "page", "DEVICE_INTERVAL": "2"})
	canary := lopNewCanary(t)
	r := lopRunner(t, false)

	t.Run("approve", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("consent-approve", p.Issuer, lopAlice+"    form: {consent: approve}\n"))
		itMustPass(t, res)
	})
	t.Run("mfa_required_without_approve", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("consent-fail", p.Issuer, lopAlice))
		f := itMustFail(t, res, "login", flows.ReasonMFARequired)
		itSummaryHas(t, f, "consent page", "Allow", "form.consent: approve")
	})
	t.Run("idp_error_user_denies", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("consent-deny", p.Issuer, lopAlice+"    form: {consent: approve, consent_button: \"Deny\"}\n"))
		f := itMustFail(t, res, "login", flows.ReasonIdPError)
		itSummaryHas(t, f, "access_denied", "End-User denied")
		itFactIs(t, f, "error", "access_denied")
	})
	t.Run("device_pass", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopDevice("device-consent-approve", p.Issuer, lopDeviceClient+`    username: alice
    password: ${env:ALICE_PASSWORD}
`))
		itMustPass(t, res)
		lopCheckPolls(t, res, 2*time.Second)
	})
	t.Run("device_idp_error_user_denies", func(t *testing.T) {
		t.Parallel()
		// "Continue" for the verification and confirmation pages, "Deny"
		// for the consent: the device's next poll gets access_denied.
		res := canary.run(t, r, lopDevice("device-consent-deny", p.Issuer, lopDeviceClient+`    username: alice
    password: ${env:ALICE_PASSWORD}
    form: {consent_button: "Deny|Continue"}
`))
		f := itMustFail(t, res, "device", flows.ReasonIdPError)
		itSummaryHas(t, f, "access_denied")
		itFactIs(t, f, "error", "access_denied")
	})
}

// TestOIDCProviderLoginSPA: a login page built by JavaScript has no form
// for the HTTP walker, which says the page needs browser: true; browser
// mode logs in through it.
//
// proves: login_form_changed
func TestOIDCProviderLoginSPA(t *testing.T) {
	t.Parallel()
	p := lopProvider(t, map[string]string{"LOGIN_STYLE": "spa"})
	canary := lopNewCanary(t)

	t.Run("http_walker_finds_no_form", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, lopRunner(t, false), lopLogin("spa-no-browser", p.Issuer, lopAlice))
		f := itMustFail(t, res, "login", flows.ReasonLoginFormChanged)
		itSummaryHas(t, f, "needs JavaScript", "no forms", "set browser: true")
	})
	t.Run("browser", func(t *testing.T) {
		t.Parallel()
		lopNeedChromium(t)
		res := canary.run(t, lopRunner(t, true), lopLogin("spa-browser", p.Issuer, lopAlice+"    browser: true\n    expect: {refresh_token: true}\n"))
		itMustPass(t, res)
	})
}

// lopBrowserCases run browser mode against the default IdP: the whole
// login, API and refresh flow, a refused password and carol's TOTP.
func lopBrowserCases(t *testing.T, p *testenv.NodeIdP, canary *lopCanary, api *lopAPI) {
	lopNeedChromium(t)
	r := lopRunner(t, true)

	t.Run("login_api_refresh", func(t *testing.T) {
		t.Parallel()
		before := api.callCount()
		y := lopLoginAPIRefresh("browser-login-api-refresh", p.Issuer, api.URL, `    client_id: app-client
    client_secret: ${env:APP_SECRET}
`)
		res := canary.run(t, r, strings.Replace(y, "    timeout: 20s\n", "    timeout: 20s\n    browser: true\n", 1))
		itMustPass(t, res)
		if got := api.callCount() - before; got < 2 {
			t.Errorf("the API saw %d authorised calls, want 2", got)
		}
	})

	t.Run("login_rejected", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("browser-wrong-password", p.Issuer, `    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: alice
    password: ${env:WRONG_PASSWORD}
    browser: true
`))
		f := itMustFail(t, res, "login", flows.ReasonLoginRejected)
		itSummaryHas(t, f, "Invalid username or password")
	})
	t.Run("carol_totp", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopLogin("browser-carol-totp", p.Issuer, lopCarol+"    totp_secret: ${env:CAROL_TOTP}\n    browser: true\n"))
		itMustPass(t, res)
	})
}

// lopDevice is a flow with one device_code step.
func lopDevice(name, issuer, extra string) string {
	return fmt.Sprintf(`
name: %s
every: 1m
steps:
  - id: device
    kind: device_code
    issuer: "%s"
    scopes: [openid, offline_access]
    timeout: 30s
%s`, name, issuer, extra)
}

const lopDeviceClient = `    client_id: device-client
    client_auth: none
`

// lopDeviceCases run the device authorization grant: the
// public and the confidential device client, carol with her TOTP, and a
// user who aborts the approval.
func lopDeviceCases(t *testing.T, p *testenv.NodeIdP, canary *lopCanary) {
	r := lopRunner(t, false)

	t.Run("public_client", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopDevice("device-public", p.Issuer, lopDeviceClient+`    username: alice
    password: ${env:ALICE_PASSWORD}
    expect: {refresh_token: true}
`))
		itMustPass(t, res)
	})
	t.Run("confidential_client", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopDevice("device-app", p.Issuer, `    client_id: device-app
    client_secret: ${env:DEVICE_SECRET}
    username: alice
    password: ${env:ALICE_PASSWORD}
    expect: {refresh_token: true}
`))
		itMustPass(t, res)
	})
	t.Run("carol_totp", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopDevice("device-carol", p.Issuer, lopDeviceClient+`    username: carol
    password: ${env:CAROL_PASSWORD}
    totp_secret: ${env:CAROL_TOTP}
`))
		itMustPass(t, res)
	})
	t.Run("idp_error_user_aborts", func(t *testing.T) {
		t.Parallel()
		res := canary.run(t, r, lopDevice("device-abort", p.Issuer, lopDeviceClient+`    username: alice
    password: ${env:ALICE_PASSWORD}
    form: {consent_button: "Abort"}
`))
		f := itMustFail(t, res, "device", flows.ReasonIdPError)
		itSummaryHas(t, f, "access_denied")
	})
}

// lopCheckPolls checks the device step's polls: none answered slow_down,
// and they were spaced by at least interval.
func lopCheckPolls(t *testing.T, res *flows.Result, interval time.Duration) {
	t.Helper()
	step := itStep(t, res, "device")
	polls := 0
	var answers []string
	for _, ex := range step.Exchanges {
		if strings.HasSuffix(ex.URL, "/token") {
			polls++
			answers = append(answers, fmt.Sprintf("%d %s", ex.Status, ex.Body))
		}
	}
	if polls == 0 {
		t.Fatalf("no token polls recorded:\n%s", itDescribe(res))
	}
	if least := time.Duration(polls-1) * interval; step.Duration < least {
		t.Errorf("%d polls within %s; the interval is %s, so they needed at least %s", polls, step.Duration, interval, least)
	}
	for _, a := range answers {
		if strings.Contains(a, "slow_down") {
			t.Errorf("the IdP answered slow_down: the step polled faster than the interval: %q", answers)
		}
	}
	t.Logf("%d token polls in %s", polls, step.Duration.Round(time.Millisecond))
}

// TestOIDCProviderLoginTokenEndpointOtherNode puts two IdP nodes with the
// same keys and the same issuer behind nginx, with /token routed to the
// second node: the code the first node issued means nothing to the second
// (no shared storage), as with a load balancer without sticky sessions or
// shared state.
//
// proves: invalid_grant
func TestOIDCProviderLoginTokenEndpointOtherNode(t *testing.T) {
	t.Parallel()
	portA, portB := testenv.FreePort(t), testenv.FreePort(t)
	for portB == portA {
		portB = testenv.FreePort(t)
	}
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}};
        proxy_set_header Host $http_host;
        location /token { proxy_pass http://127.0.0.1:%d; }
        location / { proxy_pass http://127.0.0.1:%d; }
    }`, portB, portA))
	keys := t.TempDir()
	env := func(port int) map[string]string {
		return map[string]string{"PORT": fmt.Sprint(port), "ISSUER": ngx.URL(0), "KEY_DIR": keys, "KEY_SET": "a"}
	}
	a := lopProvider(t, env(portA))
	b := lopProvider(t, env(portB))
	if a.Issuer != b.Issuer {
		t.Fatalf("the nodes announce %q and %q; want one issuer", a.Issuer, b.Issuer)
	}
	canary := lopNewCanary(t)
	r := lopRunner(t, false)
	res := canary.run(t, r, lopLogin("token-other-node", ngx.URL(0), lopAlice))
	f := itMustFail(t, res, "login", flows.ReasonInvalidGrant)
	itSummaryHas(t, f, "invalid_grant")
	itFactIs(t, f, "error", "invalid_grant")
	if next := f.NextStep(); !strings.Contains(next, "another IdP node") || strings.Contains(next, "password") {
		t.Errorf("the next step for a refused code: %q", next)
	}
}

// lopLoginThroughProxy runs alice's login with the authorization request
// sent through nginx in front of the IdP; locations are the server's
// directives, %[1]s the IdP's host:port.
func lopLoginThroughProxy(t *testing.T, p *testenv.NodeIdP, canary *lopCanary, name, locations string) *flows.Result {
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}};
        proxy_set_header Host $http_host;
`+locations+`
    }`, u.Host))
	return canary.run(t, lopRunner(t, false), lopLogin(name, p.Issuer, lopAlice+"    authorization_url: "+ngx.URL(0)+"/auth\n"))
}

// lopProxyDropsState: a proxy_redirect that rewrites the redirect to the
// callback and loses its state parameter.
func lopProxyDropsState(t *testing.T, p *testenv.NodeIdP, canary *lopCanary) {
	res := lopLoginThroughProxy(t, p, canary, "proxy-drops-state", `
        # A "cleanup" of the callback URL that keeps code and drops the rest.
        proxy_redirect ~^(http://127\.0\.0\.1/callback\?)(?:.*&)?(code=[^&]*).*$ $1$2;
        location / { proxy_pass http://%[1]s; }`)
	f := itMustFail(t, res, "login", flows.ReasonStateMismatch)
	itSummaryHas(t, f, "no state", "proxy")
}

// lopProxyDropsNonce: a query "allowlist" in front of the authorization
// endpoint that forgets nonce: the IdP issues an ID token without one,
// which cannot be told from a replayed token.
func lopProxyDropsNonce(t *testing.T, p *testenv.NodeIdP, canary *lopCanary) {
	res := lopLoginThroughProxy(t, p, canary, "proxy-drops-nonce", `
        location = /auth {
            # Drops nonce=... wherever it is in the query.
            if ($args ~ "^(.*?)&?\bnonce=[^&]*(.*)$") { set $args $1$2; }
            proxy_pass http://%[1]s;
        }
        location / { proxy_pass http://%[1]s; }`)
	f := itMustFail(t, res, "login", flows.ReasonStateMismatch)
	itSummaryHas(t, f, "ID token carries no nonce")
}
