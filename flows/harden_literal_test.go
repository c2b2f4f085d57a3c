package flows_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// hardLiteralCanary is a literal secret written into a flow file.
const hardLiteralCanary = "hunter2-literal-canary"

// hardEchoingTokenEndpoint refuses every client and echoes what it was sent
// in error_description, as some IdPs do with a wrong client secret.
func hardEchoingTokenEndpoint(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		_, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client",
			"error_description": "client secret " + r.PostForm.Get("client_secret") + pass + " is not valid; form: " + r.PostForm.Encode()})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestLiteralSecretRedacted checks that a literal secret in a
// secret-bearing field is redacted like a referenced one, and that the
// load warns about it, positioned, without showing it. Before, the
// echoed literal client_secret appeared in the failure summary.
func TestLiteralSecretRedacted(t *testing.T) {
	url := hardEchoingTokenEndpoint(t)
	for _, auth := range []string{"client_secret_post", "client_secret_basic"} {
		t.Run(auth, func(t *testing.T) {
			src := "name: literal\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: " + url + "/token\n" +
				"    client_id: app\n    client_secret: " + hardLiteralCanary + "\n    client_auth: " + auth + "\n"
			set, err := flows.LoadBytes(flows.LoadOptions{}, "lit.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			want := "lit.yaml:8:20: steps[0].client_secret: a literal secret: move it into a secret reference such as ${env:NAME}, ${file:/path} or ${credential:NAME}"
			if len(set.Warnings) != 1 || !strings.HasPrefix(set.Warnings[0].Error(), want) {
				t.Errorf("warnings = %v, want %q", set.Warnings, want)
			}
			if strings.Contains(set.Warnings.Error(), hardLiteralCanary) {
				t.Errorf("the warning shows the secret: %v", set.Warnings)
			}
			res := flows.NewRunner().Run(context.Background(), set.Flows[0])
			if res.OK || res.Failure().Reason != flows.ReasonInvalidClient {
				t.Fatalf("res = %+v, want invalid_client", res.Failure())
			}
			if s := tplShown(t, res); strings.Contains(s, hardLiteralCanary) {
				t.Errorf("the result shows the literal secret: %s", s)
			}
		})
	}
}

// TestLiteralSecretFields lists, per field, whether a literal there is a
// secret: each is warned about once and marked for redaction, and nothing
// else is (a literal client_id, URL or ordinary header is not a secret, and
// a template with a reference is not a literal).
func TestLiteralSecretFields(t *testing.T) {
	src := `flows:
- name: literals
  every: 1m
  steps:
  - id: pw
    kind: password
    token_url: https://idp.example.com/token
    client_id: app
    client_secret: literal-client-secret
    username: alice
    password: literal-password
    params: {client_assertion: literal-assertion, ui_locales: en}
  - id: rt
    kind: refresh
    token_url: https://idp.example.com/token
    client_id: app
    client_auth: none
    refresh_token: literal-refresh-token
  - id: check
    kind: token_check
    token: literal-token
  - id: api
    kind: http
    url: https://api.example.com/
    headers:
      Authorization: Basic bGl0ZXJhbA==
      X-Api-Key: literal-api-key
      Cookie: sid=literal-session
      Accept: application/json
      X-Ref: "key=${env:KEY}"
    auth: {bearer: literal-bearer}
  - id: basic
    kind: http
    url: https://api.example.com/
    auth: {basic: {username: bob, password: literal-basic-password}}
  - id: login
    kind: form_login
    url: https://app.example.com/login
    username: alice
    password: "Bearer ${steps.pw.access_token}"
    totp_secret: JBSWY3DPEHPK3PXP
`
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: loadAllSet()}, "lit.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range set.Warnings {
		got = append(got, w.Pos.String()+" "+w.Path)
	}
	want := []string{
		"lit.yaml:9:20 flows[0].steps[0].client_secret",
		"lit.yaml:11:15 flows[0].steps[0].password",
		"lit.yaml:12:32 flows[0].steps[0].params.client_assertion",
		"lit.yaml:18:20 flows[0].steps[1].refresh_token",
		"lit.yaml:21:12 flows[0].steps[2].token",
		"lit.yaml:26:22 flows[0].steps[3].headers.Authorization",
		"lit.yaml:27:18 flows[0].steps[3].headers.X-Api-Key",
		"lit.yaml:28:15 flows[0].steps[3].headers.Cookie",
		"lit.yaml:31:20 flows[0].steps[3].auth.bearer",
		"lit.yaml:35:45 flows[0].steps[4].auth.basic.password",
		"lit.yaml:41:18 flows[0].steps[5].totp_secret",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings at:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := set.Warnings.Error(); strings.Contains(s, "literal-") || strings.Contains(s, "JBSWY3DP") {
		t.Errorf("a warning shows a secret:\n%s", s)
	}
}

// hardEchoAll answers every request with a failure that repeats everything
// it was sent (headers and form) under keys that do not look secret, so
// only the run's own list of secrets can hide them.
func hardEchoAll(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		var seen []string
		for k, v := range r.Header {
			seen = append(seen, k+"="+strings.Join(v, ","))
		}
		seen = append(seen, r.PostForm.Encode())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "got " + strings.Join(seen, " ")})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestLiteralSecretsRedactedInEveryField runs steps whose secret-bearing
// fields are literals against a target that echoes them: none shows in
// the result. Before, the client secret, password, assertion, API key and
// cookie showed (only a bearer and a refresh token were registered by
// their steps).
func TestLiteralSecretsRedactedInEveryField(t *testing.T) {
	url := hardEchoAll(t)
	literals := []string{"lit-client-secret-1", "lit-password-2", "lit-assertion-3", "lit-refresh-4", "lit-api-key-5", "lit-bearer-6", "lit-cookie-7"}
	src := `flows:
- name: password
  every: 1m
  steps:
  - id: pw
    kind: password
    token_url: ` + url + `/token
    client_id: app
    client_secret: lit-client-secret-1
    client_auth: client_secret_post
    username: alice
    password: lit-password-2
    params: {client_assertion: lit-assertion-3}
- name: refresh
  every: 1m
  steps:
  - id: rt
    kind: refresh
    token_url: ` + url + `/token
    client_id: app
    client_auth: none
    refresh_token: lit-refresh-4
- name: api
  every: 1m
  steps:
  - id: api
    kind: http
    url: ` + url + `/api
    headers: {X-Api-Key: lit-api-key-5, Cookie: "sid=lit-cookie-7"}
    auth: {bearer: lit-bearer-6}
`
	set, err := flows.LoadBytes(flows.LoadOptions{}, "lit.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set.Flows {
		res := flows.NewRunner().Run(context.Background(), f)
		if res.OK {
			t.Fatalf("%s passed", f.Name)
		}
		shown := tplShown(t, res)
		if !strings.Contains(shown, "got ") {
			t.Fatalf("%s: the echo is not in the result, so this test proves nothing: %s", f.Name, shown)
		}
		for _, lit := range literals {
			if strings.Contains(shown, lit) {
				t.Errorf("%s: the result shows the literal %q", f.Name, lit)
			}
		}
	}
}
