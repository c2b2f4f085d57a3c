package testenv_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/testenv"
)

const (
	apiResource     = "https://api.example.test/"
	billingResource = "https://billing.example.test/"
)

var client = &http.Client{Timeout: 10 * time.Second}

// tokenRequest posts form to the token endpoint, with HTTP Basic client
// authentication when user is not empty, and returns the status and JSON.
func tokenRequest(t *testing.T, idp *testenv.NodeIdP, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, idp.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response (status %d) is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

func getJSON(t *testing.T, u string) (map[string]any, http.Header) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return body, resp.Header
}

// decodeJWT returns a JWT's header and payload, unverified.
func decodeJWT(t *testing.T, token string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %d parts", len(parts))
	}
	decode := func(s string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWT part: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("JWT part: %v", err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}

func jwksKids(t *testing.T, idp *testenv.NodeIdP) []string {
	t.Helper()
	disc, _ := getJSON(t, idp.URL+"/.well-known/openid-configuration")
	jwks, _ := getJSON(t, disc["jwks_uri"].(string))
	var kids []string
	for _, k := range jwks["keys"].([]any) {
		kids = append(kids, k.(map[string]any)["kid"].(string))
	}
	return kids
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// clientCredentials gets a JWT access token for resource and returns its
// header and payload.
func clientCredentials(t *testing.T, idp *testenv.NodeIdP, resource, scope string) (map[string]any, map[string]any, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	if scope != "" {
		form.Set("scope", scope)
	}
	status, body := tokenRequest(t, idp, "cc-client", "cc-secret", form)
	if status != http.StatusOK {
		t.Fatalf("client_credentials: status %d: %v", status, body)
	}
	header, payload := decodeJWT(t, body["access_token"].(string))
	return body, header, payload
}

// assertGroupGone checks that no live process is left in the group that a
// provider's cleanup stopped.
func assertGroupGone(t *testing.T, pgid int) {
	t.Helper()
	if alive := testenv.LiveGroupMembers(pgid); len(alive) > 0 {
		t.Errorf("processes %v of group %d outlived cleanup", alive, pgid)
	}
	if err := syscall.Kill(pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v, want ESRCH", pgid, err)
	}
}

func TestNodeOIDCProviderClientCredentials(t *testing.T) {
	var pgid int
	t.Run("provider", func(t *testing.T) {
		idp := testenv.NodeOIDCProvider(t, nil)
		pgid = idp.Cmd.Process.Pid

		disc, _ := getJSON(t, idp.URL+"/.well-known/openid-configuration")
		if disc["issuer"] != idp.Issuer {
			t.Errorf("discovery issuer %v, want %s", disc["issuer"], idp.Issuer)
		}
		if disc["token_endpoint"] != idp.URL+"/token" {
			t.Errorf("token_endpoint %v", disc["token_endpoint"])
		}

		body, header, payload := clientCredentials(t, idp, apiResource, "api:read api:write")
		if header["alg"] != "RS256" || header["typ"] != "at+jwt" {
			t.Errorf("JWT header %v, want alg RS256 typ at+jwt", header)
		}
		if payload["aud"] != apiResource {
			t.Errorf("aud %v, want %s", payload["aud"], apiResource)
		}
		if payload["scope"] != "api:read api:write" || body["scope"] != "api:read api:write" {
			t.Errorf("scope: token %v, response %v", payload["scope"], body["scope"])
		}
		if payload["iss"] != idp.Issuer || payload["client_id"] != "cc-client" || payload["sub"] != "cc-client" {
			t.Errorf("claims %v", payload)
		}
		if kid, _ := header["kid"].(string); !contains(jwksKids(t, idp), kid) {
			t.Errorf("kid %q not in JWKS", kid)
		}
		iat, _ := payload["iat"].(float64)
		if d := time.Since(time.Unix(int64(iat), 0)); d < -time.Minute || d > time.Minute {
			t.Errorf("iat is %s away from now", d)
		}

		// client_secret_post and the second resource.
		status, post := tokenRequest(t, idp, "", "", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"cc-post-client"}, "client_secret": {"cc-post-secret"},
			"resource": {billingResource}, "scope": {"billing:read"},
		})
		if status != http.StatusOK {
			t.Fatalf("client_secret_post: status %d: %v", status, post)
		}
		if _, p := decodeJWT(t, post["access_token"].(string)); p["aud"] != billingResource || p["scope"] != "billing:read" {
			t.Errorf("billing token claims %v", p)
		}

		if len(testenv.LiveGroupMembers(pgid)) == 0 {
			t.Errorf("no live process found in group %d while running", pgid)
		}
	})
	if pgid != 0 {
		assertGroupGone(t, pgid)
	}
}

// TestNodeOIDCProviderErrors pins what oidc-provider answers to requests that
// authwatch must classify.
func TestNodeOIDCProviderErrors(t *testing.T) {
	idp := testenv.NodeOIDCProvider(t, nil)
	cc := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	cases := []struct {
		name       string
		user, pass string
		form       url.Values
		status     int
		errCode    string
	}{
		{"wrong secret", "cc-client", "wrong", cc(nil), 401, "invalid_client"},
		{"unknown client", "nobody", "x", cc(nil), 401, "invalid_client"},
		{"scope not allowed for client", "cc-read-client", "cc-read-secret", cc(url.Values{"scope": {"api:read api:write"}, "resource": {apiResource}}), 400, "invalid_scope"},
		{"unknown resource", "cc-client", "cc-secret", cc(url.Values{"resource": {"https://unknown.example.test/"}}), 400, "invalid_target"},
		{"two resources", "cc-client", "cc-secret", cc(url.Values{"resource": {apiResource, billingResource}}), 400, "invalid_target"},
		{"password grant", "app-client", "app-secret", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}}, 400, "unsupported_grant_type"},
		// oidc-provider answers invalid_request here, not RFC 6749's unauthorized_client.
		{"grant not allowed for client", "no-cc-client", "no-cc-secret", cc(nil), 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tokenRequest(t, idp, tc.user, tc.pass, tc.form)
			if status != tc.status || body["error"] != tc.errCode {
				t.Errorf("got %d %v, want %d %s", status, body, tc.status, tc.errCode)
			}
		})
	}

	t.Run("unknown scope is dropped, not refused", func(t *testing.T) {
		body, _, payload := clientCredentials(t, idp, apiResource, "api:read api:delete")
		if payload["scope"] != "api:read" || body["scope"] != "api:read" {
			t.Errorf("scope: token %v, response %v", payload["scope"], body["scope"])
		}
	})
}

func TestNodeOIDCProviderFaketime(t *testing.T) {
	var pgid int
	t.Run("provider", func(t *testing.T) {
		idp := testenv.NodeOIDCProvider(t, nil, testenv.Faketime(t, "+2h")...)
		pgid = idp.Cmd.Process.Pid

		_, _, payload := clientCredentials(t, idp, apiResource, "api:read")
		iat, _ := payload["iat"].(float64)
		skew := time.Until(time.Unix(int64(iat), 0))
		if skew < 2*time.Hour-time.Minute || skew > 2*time.Hour+time.Minute {
			t.Errorf("iat is %s ahead of this clock, want about 2h", skew.Round(time.Second))
		}
		if exp, _ := payload["exp"].(float64); exp-iat != 3600 {
			t.Errorf("exp-iat = %v, want 3600", exp-iat)
		}

		_, hdr := getJSON(t, idp.URL+"/jwks")
		date, err := http.ParseTime(hdr.Get("Date"))
		if err != nil {
			t.Fatalf("Date header %q: %v", hdr.Get("Date"), err)
		}
		if d := time.Until(date); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
			t.Errorf("Date header is %s ahead, want about 2h", d.Round(time.Second))
		}
	})
	if pgid != 0 {
		assertGroupGone(t, pgid)
	}
}

func TestNodeOIDCProviderShortTTL(t *testing.T) {
	idp := testenv.NodeOIDCProvider(t, map[string]string{"ACCESS_TOKEN_TTL": "2"})
	body, _, payload := clientCredentials(t, idp, apiResource, "api:read")
	if body["expires_in"] != float64(2) {
		t.Errorf("expires_in %v, want 2", body["expires_in"])
	}
	if payload["exp"].(float64)-payload["iat"].(float64) != 2 {
		t.Errorf("exp-iat = %v, want 2", payload["exp"].(float64)-payload["iat"].(float64))
	}
}

func TestNodeOIDCProviderKeyRotation(t *testing.T) {
	keyDir := t.TempDir()
	start := func(t *testing.T, keySet string) (kid string, jwks []string) {
		idp := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": keyDir, "KEY_SET": keySet})
		_, header, _ := clientCredentials(t, idp, apiResource, "")
		return header["kid"].(string), jwksKids(t, idp)
	}

	var kidA, kidAAgain, kidB, kidBA string
	var jwksB, jwksBA []string
	t.Run("a", func(t *testing.T) { kidA, _ = start(t, "a") })
	t.Run("a again", func(t *testing.T) { kidAAgain, _ = start(t, "a") })
	t.Run("b", func(t *testing.T) { kidB, jwksB = start(t, "b") })
	t.Run("b,a", func(t *testing.T) { kidBA, jwksBA = start(t, "b,a") })
	if t.Failed() {
		return
	}
	if kidA != kidAAgain {
		t.Errorf("KEY_SET=a gave kid %s, then %s; want the same key across restarts", kidA, kidAAgain)
	}
	if kidB == kidA || contains(jwksB, kidA) {
		t.Errorf("KEY_SET=b: kid %s, JWKS %v; want no trace of key a (%s)", kidB, jwksB, kidA)
	}
	if kidBA != kidB || !contains(jwksBA, kidA) {
		t.Errorf("KEY_SET=b,a: signs with %s and publishes %v; want signing by %s and key %s published", kidBA, jwksBA, kidB, kidA)
	}

	// JWKS_KEYS: a file of private JWKs.
	raw, err := os.ReadFile(filepath.Join(keyDir, "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]any
	if err := json.Unmarshal(raw, &key); err != nil {
		t.Fatal(err)
	}
	key["kid"] = "from-jwks-file"
	file := filepath.Join(t.TempDir(), "jwks.json")
	data, _ := json.Marshal(map[string]any{"keys": []any{key}})
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	idp := testenv.NodeOIDCProvider(t, map[string]string{"JWKS_KEYS": file})
	if _, header, _ := clientCredentials(t, idp, apiResource, ""); header["kid"] != "from-jwks-file" {
		t.Errorf("JWKS_KEYS: kid %v, want from-jwks-file", header["kid"])
	}
}

func TestNodeOIDCProviderIssuerOverride(t *testing.T) {
	idp := testenv.NodeOIDCProvider(t, map[string]string{"ISSUER": "http://issuer.example.test:{port}"})
	if !strings.HasPrefix(idp.Issuer, "http://issuer.example.test:") || !strings.HasPrefix(idp.URL, "http://127.0.0.1:") {
		t.Fatalf("Issuer %s, URL %s", idp.Issuer, idp.URL)
	}
	disc, _ := getJSON(t, idp.URL+"/.well-known/openid-configuration")
	if disc["issuer"] != idp.Issuer || disc["token_endpoint"] != idp.URL+"/token" {
		t.Errorf("issuer %v, token_endpoint %v", disc["issuer"], disc["token_endpoint"])
	}
}

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)

// browser is a cookie-keeping client that stops at the redirect to the
// client's callback.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

func readPage(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// authorize starts an authorization code + PKCE request and returns the
// login form's absolute action URL and the code verifier.
func authorize(t *testing.T, idp *testenv.NodeIdP, b *http.Client, redirectURI string) (action, verifier string) {
	t.Helper()
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(buf)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id":             {"app-client"},
		"response_type":         {"code"},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid email api:read"},
		"resource":              {apiResource},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"state":                 {"state-1"},
	}
	resp, err := b.Get(idp.URL + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page := readPage(t, resp)
	m := formAction.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(page, `name="login"`) || !strings.Contains(page, `name="password"`) {
		t.Fatalf("no login form (status %d):\n%s", resp.StatusCode, page)
	}
	return idp.URL + html.UnescapeString(m[1]), verifier
}

func TestNodeOIDCProviderAuthCodePKCE(t *testing.T) {
	idp := testenv.NodeOIDCProvider(t, nil)
	redirectURI := "http://127.0.0.1:" + "49152" + "/callback" // any loopback port matches

	login := func(b *http.Client, action, user, pass string) *http.Response {
		t.Helper()
		resp, err := b.PostForm(action, url.Values{"login": {user}, "password": {pass}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	b := browser(t)
	action, verifier := authorize(t, idp, b, redirectURI)
	for _, c := range []struct{ user, pass, want string }{
		{"alice", "wrong", "Invalid username or password"},
		{"nobody", "x", "Invalid username or password"},
		{"locked", "locked-password", "Account locked"},
	} {
		if page := readPage(t, login(b, action, c.user, c.pass)); !strings.Contains(page, c.want) {
			t.Errorf("login %s/%s: page lacks %q:\n%s", c.user, c.pass, c.want, page)
		}
	}
	resp := login(b, action, "alice", "alice-password")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after login: status %d, want 303 to the callback", resp.StatusCode)
	}
	cb, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	code := cb.Query().Get("code")
	if code == "" || cb.Query().Get("state") != "state-1" || cb.Query().Get("iss") != idp.Issuer {
		t.Fatalf("callback %s", cb)
	}

	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	status, tok := tokenRequest(t, idp, "app-client", "app-secret", exchange)
	if status != 200 {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	if _, p := decodeJWT(t, tok["access_token"].(string)); p["aud"] != apiResource || p["sub"] != "alice" || p["scope"] != "api:read" {
		t.Errorf("access token claims %v", p)
	}
	if _, p := decodeJWT(t, tok["id_token"].(string)); p["aud"] != "app-client" || p["email"] != "alice@example.test" {
		t.Errorf("id token claims %v", p)
	}

	// Refresh with rotation: the new token works once, the old one is refused.
	rt1 := tok["refresh_token"].(string)
	status, tok2 := tokenRequest(t, idp, "app-client", "app-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if status != 200 || tok2["refresh_token"] == nil || tok2["refresh_token"] == rt1 {
		t.Fatalf("refresh: %d %v, want a new refresh token", status, tok2)
	}
	if status, body := tokenRequest(t, idp, "app-client", "app-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("rotated-out refresh token: %d %v, want invalid_grant", status, body)
	}
	// Presenting a rotated-out refresh token revokes the whole grant, so the
	// current one is refused too.
	if status, body := tokenRequest(t, idp, "app-client", "app-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2["refresh_token"].(string)}}); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh token after reuse of its predecessor: %d %v, want invalid_grant", status, body)
	}
	// A used code is refused (and, had the grant still been live, it would
	// revoke the tokens issued from it).
	if status, body := tokenRequest(t, idp, "app-client", "app-secret", exchange); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("reused code: %d %v, want invalid_grant", status, body)
	}

	// Revocation: a revoked refresh token of a fresh login is refused.
	b2 := browser(t)
	action, verifier = authorize(t, idp, b2, redirectURI)
	resp = login(b2, action, "alice", "alice-password")
	resp.Body.Close()
	cb, _ = resp.Location()
	exchange = url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if status, tok = tokenRequest(t, idp, "app-client", "app-secret", exchange); status != 200 {
		t.Fatalf("second code exchange: %d %v", status, tok)
	}
	rt := tok["refresh_token"].(string)
	req, _ := http.NewRequest(http.MethodPost, idp.URL+"/token/revocation", strings.NewReader(url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app-client", "app-secret")
	rresp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rresp.Body.Close()
	if rresp.StatusCode != 200 {
		t.Errorf("revocation: status %d", rresp.StatusCode)
	}
	if status, body := tokenRequest(t, idp, "app-client", "app-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("revoked refresh token: %d %v, want invalid_grant", status, body)
	}

	// PKCE verifier mismatch.
	b3 := browser(t)
	action, _ = authorize(t, idp, b3, redirectURI)
	resp = login(b3, action, "alice", "alice-password")
	resp.Body.Close()
	cb, _ = resp.Location()
	exchange = url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if status, body := tokenRequest(t, idp, "app-client", "app-secret", exchange); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("PKCE mismatch: %d %v, want invalid_grant", status, body)
	}
}

func TestNodeOIDCProviderMFAUser(t *testing.T) {
	idp := testenv.NodeOIDCProvider(t, nil)
	b := browser(t)
	action, _ := authorize(t, idp, b, "http://127.0.0.1:5000/callback")
	resp, err := b.PostForm(action, url.Values{"login": {"carol"}, "password": {"carol-password"}})
	if err != nil {
		t.Fatal(err)
	}
	page := readPage(t, resp)
	m := formAction.FindStringSubmatch(page)
	if !strings.Contains(page, "Two-step verification") || !strings.Contains(page, `name="otp"`) || m == nil {
		t.Fatalf("no one-time code form:\n%s", page)
	}
	resp, err = b.PostForm(idp.URL+html.UnescapeString(m[1]), url.Values{"otp": {"123456"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("after one-time code: status %d, location %v", resp.StatusCode, loc)
	}
}

// recordingTB records Fatalf and Skipf and ends the goroutine as they do.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestRequireAndHelpers(t *testing.T) {
	root := testenv.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot %s: %v", root, err)
	}
	if p := testenv.FreePort(t); p <= 0 || p > 65535 {
		t.Fatalf("FreePort %d", p)
	}
	testenv.Require(t, "sh")

	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recordingTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			testenv.Require(r, "faketime-no-such-tool")
		}()
		<-done
		if ci == "" && (r.skip == "" || r.fatal != "") {
			t.Errorf("CI unset: skip %q, fatal %q; want a skip", r.skip, r.fatal)
		}
		if ci != "" && (r.fatal == "" || r.skip != "") {
			t.Errorf("CI set: skip %q, fatal %q; want a failure", r.skip, r.fatal)
		}
		if msg := r.skip + r.fatal; !strings.Contains(msg, "apt-get install") {
			t.Errorf("message %q names no package", msg)
		}
	}
}
