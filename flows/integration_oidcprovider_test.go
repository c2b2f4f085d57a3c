package flows_test

// Real-component tests against the npm oidc-provider (testdata/oidc-provider,
// started by internal/testenv): client authentication, scopes and resources,
// grants, key rotation and a skewed IdP clock (node under faketime).

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

const itApiResource = "https://api.example.test/"

// providerSecrets are oidc-provider's test client secrets and the canary
// values the tests send: none may appear in any rendering of a result.
var itProviderSecrets = []string{"cc-secret", "cc-post-secret", "cc-read-secret", "app-secret", "no-cc-secret",
	"canary-wrong-cc-secret-4411", "canary-bogus-refresh-token-8c1d", "canary-user-password-2e77"}

func itProviderRunner() *flows.Runner {
	return itNewRunner(itLookupFrom(map[string]string{
		"CC_SECRET":      "cc-secret",
		"CC_POST_SECRET": "cc-post-secret",
		"CC_READ_SECRET": "cc-read-secret",
		"APP_SECRET":     "app-secret",
		"NO_CC_SECRET":   "no-cc-secret",
		"WRONG_SECRET":   "canary-wrong-cc-secret-4411",
		"BOGUS_REFRESH":  "canary-bogus-refresh-token-8c1d",
		"USER_PASSWORD":  "canary-user-password-2e77",
	}, nil))
}

func itRunProvider(t *testing.T, r *flows.Runner, yaml string) *flows.Result {
	t.Helper()
	res := itRunYAML(t, r, yaml)
	itAssertNoSecrets(t, itProviderSecrets, res)
	return res
}

// ccFlow is a client_credentials flow against issuer with extra YAML lines
// indented under the token step.
func itCcFlow(name, issuer, clientID, secretVar, extra string) string {
	return fmt.Sprintf(`
name: %s
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "%s"
    client_id: %s
    client_secret: ${env:%s}
%s`, name, issuer, clientID, secretVar, extra)
}

// proves: assertion_failed, audience_mismatch, auth_not_enforced, grant_not_allowed, invalid_client, invalid_scope, invalid_target, refresh_token_rejected
func TestIntegrationOIDCProvider(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
	r := itProviderRunner()

	t.Run("client_credentials pass with resource", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, `
name: oidc-provider-cc
every: 1m
steps:
  - id: oidc
    kind: discovery
    issuer: "`+p.Issuer+`"
    expect: {algorithms: [RS256], endpoints: [revocation_endpoint, introspection_endpoint]}
  - id: token
    kind: client_credentials
    issuer: "`+p.Issuer+`"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    client_auth: client_secret_basic
    scopes: [api:read]
    resource: ["`+itApiResource+`"]
    expect:
      access_token:
        verify: true
        audience: ["`+itApiResource+`"]
        scopes: [api:read]
        kind: access
        min_lifetime: 5m
        claims: {client_id: cc-client}
`)
		itMustPass(t, res)
		for _, s := range res.Steps {
			if s.Status != flows.StepPassed || len(s.Notes) > 0 {
				t.Errorf("step %s: %s, notes %q; want a clean pass", s.ID, s.Status, s.Notes)
			}
		}
		if n := len(itStep(t, res, "token").Exchanges); n < 1 {
			t.Errorf("token step recorded %d exchanges", n)
		}
	})

	t.Run("client_secret_post", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, itCcFlow("oidc-provider-post", p.Issuer, "cc-post-client", "CC_POST_SECRET", `
    client_auth: client_secret_post
    resource: ["`+itApiResource+`"]
    scopes: [api:write]
    expect: {access_token: {audience: ["`+itApiResource+`"], scopes: ["api:write"]}}
`))
		itMustPass(t, res)
		var last flows.ExchangeEvidence
		for _, ex := range itStep(t, res, "token").Exchanges {
			if strings.HasSuffix(ex.URL, "/token") {
				last = ex
			}
		}
		if !strings.Contains(last.RequestBody, "client_secret=[redacted sha256:") || len(last.RequestHeaders["Authorization"]) != 0 {
			t.Errorf("client_secret_post: body %q, Authorization %q; want the secret in the (redacted) body only", last.RequestBody, last.RequestHeaders["Authorization"])
		}
	})

	t.Run("invalid_client", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, itCcFlow("oidc-provider-wrong-secret", p.Issuer, "cc-client", "WRONG_SECRET", ""))
		f := itMustFail(t, res, "token", flows.ReasonInvalidClient)
		itSummaryHas(t, f, `"cc-client"`, "client_secret_basic", "invalid_client")
		itFactIs(t, f, "client_id", "cc-client")
		itFactIs(t, f, "error", "invalid_client")
		if fp, _ := itFact(f, "client_secret_fingerprint"); !strings.HasPrefix(fp, "sha256:") {
			t.Errorf("client_secret_fingerprint %q", fp)
		}
	})

	t.Run("invalid_client unknown client", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, itCcFlow("oidc-provider-unknown-client", p.Issuer, "no-such-client", "CC_SECRET", ""))
		f := itMustFail(t, res, "token", flows.ReasonInvalidClient)
		itSummaryHas(t, f, `"no-such-client"`)
	})

	t.Run("invalid_scope", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, itCcFlow("oidc-provider-scope", p.Issuer, "cc-read-client", "CC_READ_SECRET", `
    scopes: [api:read, api:write]
    resource: ["`+itApiResource+`"]
`))
		f := itMustFail(t, res, "token", flows.ReasonInvalidScope)
		itFactIs(t, f, "error", "invalid_scope")
		itSummaryHas(t, f, "invalid_scope", "requested scope")
	})

	t.Run("invalid_target for an unknown resource", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, itCcFlow("oidc-provider-target", p.Issuer, "cc-client", "CC_SECRET", `
    resource: ["https://unknown.example.test/"]
`))
		f := itMustFail(t, res, "token", flows.ReasonInvalidTarget)
		itFactIs(t, f, "error", "invalid_target")
		itSummaryHas(t, f, "invalid_target")
	})

	t.Run("grant_not_allowed password", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, `
name: oidc-provider-password
every: 1m
steps:
  - id: login
    kind: password
    issuer: "`+p.Issuer+`"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    username: alice
    password: ${env:USER_PASSWORD}
`)
		f := itMustFail(t, res, "login", flows.ReasonGrantNotAllowed)
		itFactIs(t, f, "error", "unsupported_grant_type")
		itSummaryHas(t, f, "password")
	})

	t.Run("grant_not_allowed client_credentials", func(t *testing.T) {
		t.Parallel()
		// oidc-provider answers invalid_request "... grant type is not allowed for this client".
		res := itRunProvider(t, r, itCcFlow("oidc-provider-no-cc", p.Issuer, "no-cc-client", "NO_CC_SECRET", ""))
		f := itMustFail(t, res, "token", flows.ReasonGrantNotAllowed)
		itSummaryHas(t, f, "client_credentials", "inferred")
	})

	t.Run("negative check expects invalid_client", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, itRunProvider(t, r, itCcFlow("oidc-provider-revoked", p.Issuer, "cc-client", "WRONG_SECRET", `
    expect: {error: invalid_client}
`)))
		res := itRunProvider(t, r, itCcFlow("oidc-provider-not-revoked", p.Issuer, "cc-client", "CC_SECRET", `
    expect: {error: invalid_client}
`))
		f := itMustFail(t, res, "token", flows.ReasonAuthNotEnforced)
		itSummaryHas(t, f, "invalid_client")
	})

	t.Run("refresh_token_rejected", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, `
name: oidc-provider-refresh
every: 1m
steps:
  - id: refresh
    kind: refresh
    issuer: "`+p.Issuer+`"
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    refresh_token: ${env:BOGUS_REFRESH}
`)
		f := itMustFail(t, res, "refresh", flows.ReasonRefreshTokenRejected)
		itFactIs(t, f, "error", "invalid_grant")
	})

	t.Run("opaque token cannot be checked", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, itCcFlow("oidc-provider-opaque", p.Issuer, "cc-client", "CC_SECRET", `
    resource: ["https://opaque.example.test/"]
    expect: {access_token: {audience: ["https://opaque.example.test/"]}}
`))
		f := itMustFail(t, res, "token", flows.ReasonAssertionFailed)
		itSummaryHas(t, f, "opaque")
		if fp, _ := itFact(f, "token_fingerprint"); !strings.HasPrefix(fp, "sha256:") {
			t.Errorf("token_fingerprint %q", fp)
		}
	})

	t.Run("audience_mismatch", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, itCcFlow("oidc-provider-billing", p.Issuer, "cc-client", "CC_SECRET", `
    resource: ["https://billing.example.test/"]
    expect: {access_token: {audience: ["`+itApiResource+`"]}}
`))
		f := itMustFail(t, res, "token", flows.ReasonAudienceMismatch)
		itSummaryHas(t, f, "https://billing.example.test/", itApiResource)
	})
}

// TestIntegrationOIDCProviderKeys: a token signed by a key the JWKS does not
// publish, and a key rotation the Runner's JWKS cache must not mistake for one.
// proves: signing_key_not_found
func TestIntegrationOIDCProviderKeys(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	keyDir := t.TempDir()

	t.Run("signing_key_not_found across two providers", func(t *testing.T) {
		t.Parallel()
		a := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": keyDir, "KEY_SET": "a"})
		b := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": keyDir, "KEY_SET": "b"})
		res := itRunProvider(t, itProviderRunner(), `
name: foreign-key
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: "`+a.URL+`/token"
    jwks_url: "`+b.URL+`/jwks"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    resource: ["`+itApiResource+`"]
    expect: {access_token: {audience: ["`+itApiResource+`"]}}
`)
		f := itMustFail(t, res, "token", flows.ReasonSigningKeyNotFound)
		kid, _ := itFact(f, "kid")
		kids, _ := itFact(f, "jwks_kids")
		if !strings.HasPrefix(kid, "test-a-") || !strings.HasPrefix(kids, "test-b-") {
			t.Errorf("kid %q, jwks_kids %q: want a token of key a checked against key b", kid, kids)
		}
		itSummaryHas(t, f, kid, kids)
		itFactIs(t, f, "jwks_uri", b.URL+"/jwks")
	})

	t.Run("rotation after a restart is not a missing key", func(t *testing.T) {
		t.Parallel()
		port := strconv.Itoa(testenv.FreePort(t))
		r := itProviderRunner()
		var issuer string
		flow := func(issuer string) string {
			return itCcFlow("rotation", issuer, "cc-client", "CC_SECRET", `
    resource: ["`+itApiResource+`"]
    expect: {access_token: {audience: ["`+itApiResource+`"]}}
`)
		}
		t.Run("key a", func(t *testing.T) {
			p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": keyDir, "KEY_SET": "a", "PORT": port})
			issuer = p.Issuer
			itMustPass(t, itRunProvider(t, r, flow(issuer)))
		}) // the provider stops here; r keeps its cached JWKS (key a only)
		if t.Failed() {
			return
		}
		p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": keyDir, "KEY_SET": "c", "PORT": port})
		if p.Issuer != issuer {
			t.Fatalf("issuer changed across the restart: %s, then %s", issuer, p.Issuer)
		}
		// The unknown kid makes the Runner refetch the JWKS once, as relying
		// parties do after a rotation: the new key is found.
		itMustPass(t, itRunProvider(t, r, flow(issuer)))
	})
}

// TestIntegrationOIDCProviderClock runs the provider under faketime: its
// tokens and Date headers carry a clock two hours off.
// proves: clock_skew, token_expired, token_not_yet_valid
func TestIntegrationOIDCProviderClock(t *testing.T) {
	testenv.Require(t, "node")
	testenv.Require(t, "faketime")
	t.Parallel()

	t.Run("token_expired behind", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()}, testenv.Faketime(t, "-2h")...)
		res := itRunProvider(t, itProviderRunner(), itCcFlow("slow-idp-clock", p.Issuer, "cc-client", "CC_SECRET", `
    resource: ["`+itApiResource+`"]
`))
		f := itMustFail(t, res, "token", flows.ReasonTokenExpired)
		itSummaryHas(t, f, "expired", "behind")
		if _, ok := itFact(f, "exp"); !ok {
			t.Errorf("no exp fact")
		}
		sk, ok := itFinding(res, flows.ReasonClockSkew)
		if !ok {
			t.Fatalf("no clock_skew finding:\n%s", itDescribe(res))
		}
		if !strings.Contains(sk.Summary, "behind") || !strings.Contains(sk.Summary, "2h") {
			t.Errorf("clock_skew finding %q, want about 2h behind", sk.Summary)
		}
		dateFinding := false
		for _, fd := range res.Findings() {
			if fd.Reason == flows.ReasonClockSkew && strings.Contains(fd.Summary, "Date:") {
				dateFinding = true
			}
		}
		if !dateFinding {
			t.Errorf("no clock_skew finding from the IdP's Date header:\n%s", itDescribe(res))
		}
	})

	t.Run("token_not_yet_valid ahead", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()}, testenv.Faketime(t, "+2h")...)
		res := itRunProvider(t, itProviderRunner(), itCcFlow("fast-idp-clock", p.Issuer, "cc-client", "CC_SECRET", `
    resource: ["`+itApiResource+`"]
`))
		f := itMustFail(t, res, "token", flows.ReasonTokenNotYetValid)
		itSummaryHas(t, f, "ahead")
		if _, ok := itFinding(res, flows.ReasonClockSkew); !ok {
			t.Errorf("no clock_skew finding:\n%s", itDescribe(res))
		}
	})
}

// TestIntegrationOIDCProviderIssuerAndLifetime: a provider announcing another
// host as its issuer, with 30-second access tokens.
// proves: issuer_mismatch, token_lifetime_short
func TestIntegrationOIDCProviderIssuerAndLifetime(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(),
		"ISSUER": "http://issuer.example.test:{port}", "ACCESS_TOKEN_TTL": "30"})
	r := itProviderRunner()

	t.Run("issuer_mismatch", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, `
name: issuer-host
every: 1m
steps:
  - id: oidc
    kind: discovery
    issuer: "`+p.URL+`"
`)
		f := itMustFail(t, res, "oidc", flows.ReasonIssuerMismatch)
		itSummaryHas(t, f, p.Issuer, p.URL)
		itFactIs(t, f, "issuer", p.Issuer)
		itFactIs(t, f, "expected_issuer", p.URL)
	})

	t.Run("token_lifetime_short", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, `
name: short-tokens
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: "`+p.URL+`/token"
    jwks_url: "`+p.URL+`/jwks"
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    resource: ["`+itApiResource+`"]
    expect: {access_token: {min_lifetime: 5m, audience: ["`+itApiResource+`"]}}
`)
		itMustPass(t, res)
		if s := itStep(t, res, "token"); s.Status != flows.StepWarned {
			t.Errorf("token step %s, want warn", s.Status)
		}
		fd, ok := itFinding(res, flows.ReasonTokenLifetimeShort)
		if !ok || !strings.Contains(fd.Summary, "5m") {
			t.Errorf("token_lifetime_short finding %+v:\n%s", fd, itDescribe(res))
		}
	})
}
