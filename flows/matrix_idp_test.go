package flows_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestMatrixIdP misconfigures the real oidc-provider test IdP (its clients,
// scopes, resources, issuer, token lifetime and keys are in
// testdata/oidc-provider/README.md), or the flow's view of it, one way per
// row; nginx stands in front where the IdP's own answer cannot show it.
//
// proves: credentials_missing, discovery_failed, issuer_mismatch, jwks_unavailable, signature_invalid, invalid_client, refresh_token_rejected, invalid_scope, invalid_target, grant_not_allowed, idp_error, audience_mismatch, scope_missing, token_lifetime_short
func TestMatrixIdP(t *testing.T) {
	t.Parallel()
	r := flows.NewRunner()
	r.Secrets = matrixSecrets(map[string]string{
		"CC_SECRET":      "cc-secret",
		"CC_READ_SECRET": "cc-read-secret",
		"NO_CC_SECRET":   "no-cc-secret",
		"APP_SECRET":     "app-secret",
		"OLD_CC_SECRET":  "cc-secret-before-rotation",
		// A refresh token the IdP never issued, or long revoked.
		"STORED_REFRESH_TOKEN": "stale-refresh-token-7Yq2",
		"EMPTY_SECRET":         "",
	})
	grant := func(kind, issuer, client, secretRef, extra string) string {
		return fmt.Sprintf(`steps:
  - id: token
    kind: %s
    issuer: %s
    client_id: %s
    client_secret: ${env:%s}
    client_auth: client_secret_basic
%s`, kind, issuer, client, secretRef, extra)
	}
	const api = "    resource: [https://api.example.test/]\n"

	t.Run("default_provider", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, nil)
		down := matrixClosedPortURL(t)
		ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}};
        # The token endpoint moved behind a gateway whose upstream is down.
        location /token { proxy_pass %s; }
    }`, down))
		for _, c := range []matrixCase{
			{name: "control", flow: grant("client_credentials", p.Issuer, "cc-client", "CC_SECRET", api+"    scopes: [api:read]\n")},
			{name: "secret_env_unset", flow: grant("client_credentials", p.Issuer, "cc-client", "CC_SECRET_UNSET", api),
				want: flows.ReasonCredentialsMissing, summary: []string{"${env:CC_SECRET_UNSET}", "environment variable CC_SECRET_UNSET is not set"}},
			{name: "secret_env_empty", flow: grant("client_credentials", p.Issuer, "cc-client", "EMPTY_SECRET", api),
				want: flows.ReasonCredentialsMissing, summary: []string{"environment variable EMPTY_SECRET is empty"}},
			{name: "issuer_path_wrong", flow: "steps:\n  - id: oidc\n    kind: discovery\n    issuer: " + p.URL + "/realms/prod\n",
				want: flows.ReasonDiscoveryFailed, summary: []string{p.URL + "/realms/prod/.well-known/openid-configuration", "answered 404"}},
			{name: "jwks_url_stale", flow: grant("client_credentials", p.Issuer, "cc-client", "CC_SECRET", api+"    jwks_url: "+p.URL+"/oauth/jwks\n"),
				want: flows.ReasonJWKSUnavailable, summary: []string{"JWKS at " + p.URL + "/oauth/jwks answered 404"}},
			{name: "rotated_client_secret", flow: grant("client_credentials", p.Issuer, "cc-client", "OLD_CC_SECRET", api),
				want: flows.ReasonInvalidClient, summary: []string{"refused the client credentials", "401 invalid_client", `(client "cc-client", client_secret_basic)`},
				check: func(t *testing.T, res *flows.Result) {
					if f := res.Failure(); f != nil && strings.Contains(f.Summary+fmt.Sprint(f.Evidence.Facts), "cc-secret-before-rotation") {
						t.Errorf("the failure shows the secret: %s %v", f.Summary, f.Evidence.Facts)
					}
				}},
			{name: "scope_not_granted_to_client", flow: grant("client_credentials", p.Issuer, "cc-read-client", "CC_READ_SECRET", api+"    scopes: [api:read, api:write]\n"),
				want: flows.ReasonInvalidScope, summary: []string{"refused the requested scope", "invalid_scope"}},
			{name: "unknown_resource", flow: grant("client_credentials", p.Issuer, "cc-client", "CC_SECRET", "    resource: [https://api.example.test/v2/]\n"),
				want: flows.ReasonInvalidTarget, summary: []string{"RFC 8707 invalid_target"}},
			{name: "client_without_client_credentials_grant", flow: grant("client_credentials", p.Issuer, "no-cc-client", "NO_CC_SECRET", api),
				want: flows.ReasonGrantNotAllowed, summary: []string{"may not use the client_credentials grant", "inferred from the description of an invalid_request"}},
			{name: "password_grant_not_supported", flow: grant("password", p.Issuer, "cc-client", "CC_SECRET", "    username: alice\n    password: ${env:CC_SECRET}\n"),
				want: flows.ReasonGrantNotAllowed, summary: []string{"does not support the password grant", "unsupported_grant_type"}},
			{name: "stale_refresh_token", flow: grant("refresh", p.Issuer, "app-client", "APP_SECRET", "    refresh_token: ${env:STORED_REFRESH_TOKEN}\n"),
				want: flows.ReasonRefreshTokenRejected, summary: []string{"refused the refresh token", "invalid_grant"},
				check: func(t *testing.T, res *flows.Result) {
					if f := res.Failure(); f != nil && strings.Contains(f.Summary, "stale-refresh-token-7Yq2") {
						t.Errorf("the summary shows the refresh token: %s", f.Summary)
					}
				}},
			{name: "token_endpoint_upstream_down", flow: fmt.Sprintf(`steps:
  - id: token
    kind: client_credentials
    token_url: %s/token
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    client_auth: client_secret_basic
`, ngx.URL(0)),
				want: flows.ReasonIdPError, summary: []string{"the token endpoint failed", "502"}},
			{name: "token_for_another_resource", flow: grant("client_credentials", p.Issuer, "cc-client", "CC_SECRET", `    resource: [https://billing.example.test/]
    expect:
      access_token:
        audience: [https://api.example.test/]
`),
				want: flows.ReasonAudienceMismatch, summary: []string{"aud is [https://billing.example.test/]", `expected it to contain "https://api.example.test/"`}},
			{name: "client_not_granted_expected_scope", flow: grant("client_credentials", p.Issuer, "cc-read-client", "CC_READ_SECRET", api+`    scopes: [api:read]
    expect:
      access_token:
        scopes: [api:read, api:write]
`),
				want: flows.ReasonScopeMissing, summary: []string{"lacks [api:write]", "it grants [api:read]"}},
		} {
			t.Run(c.name, func(t *testing.T) { runMatrixCase(t, r, c) })
		}
	})

	t.Run("issuer_configured_as_localhost", func(t *testing.T) {
		t.Parallel()
		// The IdP announces http://localhost:PORT; the flow calls it by IP.
		p := testenv.NodeOIDCProvider(t, map[string]string{"ISSUER": "http://localhost:{port}"})
		runMatrixCase(t, r, matrixCase{name: "issuer_mismatch", flow: grant("client_credentials", p.URL, "cc-client", "CC_SECRET", api),
			want:    flows.ReasonIssuerMismatch,
			summary: []string{`the discovery document says issuer "` + p.Issuer + `", the flow expects "` + p.URL + `"`}})
	})

	t.Run("short_token_lifetime", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, map[string]string{"ACCESS_TOKEN_TTL": "30"})
		runMatrixCase(t, r, matrixCase{name: "token_lifetime_short", flow: grant("client_credentials", p.Issuer, "cc-client", "CC_SECRET", api+`    expect:
      access_token:
        min_lifetime: 5m
`),
			findings: map[flows.Reason][]string{flows.ReasonTokenLifetimeShort: {"the access token is issued for 30s", "less than the 5m"}},
			check: func(t *testing.T, res *flows.Result) {
				if s := res.Steps[0].Status; s != flows.StepWarned {
					t.Errorf("step status %s, want %s", s, flows.StepWarned)
				}
			}})
	})

	t.Run("key_reused_kid", func(t *testing.T) {
		t.Parallel()
		// The signing provider (KEY_SET=a), and one whose JWKS publishes a
		// different key under a's kid: a key regenerated, its kid kept.
		signer := testenv.NodeOIDCProvider(t, nil)
		kids := matrixKids(t, signer.URL+"/jwks")
		if len(kids) != 1 {
			t.Fatalf("signer's JWKS has kids %v, want one", kids)
		}
		file := matrixJWKSFile(t, kids[0])
		forged := testenv.NodeOIDCProvider(t, map[string]string{"JWKS_KEYS": file})
		if got := matrixKids(t, forged.URL+"/jwks"); len(got) != 1 || got[0] != kids[0] {
			t.Fatalf("JWKS_KEYS provider publishes %v, want [%s]", got, kids[0])
		}
		runMatrixCase(t, r, matrixCase{name: "signature_invalid", flow: grant("client_credentials", signer.Issuer, "cc-client", "CC_SECRET", api+"    jwks_url: "+forged.URL+"/jwks\n"),
			want:    flows.ReasonSignatureInvalid,
			summary: []string{`the access token's signature does not verify with key "` + kids[0] + `" from the JWKS`}})
	})
}
