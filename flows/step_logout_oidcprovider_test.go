package flows_test

// RP-initiated logout against the real oidc-provider: its end_session
// endpoint with id_token_hint, its "Do you want to sign-out?" page, and the
// prompt=none checks of the session before and after.

import (
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

func loFlow(issuer, logoutExtra string, withLogin bool) string {
	login := `  - id: login
    kind: login
    issuer: "` + issuer + `"
    redirect_uri: ` + lopCallback + `
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    username: alice
    password: ${env:ALICE_PASSWORD}
`
	if !withLogin {
		login = ""
	}
	return `
name: logout
every: 1m
steps:
` + login + `  - id: logout
    kind: logout
    issuer: "` + issuer + `"
    client_id: app-client
    redirect_uri: ` + lopCallback + `
` + logoutExtra
}

// proves: revocation_ineffective
func TestOIDCProviderLogout(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	canary := lopNewCanary(t)
	r := lopRunner(t, false)

	t.Run("session_ended", func(t *testing.T) {
		t.Parallel()
		p := lopProvider(t, nil)
		res := canary.run(t, r, loFlow(p.Issuer, "    id_token_hint: ${steps.login.id_token}\n", true))
		itMustPass(t, res)
		logout := itStep(t, res, "logout")
		if !lopExchanged(logout, "POST", "/session/end/confirm") {
			t.Errorf("the logout did not confirm the IdP's sign-out page:\n%s", lopExchanges(logout))
		}
	})
	t.Run("logout_that_does_not_take", func(t *testing.T) {
		t.Parallel()
		p := lopProvider(t, map[string]string{"LOGOUT": "ineffective"})
		res := canary.run(t, r, loFlow(p.Issuer, "    id_token_hint: ${steps.login.id_token}\n", true))
		f := itMustFail(t, res, "logout", flows.ReasonRevocationIneffective)
		itSummaryHas(t, f, "survived the logout", "prompt=none", "interaction_required")
	})
	t.Run("no_session_to_end", func(t *testing.T) {
		t.Parallel()
		p := lopProvider(t, nil)
		res := canary.run(t, r, loFlow(p.Issuer, "", false))
		f := itMustFail(t, res, "logout", flows.ReasonAssertionFailed)
		itSummaryHas(t, f, "no IdP session")
	})
}
