package diagnose

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
)

// demoToken gets a real token from the demo IdP.
func demoToken(t *testing.T, env *demo.Env, clientID, secret string, scopes ...string) string {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: env.IdP.Issuer() + "/oauth/token",
		Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatalf("token for %s: %v", clientID, err)
	}
	return tok.AccessToken
}

func startDemo(t *testing.T) *demo.Env {
	t.Helper()
	env, err := demo.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

// proves: audience_mismatch, insufficient_scope, token_expired
func TestDiagnoseDemoScenarios(t *testing.T) {
	env := startDemo(t)
	tokens := map[string]string{
		"ORDERS":  demoToken(t, env, idp.OrdersClientID, idp.OrdersClientSecret, "orders.read"),
		"BILLING": demoToken(t, env, idp.BillingClientID, idp.BillingClientSecret),
		"READER":  demoToken(t, env, idp.ReaderClientID, idp.ReaderClientSecret, "orders.read"),
		"LEGACY":  demoToken(t, env, idp.LegacyClientID, idp.LegacyClientSecret, "orders.read"),
	}
	secrets := conf.SecretSource{LookupEnv: func(name string) (string, bool) { v, ok := tokens[name]; return v, ok }}
	cases := []struct {
		name, env, method string
		want              flows.Reason
		summary           string
	}{
		{name: "healthy", env: "ORDERS", method: "GET"},
		{name: "wrong audience", env: "BILLING", method: "GET", want: flows.ReasonAudienceMismatch, summary: "api://billing"},
		{name: "missing scope", env: "READER", method: "POST", want: flows.ReasonInsufficientScope, summary: "orders.write"},
		{name: "expired", env: "LEGACY", method: "GET", want: flows.ReasonTokenExpired, summary: "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(t.Context(), Options{URL: env.API.URL() + "/orders", Method: tc.method, Issuer: env.IdP.Issuer(),
				Audience: "api://orders", Credential: conf.NewTemplate("${env:" + tc.env + "}"), CredentialKind: "bearer", Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Reason != tc.want || !strings.Contains(rep.Summary, tc.summary) {
				t.Fatalf("reason %q (%s), want %q containing %q\nchecks: %+v", rep.Reason, rep.Summary, tc.want, tc.summary, rep.Checks)
			}
			out, _ := json.Marshal(rep)
			if strings.Contains(string(out), tokens[tc.env]) {
				t.Fatal("the report contains the token")
			}
			if rep.Token == nil || rep.Token.Fingerprint == "" {
				t.Fatal("the token was not decoded")
			}
		})
	}
}

// proves: auth_not_enforced
func TestDiagnoseAuthNotEnforced(t *testing.T) {
	env := startDemo(t)
	tok := demoToken(t, env, idp.OrdersClientID, idp.OrdersClientSecret, "orders.read")
	rep, err := Run(t.Context(), Options{URL: env.API.URL() + "/admin/export", Credential: conf.NewTemplate("${env:T}"), CredentialKind: "bearer",
		Secrets: conf.SecretSource{LookupEnv: func(string) (string, bool) { return tok, true }}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reason != flows.ReasonAuthNotEnforced {
		t.Fatalf("reason %q, want auth_not_enforced; checks %+v", rep.Reason, rep.Checks)
	}
}

// proves: credentials_missing, connection_failed
func TestDiagnoseLocalFailures(t *testing.T) {
	rep, err := Run(t.Context(), Options{URL: "http://127.0.0.1:1/x", Credential: conf.NewTemplate("${env:AUTHWATCH_TEST_UNSET_VAR}"), CredentialKind: "bearer",
		Secrets: conf.SecretSource{LookupEnv: func(string) (string, bool) { return "", false }}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reason != flows.ReasonConnectionFailed {
		t.Fatalf("reason %q, want connection_failed; checks %+v", rep.Reason, rep.Checks)
	}
	env := startDemo(t)
	rep, err = Run(t.Context(), Options{URL: env.API.URL() + "/orders", Credential: conf.NewTemplate("${env:AUTHWATCH_TEST_UNSET_VAR}"), CredentialKind: "bearer",
		Secrets: conf.SecretSource{LookupEnv: func(string) (string, bool) { return "", false }}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reason != flows.ReasonCredentialsMissing {
		t.Fatalf("reason %q, want credentials_missing; checks %+v", rep.Reason, rep.Checks)
	}
}
