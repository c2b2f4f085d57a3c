package flows_test

import (
	"fmt"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestNonStandardTokenErrors puts a real nginx in front of oidc-provider's
// token endpoint and has it answer the way non-conforming IdPs and
// gateways do: an invented error code, Auth0's access_denied for an
// unknown audience, a bare 403 and a 401 without a body. Each maps to the
// code its meaning matches, with the IdP's words in the summary.
//
// proves: invalid_scope, invalid_target, grant_not_allowed, invalid_client
func TestNonStandardTokenErrors(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}};
        default_type application/json;
        location = /token { proxy_pass %[1]s/token; }
        location = /scope-invalid/token { return 400 '{"error":"scope_invalid","error_description":"scope api:admin is not known"}'; }
        location = /auth0/token { return 403 '{"error":"access_denied","error_description":"Service not found: https://billing.example.test/"}'; }
        location = /waf/token { return 403; }
        location = /bare401/token { return 401 ''; }
    }`, p.URL))
	r := itProviderRunner()
	flow := func(path string) string {
		return itCcFlow("nonstandard"+path, p.Issuer, "cc-client", "CC_SECRET", fmt.Sprintf(`
    token_url: %s%s/token
    resource: ["%s"]
    scopes: [api:read]
`, ngx.URL(0), path, itApiResource))
	}

	t.Run("control through nginx", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, itRunProvider(t, r, flow("")))
	})
	for _, c := range []struct {
		path    string
		want    flows.Reason
		summary []string
	}{
		{"/scope-invalid", flows.ReasonInvalidScope,
			[]string{`400 scope_invalid: "scope api:admin is not known"`, `non-standard answer: the IdP said "scope_invalid", recognised as invalid_scope`}},
		{"/auth0", flows.ReasonInvalidTarget,
			[]string{"Service not found: https://billing.example.test/", `the IdP said "access_denied", recognised as invalid_target (Auth0`}},
		{"/waf", flows.ReasonGrantNotAllowed, []string{"403 without an OAuth error code", "non-standard answer", "WAF"}},
		{"/bare401", flows.ReasonInvalidClient, []string{"401 without an OAuth error code", "RFC 6749 §5.2"}},
	} {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			f := itMustFail(t, itRunProvider(t, r, flow(c.path)), "token", c.want)
			itSummaryHas(t, f, c.summary...)
		})
	}
}
