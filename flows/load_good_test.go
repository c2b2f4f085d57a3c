package flows_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

func loadGoodSet(t *testing.T, opts flows.LoadOptions, paths ...string) *flows.Set {
	t.Helper()
	set, err := flows.Load(opts, paths...)
	if err != nil {
		t.Fatalf("Load(%v): %v", paths, err)
	}
	return set
}

func loadMustFlow(t *testing.T, set *flows.Set, name string) *flows.Flow {
	t.Helper()
	f, ok := set.Flow(name)
	if !ok {
		t.Fatalf("Set.Flow(%q) not found", name)
	}
	return f
}

func loadStepKinds(f *flows.Flow) []string {
	var out []string
	for _, s := range f.Steps {
		out = append(out, s.ID+":"+s.Kind)
	}
	return out
}

func TestLoadGoodFlows(t *testing.T) {
	multidoc := filepath.Join("testdata", "load", "good-multidoc.yaml")
	list := filepath.Join("testdata", "load", "good-flows.yaml")
	set := loadGoodSet(t, flows.LoadOptions{Secrets: loadAllSet()}, multidoc, list)

	var names []string
	for _, f := range set.Flows {
		names = append(names, f.Name)
	}
	if want := []string{"orders-api", "nightly cors", "login", "api requires auth"}; !slices.Equal(names, want) {
		t.Fatalf("flows = %q, want %q (file order, then document order)", names, want)
	}
	if _, ok := set.Flow("no such flow"); ok {
		t.Error(`Set.Flow("no such flow") found a flow`)
	}

	tests := []struct {
		name      string
		flow      string
		every     time.Duration
		cron      string
		timeout   time.Duration
		skew      time.Duration
		labels    map[string]string
		steps     []string
		source    conf.Position
		stepTimes map[string]time.Duration
	}{
		{
			name: "multi-document, first", flow: "orders-api",
			every: 30 * time.Second, timeout: 20 * time.Second, skew: 2 * time.Minute,
			labels:    map[string]string{"team": "orders", "severity": "page"},
			steps:     []string{"oidc:discovery", "token:client_credentials", "list:http"},
			source:    conf.Position{File: multidoc, Line: 2, Column: 5},
			stepTimes: map[string]time.Duration{"oidc": 5 * time.Second, "token": 0, "list": 0},
		},
		{
			name: "multi-document, second, defaults", flow: "nightly cors",
			cron: "0 3 * * *", timeout: flows.DefaultTimeout, skew: flows.DefaultClockSkew,
			steps:  []string{"cors:preflight"},
			source: conf.Position{File: multidoc, Line: 25, Column: 5},
		},
		{
			name: "flows list, first", flow: "login",
			every: 5 * time.Minute, timeout: flows.DefaultTimeout, skew: flows.DefaultClockSkew,
			labels: map[string]string{"team": "identity"},
			steps:  []string{"login:password", "renew:refresh", "me:http", "profile:http"},
		},
		{
			name: "flows list, second", flow: "api requires auth",
			every: time.Minute, timeout: flows.DefaultTimeout, skew: flows.DefaultClockSkew,
			steps:     []string{"no_token:http"},
			stepTimes: map[string]time.Duration{"no_token": 3 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := loadMustFlow(t, set, tt.flow)
			if got := f.Every.Std(); got != tt.every {
				t.Errorf("Every = %v, want %v", got, tt.every)
			}
			if f.Cron != tt.cron {
				t.Errorf("Cron = %q, want %q", f.Cron, tt.cron)
			}
			if got := f.RunTimeout(); got != tt.timeout {
				t.Errorf("RunTimeout() = %v, want %v", got, tt.timeout)
			}
			if got := f.Skew(); got != tt.skew {
				t.Errorf("Skew() = %v, want %v", got, tt.skew)
			}
			if len(f.Labels) != len(tt.labels) {
				t.Errorf("Labels = %v, want %v", f.Labels, tt.labels)
			}
			for k, v := range tt.labels {
				if f.Labels[k] != v {
					t.Errorf("Labels[%q] = %q, want %q", k, f.Labels[k], v)
				}
			}
			if got := loadStepKinds(f); !slices.Equal(got, tt.steps) {
				t.Errorf("steps = %q, want %q", got, tt.steps)
			}
			// The line is what matters for messages; the column is checked
			// by TestBugPositions (it points at the first ':' today).
			if tt.source.File != "" && (f.Source.File != tt.source.File || f.Source.Line != tt.source.Line) {
				t.Errorf("Source = %v, want line %d of %s", f.Source, tt.source.Line, tt.source.File)
			}
			for _, s := range f.Steps {
				if s.Step == nil || s.Source.File == "" || s.Source.Line == 0 {
					t.Errorf("step %s: Step %v, Source %v", s.ID, s.Step, s.Source)
				}
				if want, ok := tt.stepTimes[s.ID]; ok && s.Timeout != want {
					t.Errorf("step %s: Timeout = %v, want %v", s.ID, s.Timeout, want)
				}
			}
		})
	}
}

// TestLoadGoodStepFields checks that each kind's fields decode into the
// kind's struct, with Validate's defaults applied.
func TestLoadGoodStepFields(t *testing.T) {
	set := loadGoodSet(t, flows.LoadOptions{Secrets: loadAllSet()},
		filepath.Join("testdata", "load", "good-multidoc.yaml"), filepath.Join("testdata", "load", "good-flows.yaml"))
	step := func(flow, id string) flows.Step {
		t.Helper()
		for _, s := range loadMustFlow(t, set, flow).Steps {
			if s.ID == id {
				return s.Step
			}
		}
		t.Fatalf("flow %q has no step %q", flow, id)
		return nil
	}

	t.Run("discovery", func(t *testing.T) {
		d, ok := step("orders-api", "oidc").(*flows.DiscoveryStep)
		if !ok || d.Issuer.String() != "https://idp.example.com/realms/main" {
			t.Fatalf("oidc = %#v", step("orders-api", "oidc"))
		}
	})
	t.Run("client_credentials", func(t *testing.T) {
		c, ok := step("orders-api", "token").(*flows.ClientCredentialsStep)
		if !ok {
			t.Fatalf("token is %T", step("orders-api", "token"))
		}
		if c.ClientAuth != "client_secret_post" || c.ClientID.String() != "orders-monitor" ||
			c.ClientSecret.String() != "${env:ORDERS_CLIENT_SECRET}" || !slices.Equal(c.Scopes, []string{"orders.read"}) {
			t.Errorf("token = %+v", c.TokenRequest)
		}
	})
	t.Run("http defaults and status list", func(t *testing.T) {
		h := step("orders-api", "list").(*flows.HTTPStep)
		if h.Method != "GET" {
			t.Errorf("Method = %q, want the default GET", h.Method)
		}
		if got := h.Expect.Status.Codes(); !slices.Equal(got, []int{200, 204}) {
			t.Errorf("Status = %v", got)
		}
		if h.Expect.MaxLatency.Std() != 2*time.Second {
			t.Errorf("MaxLatency = %v", h.Expect.MaxLatency)
		}
		if h.Auth == nil || h.Auth.Bearer.String() != "${steps.token.access_token}" {
			t.Errorf("Auth = %+v", h.Auth)
		}
	})
	t.Run("preflight method upper-cased", func(t *testing.T) {
		p := step("nightly cors", "cors").(*flows.PreflightStep)
		if p.Method != "POST" || p.Origin != "https://app.example.com" || !p.Credentials || !slices.Equal(p.Headers, []string{"Authorization"}) {
			t.Errorf("cors = %+v", p)
		}
	})
	t.Run("password and refresh", func(t *testing.T) {
		p := step("login", "login").(*flows.PasswordStep)
		if p.Username.String() != "synthetic@example.com" || p.Password.String() != "${file:/run/secrets/synthetic-password}" || p.ClientAuth != "none" {
			t.Errorf("login = %+v", p)
		}
		if p.Expect.AccessToken == nil || p.Expect.AccessToken.MinLifetime.Std() != time.Minute || !p.Expect.RefreshToken {
			t.Errorf("login expect = %+v", p.Expect)
		}
		r := step("login", "renew").(*flows.RefreshStep)
		if r.RefreshToken.String() != "${steps.login.refresh_token}" {
			t.Errorf("renew = %+v", r)
		}
	})
	t.Run("http with body, headers, extract, basic auth", func(t *testing.T) {
		h := step("login", "me").(*flows.HTTPStep)
		if h.Method != "POST" || h.Body.String() != `{"template": "$${not a reference}"}` || len(h.Body.Refs()) != 0 {
			t.Errorf("me = method %q body %q refs %v", h.Method, h.Body, h.Body.Refs())
		}
		if h.Headers["Content-Type"].String() != "application/json" {
			t.Errorf("Headers = %v", h.Headers)
		}
		if e, ok := h.Extract["user_id"]; !ok || e.JSON != ".id" {
			t.Errorf("Extract = %+v", h.Extract)
		}
		p := step("login", "profile").(*flows.HTTPStep)
		if p.Auth == nil || p.Auth.Basic == nil || p.Auth.Basic.Password.String() != "${credential:api-password}" {
			t.Errorf("profile auth = %+v", p.Auth)
		}
	})
	t.Run("negative check", func(t *testing.T) {
		h := step("api requires auth", "no_token").(*flows.HTTPStep)
		if !slices.Equal(h.Expect.Status.Codes(), []int{401, 403}) || h.Expect.Challenge != "Bearer" {
			t.Errorf("no_token expect = %+v", h.Expect)
		}
	})
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flow := func(name string) string {
		return "name: " + name + "\nevery: 1m\nsteps:\n  - {id: api, kind: http, url: \"https://api.example.com\"}\n"
	}
	write("b.yml", flow("from-yml"))
	write("a.yaml", flow("from-yaml"))
	write(".hidden.yaml", "this: is not: loaded")
	write("notes.txt", "not a flow file")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	set := loadGoodSet(t, flows.LoadOptions{}, dir)
	var names []string
	for _, f := range set.Flows {
		names = append(names, f.Name)
	}
	if want := []string{"from-yaml", "from-yml"}; !slices.Equal(names, want) {
		t.Errorf("flows = %q, want %q (name order; .yml read, hidden files, other files and directories skipped)", names, want)
	}
}

// TestLoadWarnings checks that secret references that do not resolve here
// are warnings with the reference's position, not errors.
func TestLoadWarnings(t *testing.T) {
	src := `name: warn
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: https://idp.example.com/token
    client_id: monitor
    client_secret: ${env:AUTHWATCH_TEST_UNSET}
  - id: api
    kind: http
    url: https://api.example.com/a
    auth: {bearer: "${file:/nonexistent/authwatch-test/token}"}
  - id: empty
    kind: http
    url: https://api.example.com/b
    headers:
      X-Api-Key: "key=${env:AUTHWATCH_TEST_EMPTY}"
  - id: cred
    kind: http
    url: https://api.example.com/c
    auth: {bearer: "${credential:api-token}"}
`
	env := map[string]string{"AUTHWATCH_TEST_EMPTY": ""}
	opts := flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}}
	set, err := flows.LoadBytes(opts, "warn.yaml", []byte(src))
	if err != nil {
		t.Fatalf("LoadBytes: %v (unset secrets must not be errors)", err)
	}
	if len(set.Flows) != 1 {
		t.Fatalf("%d flows", len(set.Flows))
	}
	want := []string{
		"warn.yaml:8:20: steps[0].client_secret: environment variable AUTHWATCH_TEST_UNSET is not set (the step will fail as credentials_missing until it is set)",
		"warn.yaml:12:20: steps[1].auth.bearer: file /nonexistent/authwatch-test/token does not exist (the step will fail as credentials_missing until it is set)",
		"warn.yaml:17:18: steps[2].headers.X-Api-Key: environment variable AUTHWATCH_TEST_EMPTY is empty (the step will fail as credentials_missing until it is set)",
		"warn.yaml:21:20: steps[3].auth.bearer: credential api-token: $CREDENTIALS_DIRECTORY is not set (add LoadCredential=api-token:/path to the unit) (the step will fail as credentials_missing until it is set)",
	}
	var got []string
	for _, w := range set.Warnings {
		got = append(got, w.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The same file with every secret available has no warnings.
	credDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(credDir, "api-token"), []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src = strings.Replace(src, "/nonexistent/authwatch-test/token", tokFile, 1)
	opts = flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: func(string) (string, bool) { return "v", true }, CredentialsDir: credDir}}
	set, err = flows.LoadBytes(opts, "warn.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Warnings) != 0 {
		t.Errorf("warnings with every secret set: %v", set.Warnings)
	}
}

// TestLoadWarningsNeverHoldValues checks that warnings and errors name
// secrets, never show them.
func TestLoadWarningsNeverHoldValues(t *testing.T) {
	const value = "sup3r-s3cret-value"
	src := "name: a\nevery: 1m\nsteps:\n  - id: t\n    kind: client_credentials\n    token_url: https://idp.example.com/token\n" +
		"    client_id: ${env:ID}\n    client_secret: ${env:SECRET}\n    client_auth: bogus\n"
	opts := flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: func(k string) (string, bool) { return value, k == "SECRET" }}}
	_, err := flows.LoadBytes(opts, "a.yaml", []byte(src))
	if err == nil || strings.Contains(err.Error(), value) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadUnknownKindListsKinds(t *testing.T) {
	_, err := flows.LoadBytes(flows.LoadOptions{}, "k.yaml", []byte("name: a\nevery: 1m\nsteps:\n  - {id: a, kind: nope}\n"))
	if err == nil {
		t.Fatal("no error")
	}
	if len(flows.Kinds()) < 6 {
		t.Fatalf("Kinds() = %v", flows.Kinds())
	}
	for _, k := range flows.Kinds() {
		if !strings.Contains(err.Error(), k.Name) {
			t.Errorf("message %q does not list kind %s", err, k.Name)
		}
		if k.New == nil || k.Doc == "" {
			t.Errorf("kind %s: New or Doc missing", k.Name)
		}
	}
}
