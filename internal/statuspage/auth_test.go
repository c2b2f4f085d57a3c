package statuspage

import (
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
)

const (
	testUser     = "ops"
	testPassword = "status-page-password-6b1e"
	testToken    = "status-page-bearer-token-93ad"
)

// envSecrets is a SecretSource over a map the test may change (rotation).
type envSecrets struct {
	mu sync.Mutex
	m  map[string]string
}

func (e *envSecrets) lookup(name string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[name]
	return v, ok
}

func (e *envSecrets) set(name, v string) {
	e.mu.Lock()
	e.m[name] = v
	e.mu.Unlock()
}

func authOptions(t *testing.T, basic, bearer bool) (Options, *envSecrets) {
	t.Helper()
	env := &envSecrets{m: map[string]string{"SP_PASSWORD": testPassword, "SP_TOKEN": testToken}}
	a := &AuthConfig{}
	if basic {
		a.Basic = &BasicAuth{Username: testUser, Password: conf.NewTemplate("${env:SP_PASSWORD}")}
	}
	if bearer {
		a.Bearer = conf.NewTemplate("${env:SP_TOKEN}")
	}
	if err := (Config{Auth: a}).Validate(); err != nil {
		t.Fatal(err)
	}
	return Options{Config: Config{Auth: a}, Secrets: conf.SecretSource{LookupEnv: env.lookup}}, env
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestAuthRequiredOnEveryRoute(t *testing.T) {
	_, f := sharedHandler(t)
	opts, _ := authOptions(t, true, true)
	opts.Flows = f.infos
	h := New(shared.st, opts)
	for _, path := range append(routes, "/nope", "/api/v1/nope", "/flows/no-such-flow") {
		resp, body := get(t, h, path)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, resp.StatusCode)
			continue
		}
		got := resp.Header.Values("WWW-Authenticate")
		want := []string{`Basic realm="authwatch", charset="UTF-8"`, `Bearer realm="authwatch"`}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("GET %s: WWW-Authenticate %q, want %q", path, got, want)
		}
		checkSecurityHeaders(t, path, resp)
		if resp.Header.Get("Cache-Control") == "" {
			t.Errorf("GET %s: 401 without Cache-Control", path)
		}
		for _, leak := range append(f.secrets(), "create-order", "insufficient_scope", testPassword, testToken) {
			if strings.Contains(body, leak) {
				t.Errorf("GET %s: the 401 shows %q", path, leak)
			}
		}
		if strings.HasPrefix(path, "/api/") && decode[errorJSON](t, body).Error == "" {
			t.Errorf("GET %s: 401 body %s, want a JSON error", path, body)
		}
	}
}

func TestAuthCredentials(t *testing.T) {
	_, f := sharedHandler(t)
	opts, env := authOptions(t, true, true)
	opts.Flows = f.infos
	h := New(shared.st, opts)
	cases := []struct {
		name, header string
		want         int
		challenge    string // the Bearer challenge expected on a 401
	}{
		{"basic", basicHeader(testUser, testPassword), 200, ""},
		{"basic scheme in lower case", "basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword)), 200, ""},
		{"bearer", "Bearer " + testToken, 200, ""},
		{"wrong password", basicHeader(testUser, testPassword+"x"), 401, `Bearer realm="authwatch"`},
		{"password prefix", basicHeader(testUser, testPassword[:5]), 401, `Bearer realm="authwatch"`},
		{"wrong user", basicHeader("admin", testPassword), 401, `Bearer realm="authwatch"`},
		{"empty password", basicHeader(testUser, ""), 401, `Bearer realm="authwatch"`},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+testPassword)), 401, `Bearer realm="authwatch"`},
		{"not base64", "Basic !!!", 401, `Bearer realm="authwatch"`},
		{"wrong token", "Bearer " + testToken + "x", 401, `Bearer realm="authwatch", error="invalid_token"`},
		{"empty token", "Bearer ", 401, `Bearer realm="authwatch"`},
		{"token as basic password", basicHeader(testUser, testToken), 401, `Bearer realm="authwatch"`},
		{"password as token", "Bearer " + testPassword, 401, `Bearer realm="authwatch", error="invalid_token"`},
		{"other scheme", "Digest username=ops", 401, `Bearer realm="authwatch"`},
	}
	for _, c := range cases {
		resp, _ := get(t, h, "/api/v1/flows", "Authorization", c.header)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
		if c.want == 401 {
			if got := resp.Header.Values("WWW-Authenticate"); len(got) != 2 || got[1] != c.challenge {
				t.Errorf("%s: challenges %q, want Basic and %s", c.name, got, c.challenge)
			}
		}
	}

	// Rotation: the secrets are read on every request.
	env.set("SP_PASSWORD", "rotated-password-77")
	if resp, _ := get(t, h, "/", "Authorization", basicHeader(testUser, testPassword)); resp.StatusCode != 401 {
		t.Errorf("the old password still works after rotation: %d", resp.StatusCode)
	}
	if resp, _ := get(t, h, "/", "Authorization", basicHeader(testUser, "rotated-password-77")); resp.StatusCode != 200 {
		t.Errorf("the rotated password does not work: %d", resp.StatusCode)
	}

	// A credential that cannot be read fails closed, without details.
	env.set("SP_TOKEN", "")
	resp, body := get(t, h, "/", "Authorization", "Bearer "+testToken)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "SP_TOKEN") || strings.Contains(body, testToken) {
		t.Errorf("unreadable token: %d %q, want 503 without details", resp.StatusCode, body)
	}
}

func TestAuthSingleScheme(t *testing.T) {
	_, f := sharedHandler(t)
	opts, _ := authOptions(t, false, true)
	opts.Flows = f.infos
	h := New(shared.st, opts)
	resp, _ := get(t, h, "/", "Authorization", basicHeader(testUser, testPassword))
	if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(got) != 1 || got[0] != `Bearer realm="authwatch"` {
		t.Errorf("bearer only, basic sent: %d %q", resp.StatusCode, got)
	}
	opts, _ = authOptions(t, true, false)
	opts.Flows = f.infos
	h = New(shared.st, opts)
	resp, _ = get(t, h, "/", "Authorization", "Bearer "+testToken)
	if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(got) != 1 || got[0] != `Basic realm="authwatch", charset="UTF-8"` {
		t.Errorf("basic only, bearer sent: %d %q", resp.StatusCode, got)
	}
}

func TestAuthFromFileAndCredential(t *testing.T) {
	_, f := sharedHandler(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &AuthConfig{Basic: &BasicAuth{Username: testUser, Password: conf.NewTemplate("${file:" + filepath.Join(dir, "pw") + "}")},
		Bearer: conf.NewTemplate("${credential:token}")}
	h := New(shared.st, Options{Config: Config{Auth: a}, Flows: f.infos, Secrets: conf.SecretSource{CredentialsDir: dir}})
	if resp, _ := get(t, h, "/", "Authorization", basicHeader(testUser, testPassword)); resp.StatusCode != 200 {
		t.Errorf("password from a file: %d", resp.StatusCode)
	}
	if resp, _ := get(t, h, "/", "Authorization", "Bearer "+testToken); resp.StatusCode != 200 {
		t.Errorf("token from a systemd credential: %d", resp.StatusCode)
	}
}

// secretEqual is constant-time by construction (both sides hashed with
// SHA-256, then subtle.ConstantTimeCompare on the 32-byte sums; the basic
// user and password are both compared before the result is looked at); a
// timing test would only be flaky, so this checks its answers.
func TestProtect(t *testing.T) {
	opts, _ := authOptions(t, false, true)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
	h := Protect(ok, opts.Config, opts.Secrets, nil)
	if resp, body := get(t, h, "/metrics"); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="authwatch"` || body == "metrics" {
		t.Errorf("without a token: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, h, "/metrics", "Authorization", "Bearer "+testToken); resp.StatusCode != 200 || body != "metrics" {
		t.Errorf("with the token: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, Protect(ok, Config{}, conf.SecretSource{}, nil), "/metrics"); resp.StatusCode != 200 {
		t.Errorf("no auth configured: %d", resp.StatusCode)
	}
	if got := FlowPath("team/a b"); got != "/flows/team%2Fa%20b" {
		t.Errorf("FlowPath: %q", got)
	}
}

func TestSecretEqual(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"secret", "secret", 1}, {"secret", "secreT", 0}, {"secret", "secret ", 0}, {"", "", 1}, {"", "x", 0},
		{"s", "secret", 0}, {strings.Repeat("a", 1000), strings.Repeat("a", 1000), 1}, {strings.Repeat("a", 1000), strings.Repeat("a", 999), 0},
	} {
		if got := secretEqual(c.a, c.b); got != c.want {
			t.Errorf("secretEqual(%.10q, %.10q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestRequireAuth(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9464": false, "127.0.0.53:80": false, "[::1]:9464": false, "localhost:9464": false, "LOCALHOST:1": false,
		":9464": true, "0.0.0.0:9464": true, "[::]:9464": true, "10.0.0.5:9464": true, "192.168.1.2:80": true,
		"monitor.example.com:9464": true, "127.0.0.1": true, "": true, "[::ffff:127.0.0.1]:9464": false,
	} {
		if got := RequireAuth(addr); got != want {
			t.Errorf("RequireAuth(%q) = %v, want %v", addr, got, want)
		}
	}
	var none Config
	if err := none.CheckListen("127.0.0.1:9464"); err != nil {
		t.Errorf("loopback without auth: %v", err)
	}
	err := none.CheckListen("0.0.0.0:9464")
	var fe conf.FieldError
	if !errors.As(err, &fe) || fe.Path != "auth" || !strings.Contains(err.Error(), "0.0.0.0:9464") {
		t.Errorf("0.0.0.0 without auth: %v", err)
	}
	withAuth := Config{Auth: &AuthConfig{Bearer: conf.NewTemplate("${env:X}")}}
	if err := withAuth.CheckListen("0.0.0.0:9464"); err != nil {
		t.Errorf("0.0.0.0 with auth: %v", err)
	}
}

// wrapper is how authwatch.yaml would hold the section.
type wrapper struct {
	StatusPage Config `yaml:"status_page"`
}

func (w *wrapper) Validate() error { return conf.PrefixErrors("status_page", w.StatusPage.Validate()) }

func TestConfigValidate(t *testing.T) {
	good := []string{
		"status_page: {}",
		"status_page:\n  auth:\n    bearer: ${env:TOKEN}",
		"status_page:\n  auth:\n    basic: {username: ops, password: '${credential:statuspage}'}",
		"status_page:\n  auth:\n    basic: {username: ops, password: '${file:/etc/authwatch/pw}'}\n    bearer: 'x-${env:T}'",
	}
	for _, y := range good {
		var w wrapper
		if err := conf.DecodeFile("authwatch.yaml", []byte(y), &w); err != nil {
			t.Errorf("%s\n→ %v", y, err)
		}
	}
	bad := map[string]string{
		"status_page:\n  auth: {}":                                                  "status_page.auth: give basic",
		"status_page:\n  auth:\n    bearer: hunter2":                                "status_page.auth.bearer: must be a secret reference",
		"status_page:\n  auth:\n    basic: {username: ops, password: hunter2}":      "status_page.auth.basic.password: must be a secret reference",
		"status_page:\n  auth:\n    basic: {username: ops}":                         "status_page.auth.basic.password: must not be empty",
		"status_page:\n  auth:\n    basic: {username: 'a:b', password: '${env:P}'}": "status_page.auth.basic.username: must not contain ':'",
		"status_page:\n  auth:\n    basic: {password: '${env:P}'}":                  "status_page.auth.basic.username: must not be empty",
		"status_page:\n  auth:\n    bearer: '${steps.token.access_token}'":          "status_page.auth.bearer: step outputs are not available",
		"status_page:\n  auth:\n    bearer: '${env:1BAD}'":                          "bad reference",
		"status_page:\n  auth:\n    bearer: ${env:T}\n    digest: x":                "digest",
	}
	for y, want := range bad {
		var w wrapper
		err := conf.DecodeFile("authwatch.yaml", []byte(y), &w)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\n→ %v\nwant %q", y, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the literal secret: %v", err)
		}
	}
}
