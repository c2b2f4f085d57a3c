package flows_test

// The userinfo step against the real oidc-provider: a plain JSON answer
// (app-client) and a signed one (signed-userinfo-client registers
// userinfo_signed_response_alg RS256), both checked; a token the IdP does
// not know, a claim that differs, the wrong kind of answer.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// uiFlow logs alice in with client and calls userinfo with her access
// token (or token, when given); expect is the userinfo step's expect.
func uiFlow(issuer, client, token, expect string) string {
	auth := "    client_secret: ${env:APP_SECRET}\n"
	if client == "signed-userinfo-client" {
		auth = "    client_auth: none\n"
	}
	if token == "" {
		token = "${steps.login.access_token}"
	}
	return fmt.Sprintf(`
name: ui
every: 1m
steps:
  - id: login
    kind: login
    issuer: "%[1]s"
    redirect_uri: http://127.0.0.1/callback
    timeout: 20s
    client_id: %[2]s
%[3]s    username: alice
    password: ${env:ALICE_PASSWORD}
    scopes: [openid, profile, email]
  - id: me
    kind: userinfo
    issuer: "%[1]s"
    client_id: %[2]s
    token: %[4]s
    expect: %[5]s
`, issuer, client, auth, token, expect)
}

// proves: invalid_token, assertion_failed
func TestIntegrationUserinfo(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
	canary := irNewCanary()
	pass := []struct{ name, client, expect, contentType string }{
		{"plain", "app-client", `{sub: "${steps.login.sub}", signed: false, claims: {email: alice@example.test, email_verified: "true"}}`, "application/json"},
		{"signed", "signed-userinfo-client", `{sub: alice, signed: true, claims: {name: Alice Test}}`, "application/jwt"},
	}
	for _, c := range pass {
		t.Run("pass: "+c.name, func(t *testing.T) {
			t.Parallel()
			res := canary.run(t, uiFlow(p.Issuer, c.client, "", c.expect))
			itMustPass(t, res)
			me := itStep(t, res, "me").Exchanges
			if ct := strings.Join(me[len(me)-1].ResponseHeaders["Content-Type"], ""); !strings.HasPrefix(ct, c.contentType) {
				t.Errorf("userinfo answered %q, want %s", ct, c.contentType)
			}
		})
	}
	fail := []struct {
		name, client, token, expect string
		want                        flows.Reason
		summary                     []string
	}{
		{"unknown token", "app-client", "${env:BOGUS_TOKEN}", "{}", flows.ReasonInvalidToken, []string{"invalid_token"}},
		{"claim differs", "app-client", "", "{claims: {email: bob@example.test}}", flows.ReasonAssertionFailed, []string{"claim email", "alice@example.test", "bob@example.test"}},
		{"plain answer expected signed", "app-client", "", "{signed: true}", flows.ReasonAssertionFailed, []string{"answered plain JSON", "expects a signed JWT"}},
		{"signed answer expected plain", "signed-userinfo-client", "", "{signed: false}", flows.ReasonAssertionFailed, []string{"answered a signed JWT"}},
	}
	for _, c := range fail {
		t.Run("fail: "+c.name, func(t *testing.T) {
			t.Parallel()
			f := itMustFail(t, canary.run(t, uiFlow(p.Issuer, c.client, c.token, c.expect)), "me", c.want)
			itSummaryHas(t, f, c.summary...)
		})
	}
}
