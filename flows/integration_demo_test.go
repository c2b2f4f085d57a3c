package flows_test

// Real-component tests against the demo environment (internal/demo: the
// zitadel-based IdP and the orders API, both on 127.0.0.1) and against small
// real HTTP servers (httptest) where a failure needs a misbehaving gateway.
// Every case asserts the reason code and the facts its summary must name.

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
)

// demoSecrets are the demo environment's secret values: none may appear in
// any rendering of any result.
var itDemoSecrets = []string{idp.OrdersClientSecret, idp.BillingClientSecret, idp.ReaderClientSecret,
	idp.LegacyClientSecret, idp.WebClientSecret, idp.DriftClientSecret, idp.UserPassword, "demo-only-secret-before-rotation"}

// wrongSecret is a client secret the IdP does not know.
const itWrongSecret = "canary-wrong-client-secret-7f3a9"

// startDemo starts the demo IdP and API for the calling test and its subtests.
func itStartDemo(t *testing.T) (*demo.Env, *strings.Replacer) {
	t.Helper()
	env, err := demo.Start(t.Context())
	if err != nil {
		t.Fatalf("demo.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("demo Close: %v", err)
		}
	})
	return env, strings.NewReplacer("{{issuer}}", env.IdP.Issuer(), "{{api}}", env.API.URL())
}

// proves: assertion_failed, audience_mismatch, auth_not_enforced, clock_skew, connection_failed, cors_origin_not_allowed, credentials_missing, discovery_failed, id_token_used_as_access_token, insufficient_scope, invalid_client, invalid_token, issuer_mismatch, scope_missing, signature_invalid, token_expired, token_lifetime_short, unauthorized, unexpected_status
func TestIntegrationDemo(t *testing.T) {
	t.Parallel()
	env, fill := itStartDemo(t)
	lookup := itLookupFrom(map[string]string{
		"WRONG_SECRET": itWrongSecret,
		"EMPTY_SECRET": "",
	}, demo.LookupEnv)
	r := itNewRunner(lookup)
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, fill.Replace(yaml))
		itAssertNoSecrets(t, append([]string{itWrongSecret}, itDemoSecrets...), res)
		return res
	}

	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: orders-pass
every: 1m
steps:
  - id: oidc
    kind: discovery
    issuer: "{{issuer}}"
    expect: {algorithms: [RS256], endpoints: [userinfo_endpoint, revocation_endpoint], max_latency: 5s}
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
    client_auth: client_secret_basic
    scopes: [orders.read]
    expect:
      access_token:
        audience: [api://orders]
        scopes: [orders.read]
        min_lifetime: 1m
        claims: {sub: orders-client}
      max_latency: 5s
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${steps.token.access_token}", audience: api://orders}
    expect:
      status: 200
      headers:
        Content-Type: {contains: application/json}
        X-Request-Id: {matches: "^[A-Z0-9]+$"}
      json:
        - {path: .orders | type, equals: array}
      max_latency: 2s
  - id: cors
    kind: preflight
    url: "{{api}}/orders"
    origin: https://app.example.com
    method: POST
    headers: [Authorization, Content-Type]
    credentials: true
`)
		itMustPass(t, res)
		for _, s := range res.Steps {
			if s.Status != flows.StepPassed {
				t.Errorf("step %s is %s, want pass (no warnings):\n%s", s.ID, s.Status, itDescribe(res))
			}
			if len(s.Notes) > 0 {
				t.Errorf("step %s has notes %q; nothing was skipped", s.ID, s.Notes)
			}
			if len(s.Exchanges) == 0 {
				t.Errorf("step %s recorded no exchange", s.ID)
			}
		}
		if got := itStep(t, res, "list").HTTPStatus; got != 200 {
			t.Errorf("list: HTTP %d, want 200", got)
		}
		if got := itStep(t, res, "cors").HTTPStatus; got != 204 {
			t.Errorf("cors: HTTP %d, want 204", got)
		}
		if fs := res.Findings(); len(fs) > 0 {
			t.Errorf("findings on a healthy flow: %+v", fs)
		}
		// The bearer sent to the API is shown only as a redacted marker.
		ex := itStep(t, res, "list").Exchanges[0]
		if auth := strings.Join(ex.RequestHeaders["Authorization"], ""); !strings.HasPrefix(auth, "Bearer [redacted sha256:") {
			t.Errorf("Authorization in evidence is %q, want a redacted marker", auth)
		}
	})

	t.Run("token_lifetime_short warns", func(t *testing.T) {
		t.Parallel()
		// The demo IdP's tokens live 5 minutes.
		res := run(t, `
name: short-lifetime
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
    expect: {access_token: {min_lifetime: 10m}}
`)
		itMustPass(t, res)
		if s := itStep(t, res, "token"); s.Status != flows.StepWarned {
			t.Errorf("token step is %s, want warn:\n%s", s.Status, itDescribe(res))
		}
		f, ok := itFinding(res, flows.ReasonTokenLifetimeShort)
		if !ok {
			t.Fatalf("no token_lifetime_short finding:\n%s", itDescribe(res))
		}
		if !strings.Contains(f.Summary, "10m") {
			t.Errorf("finding does not name the minimum: %s", f.Summary)
		}
	})

	t.Run("audience_mismatch at the API", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: billing-token-on-orders
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: billing-client
    client_secret: ${env:DEMO_BILLING_CLIENT_SECRET}
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${steps.token.access_token}", audience: api://orders}
`)
		f := itMustFail(t, res, "list", flows.ReasonAudienceMismatch)
		itSummaryHas(t, f, "api://billing", "api://orders")
		itFactIs(t, f, "aud", "api://billing")
		itFactIs(t, f, "expected_audience", "api://orders")
		if v, _ := itFact(f, "status"); v != "401" {
			t.Errorf("status fact %q, want 401", v)
		}
		tok := f.Evidence.Token
		if tok == nil || !strings.HasPrefix(tok.Fingerprint, "sha256:") || tok.Claims["aud"] == nil || tok.Header["kid"] == "" {
			t.Errorf("token evidence %+v, want fingerprint, decoded claims and kid", tok)
		}
		if len(f.Evidence.Exchanges) != 1 || f.Evidence.Exchanges[0].RequestIDs["x-request-id"] == "" {
			t.Errorf("evidence exchanges %+v, want the API exchange with its X-Request-Id", f.Evidence.Exchanges)
		}
	})

	t.Run("audience_mismatch at the token step", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: billing-token-audience
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: billing-client
    client_secret: ${env:DEMO_BILLING_CLIENT_SECRET}
    expect: {access_token: {audience: [api://orders]}}
  - id: never
    kind: http
    url: "{{api}}/orders"
`)
		f := itMustFail(t, res, "token", flows.ReasonAudienceMismatch)
		itSummaryHas(t, f, "api://billing", "api://orders")
		itFactIs(t, f, "aud", "api://billing")
		itFactIs(t, f, "expected_audience", "api://orders")
		if f.Evidence.Token == nil {
			t.Error("no token evidence")
		}
	})

	t.Run("insufficient_scope", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: create-order
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: reader-client
    client_secret: ${env:DEMO_READER_CLIENT_SECRET}
    scopes: [orders.read, orders.write]
  - id: create
    kind: http
    method: POST
    url: "{{api}}/orders"
    headers: {Content-Type: application/json}
    body: '{"item": "widget", "quantity": 1}'
    auth: {bearer: "${steps.token.access_token}"}
    expect: {status: 201}
`)
		f := itMustFail(t, res, "create", flows.ReasonInsufficientScope)
		itSummaryHas(t, f, "orders.write", "orders.read")
		itFactIs(t, f, "scope", "orders.write")
		itFactIs(t, f, "status", "403")
	})

	t.Run("scope_missing", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: reader-scopes
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: reader-client
    client_secret: ${env:DEMO_READER_CLIENT_SECRET}
    scopes: [orders.read, orders.write]
    expect: {access_token: {scopes: [orders.read, orders.write]}}
`)
		f := itMustFail(t, res, "token", flows.ReasonScopeMissing)
		itSummaryHas(t, f, "orders.write")
		itFactIs(t, f, "missing_scopes", "orders.write")
		itFactIs(t, f, "granted", "orders.read")
	})

	t.Run("token_expired with clock_skew", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: legacy-client-token
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: legacy-client
    client_secret: ${env:DEMO_LEGACY_CLIENT_SECRET}
    scopes: [orders.read]
`)
		f := itMustFail(t, res, "token", flows.ReasonTokenExpired)
		itSummaryHas(t, f, "expired", "behind")
		if _, ok := itFact(f, "exp"); !ok {
			t.Errorf("no exp fact: %+v", f.Evidence.Facts)
		}
		sk, ok := itFinding(res, flows.ReasonClockSkew)
		if !ok {
			t.Fatalf("no clock_skew finding:\n%s", itDescribe(res))
		}
		if !strings.Contains(sk.Summary, "behind") || !strings.Contains(sk.Summary, "1h0m0s") {
			t.Errorf("clock_skew finding does not say 1h behind: %s", sk.Summary)
		}
	})

	t.Run("token_expired at the API", func(t *testing.T) {
		t.Parallel()
		// A token step never passes an expired JWT on, so the legacy
		// client's token is fetched here and handed to the flow as a secret.
		cfg := clientcredentials.Config{ClientID: idp.LegacyClientID, ClientSecret: idp.LegacyClientSecret,
			TokenURL: env.IdP.Issuer() + "/oauth/token", Scopes: []string{idp.ScopeOrdersRead}, AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cfg.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		r := itNewRunner(itLookupFrom(map[string]string{"LEGACY_TOKEN": tok.AccessToken}, nil))
		res := itRunYAML(t, r, fill.Replace(`
name: legacy-at-api
every: 1m
steps:
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${env:LEGACY_TOKEN}"}
`))
		itAssertNoSecrets(t, append([]string{tok.AccessToken}, itDemoSecrets...), res)
		f := itMustFail(t, res, "list", flows.ReasonTokenExpired)
		itSummaryHas(t, f, "expired", "the API says")
		if _, ok := itFact(f, "exp"); !ok {
			t.Errorf("no exp fact: %+v", f.Evidence.Facts)
		}
	})

	t.Run("auth_not_enforced", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: admin-export-requires-auth
every: 1m
steps:
  - id: no_token
    kind: http
    url: "{{api}}/admin/export"
    expect: {status: 401, challenge: Bearer}
`)
		f := itMustFail(t, res, "no_token", flows.ReasonAuthNotEnforced)
		itSummaryHas(t, f, "/admin/export", "200", "401")
		itFactIs(t, f, "status", "200")
		itFactIs(t, f, "expected_status", "401")
	})

	t.Run("negative check passes", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, run(t, `
name: orders-requires-auth
every: 1m
steps:
  - id: no_token
    kind: http
    url: "{{api}}/orders"
    expect: {status: 401, challenge: Bearer}
`))
	})

	t.Run("invalid_client basic", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: rotated-secret
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:WRONG_SECRET}
`)
		f := itMustFail(t, res, "token", flows.ReasonInvalidClient)
		itSummaryHas(t, f, `"orders-client"`, "client_secret_basic", "invalid_client")
		itFactIs(t, f, "client_id", "orders-client")
		itFactIs(t, f, "client_auth", "client_secret_basic")
		fp, ok := itFact(f, "client_secret_fingerprint")
		if !ok || !strings.HasPrefix(fp, "sha256:") || strings.Contains(fp, itWrongSecret) {
			t.Errorf("client_secret_fingerprint %q, want a sha256 fingerprint", fp)
		}
		for _, fc := range f.Evidence.Facts {
			if strings.Contains(fc.Value, itWrongSecret) {
				t.Errorf("fact %s holds the secret", fc.Name)
			}
		}
	})

	t.Run("invalid_client post", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: rotated-secret-post
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:WRONG_SECRET}
    client_auth: client_secret_post
`)
		f := itMustFail(t, res, "token", flows.ReasonInvalidClient)
		itSummaryHas(t, f, `"orders-client"`, "client_secret_post")
		itFactIs(t, f, "client_auth", "client_secret_post")
		// The form body is evidence, with the secret replaced.
		ex := f.Evidence.Exchanges
		if len(ex) == 0 || !strings.Contains(ex[len(ex)-1].RequestBody, "client_secret=[redacted sha256:") {
			t.Errorf("request body evidence %+v, want client_secret redacted", ex)
		}
	})

	t.Run("credentials_missing unset", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: unset-secret
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:AUTHWATCH_IT_SURELY_UNSET_SECRET}
`)
		f := itMustFail(t, res, "token", flows.ReasonCredentialsMissing)
		itSummaryHas(t, f, "AUTHWATCH_IT_SURELY_UNSET_SECRET", "not set")
		if f.Reason.Layer() != flows.LayerClient {
			t.Errorf("layer %s, want client", f.Reason.Layer())
		}
	})

	t.Run("credentials_missing empty", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: empty-secret
every: 1m
steps:
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${env:EMPTY_SECRET}"}
`)
		f := itMustFail(t, res, "list", flows.ReasonCredentialsMissing)
		itSummaryHas(t, f, "EMPTY_SECRET", "empty")
		if s := itStep(t, res, "list"); len(s.Exchanges) != 0 {
			t.Errorf("a request was sent without its credential: %+v", s.Exchanges)
		}
	})

	t.Run("unauthorized without credentials", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: no-credentials
every: 1m
steps:
  - id: list
    kind: http
    url: "{{api}}/orders"
    expect: {status: 200}
`)
		f := itMustFail(t, res, "list", flows.ReasonUnauthorized)
		itSummaryHas(t, f, "no credentials")
		itFactIs(t, f, "status", "401")
		if v, _ := itFact(f, "www_authenticate"); !strings.Contains(v, `realm="orders"`) {
			t.Errorf("www_authenticate fact %q", v)
		}
	})

	t.Run("unauthorized for a scheme the API does not offer", func(t *testing.T) {
		t.Parallel()
		// The API offers only Bearer; Basic credentials get a bare Bearer
		// challenge, as RFC 6750 §3.1 says for "an unsupported
		// authentication method". Nothing was dropped on the way: the
		// challenge names another scheme than the one sent.
		res := run(t, `
name: basic-on-bearer-api
every: 1m
steps:
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {basic: {username: orders-client, password: "${env:DEMO_ORDERS_CLIENT_SECRET}"}}
`)
		f := itMustFail(t, res, "list", flows.ReasonUnauthorized)
		itSummaryHas(t, f, "basic", "Bearer")
	})

	t.Run("invalid_token for a malformed bearer", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: garbage-token
every: 1m
steps:
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${env:WRONG_SECRET}"}
`)
		f := itMustFail(t, res, "list", flows.ReasonInvalidToken)
		itSummaryHas(t, f, "not a well-formed JWT")
	})

	t.Run("signature_invalid for a tampered token", func(t *testing.T) {
		t.Parallel()
		// The token's kid is in the JWKS, but the signature was changed:
		// the API says "signature verification failed (kid …)". The kid is
		// known, so this is signature_invalid, not signing_key_not_found.
		res := run(t, `
name: tampered-token
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${steps.token.access_token}AAAA"}
`)
		f := itMustFail(t, res, "list", flows.ReasonSignatureInvalid)
		itSummaryHas(t, f, "signature")
	})

	t.Run("issuer_mismatch trailing slash", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: issuer-slash
every: 1m
steps:
  - id: oidc
    kind: discovery
    issuer: "{{issuer}}/"
`)
		f := itMustFail(t, res, "oidc", flows.ReasonIssuerMismatch)
		itSummaryHas(t, f, "trailing slash", env.IdP.Issuer())
		itFactIs(t, f, "issuer", env.IdP.Issuer())
		itFactIs(t, f, "expected_issuer", env.IdP.Issuer()+"/")
	})

	t.Run("issuer_mismatch at the token step", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: issuer-slash-token
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}/"
    client_id: orders-client
    client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
`)
		f := itMustFail(t, res, "token", flows.ReasonIssuerMismatch)
		itSummaryHas(t, f, "trailing slash")
	})

	t.Run("discovery_failed on the API", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: discovery-on-api
every: 1m
steps:
  - id: oidc
    kind: discovery
    issuer: "{{api}}"
`)
		f := itMustFail(t, res, "oidc", flows.ReasonDiscoveryFailed)
		itSummaryHas(t, f, "404", "/.well-known/openid-configuration")
		itFactIs(t, f, "status", "404")
	})

	t.Run("connection_failed", func(t *testing.T) {
		t.Parallel()
		addr := itClosedPort(t)
		res := run(t, `
name: closed-port
every: 1m
steps:
  - id: call
    kind: http
    url: "http://`+addr+`/orders"
`)
		f := itMustFail(t, res, "call", flows.ReasonConnectionFailed)
		itSummaryHas(t, f, addr, "refused")
		itFactIs(t, f, "host", addr)
	})

	t.Run("connection_failed at discovery", func(t *testing.T) {
		t.Parallel()
		addr := itClosedPort(t)
		res := run(t, `
name: closed-port-idp
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "http://`+addr+`"
    client_id: orders-client
    client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
`)
		f := itMustFail(t, res, "token", flows.ReasonConnectionFailed)
		itSummaryHas(t, f, addr)
	})

	t.Run("id_token_used_as_access_token", func(t *testing.T) {
		t.Parallel()
		idToken := itDemoIDToken(t, env)
		r := itNewRunner(itLookupFrom(map[string]string{"ID_TOKEN": idToken}, nil))
		res := itRunYAML(t, r, fill.Replace(`
name: id-token-at-api
every: 1m
steps:
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${env:ID_TOKEN}", audience: api://orders}
`))
		itAssertNoSecrets(t, append([]string{idToken}, itDemoSecrets...), res)
		f := itMustFail(t, res, "list", flows.ReasonIDTokenUsedAsAccessToken)
		itSummaryHas(t, f, "ID token")
		if f.Evidence.Token == nil || f.Evidence.Token.Kind != "id" {
			t.Errorf("token evidence %+v, want kind id", f.Evidence.Token)
		}
	})

	t.Run("cors_origin_not_allowed at the API", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: cors-wrong-origin
every: 1m
steps:
  - id: cors
    kind: preflight
    url: "{{api}}/orders"
    origin: https://evil.example.net
    headers: [Authorization]
`)
		f := itMustFail(t, res, "cors", flows.ReasonCORSOriginNotAllowed)
		itSummaryHas(t, f, "https://evil.example.net")
		itFactIs(t, f, "origin", "https://evil.example.net")
		itFactIs(t, f, "allow_origin", "")
	})

	t.Run("assertion_failed json", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: health-json
every: 1m
steps:
  - id: health
    kind: http
    url: "{{api}}/healthz"
    expect:
      json:
        - {path: .status, equals: ok}
        - {path: .status, equals: degraded}
`)
		f := itMustFail(t, res, "health", flows.ReasonAssertionFailed)
		itSummaryHas(t, f, ".status", `"ok"`, `"degraded"`)
	})

	t.Run("assertion_failed header absent", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: health-header
every: 1m
steps:
  - id: health
    kind: http
    url: "{{api}}/healthz"
    expect:
      headers:
        Strict-Transport-Security: {contains: max-age}
`)
		f := itMustFail(t, res, "health", flows.ReasonAssertionFailed)
		itSummaryHas(t, f, "Strict-Transport-Security", "absent", "max-age")
		itFactIs(t, f, "header", "Strict-Transport-Security")
	})

	t.Run("assertion_failed header present", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: health-header-absent
every: 1m
steps:
  - id: health
    kind: http
    url: "{{api}}/healthz"
    expect:
      headers:
        Cache-Control: {absent: true}
`)
		f := itMustFail(t, res, "health", flows.ReasonAssertionFailed)
		itSummaryHas(t, f, "Cache-Control", `"no-store"`, "absent")
	})

	t.Run("unexpected_status", func(t *testing.T) {
		t.Parallel()
		res := run(t, `
name: not-found
every: 1m
steps:
  - id: call
    kind: http
    url: "{{api}}/nope"
`)
		f := itMustFail(t, res, "call", flows.ReasonUnexpectedStatus)
		itSummaryHas(t, f, "404", "2xx")
	})
}

// demoIDToken logs in at the demo IdP as its example user with the web
// client (authorization code + PKCE) and returns the ID token it issues.
func itDemoIDToken(t *testing.T, env *demo.Env) string {
	t.Helper()
	var d struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	itGetJSON(t, env.IdP.Issuer()+"/.well-known/openid-configuration", &d)
	cfg := oauth2.Config{
		ClientID: idp.WebClientID, ClientSecret: idp.WebClientSecret, RedirectURL: idp.RedirectURI,
		Scopes:   []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: d.AuthorizationEndpoint, TokenURL: d.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("authorize ended at %s (%s), want the login form", resp.Request.URL, resp.Status)
	}
	resp, err = c.PostForm(resp.Request.URL.String(), url.Values{"id": {id}, "username": {idp.UserName}, "password": {idp.UserPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("login did not redirect (%s): %v", resp.Status, err)
	}
	tok, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no id_token in the token response")
	}
	return idToken
}

func itGetJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// TestIntegrationGateway covers what sits between monitor and API: slow and
// silent servers, refusals without challenges, proxies that drop headers,
// redirects, rate limits, TLS and CORS. Each server is a real HTTP server
// on 127.0.0.1 that behaves the way the named failure does.
// proves: authorization_header_dropped, cors_credentials_misconfigured, cors_header_not_allowed, cors_method_not_allowed, cors_origin_not_allowed, cors_preflight_rejected, forbidden, rate_limited, redirect_dropped_credentials, redirected_to_login, server_error, slow_response, timeout, tls_certificate_invalid, www_authenticate_missing
func TestIntegrationGateway(t *testing.T) {
	t.Parallel()
	const bearer = "canary-opaque-bearer-token-5d1e"
	r := itNewRunner(itLookupFrom(map[string]string{"BEARER": bearer}, nil))
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, yaml)
		itAssertNoSecrets(t, []string{bearer}, res)
		return res
	}
	serve := func(t *testing.T, h http.HandlerFunc) *httptest.Server {
		t.Helper()
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv
	}

	t.Run("timeout with phase", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		})
		start := time.Now()
		res := run(t, `
name: slow-server
every: 1m
steps:
  - id: call
    kind: http
    timeout: 200ms
    url: "`+srv.URL+`/slow"
`)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("the run took %s; the step timeout is 200ms", took)
		}
		f := itMustFail(t, res, "call", flows.ReasonTimeout)
		itFactIs(t, f, "phase", "headers")
		itSummaryHas(t, f, "headers phase", strings.TrimPrefix(srv.URL, "http://"))
		if res.Cancelled {
			t.Error("a step timeout is not a cancelled run")
		}
	})

	t.Run("timeout in the body phase", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"items": [`))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		})
		res := run(t, `
name: slow-body
every: 1m
steps:
  - id: call
    kind: http
    timeout: 200ms
    url: "`+srv.URL+`/slow"
`)
		f := itMustFail(t, res, "call", flows.ReasonTimeout)
		itFactIs(t, f, "phase", "body")
	})

	t.Run("slow_response", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond)
			w.Write([]byte("ok"))
		})
		res := run(t, `
name: slow-ok
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
    expect: {max_latency: 1ms}
`)
		f := itMustFail(t, res, "call", flows.ReasonSlowResponse)
		itSummaryHas(t, f, "max_latency", "1ms")
		itFactIs(t, f, "max_latency", "1ms")
		if ms, _ := itFact(f, "duration_ms"); ms == "" || ms == "0" {
			t.Errorf("duration_ms fact %q, want at least 20", ms)
		} else if n, _ := strconv.Atoi(ms); n < 20 {
			t.Errorf("duration_ms %d, want at least 20", n)
		}
	})

	t.Run("www_authenticate_missing", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
		res := run(t, `
name: bare-401
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    expect: {status: 200}
`)
		f := itMustFail(t, res, "call", flows.ReasonWWWAuthenticateMissing)
		itSummaryHas(t, f, "WWW-Authenticate", "no credentials")
	})

	t.Run("www_authenticate_missing on a negative check", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
		res := run(t, `
name: bare-401-negative
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    expect: {status: 401, challenge: Bearer}
`)
		f := itMustFail(t, res, "call", flows.ReasonWWWAuthenticateMissing)
		itSummaryHas(t, f, "Bearer")
	})

	t.Run("authorization_header_dropped", func(t *testing.T) {
		t.Parallel()
		var sawAuth string
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			sawAuth = r.Header.Get("Authorization")
			w.Header().Set("WWW-Authenticate", `Bearer realm="x"`)
			w.WriteHeader(401)
		})
		res := run(t, `
name: proxy-drops-header
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    auth: {bearer: "${env:BEARER}"}
`)
		f := itMustFail(t, res, "call", flows.ReasonAuthorizationHeaderDropped)
		itSummaryHas(t, f, "inference", "bearer", "never sends error codes")
		if v, _ := itFact(f, "challenge"); !strings.Contains(v, "realm") || !strings.Contains(v, "x") {
			t.Errorf("challenge fact %q", v)
		}
		itFactIs(t, f, "www_authenticate", `Bearer realm="x"`)
		if sawAuth != "Bearer "+bearer {
			t.Errorf("the server saw Authorization %q; the test needs the bearer sent", itMask(sawAuth))
		}
	})

	t.Run("redirect_dropped_credentials", func(t *testing.T) {
		t.Parallel()
		var bSaw []string
		b := serve(t, func(w http.ResponseWriter, r *http.Request) {
			bSaw = append(bSaw, r.Host+" auth="+strconv.FormatBool(r.Header.Get("Authorization") != ""))
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="b"`)
				w.WriteHeader(401)
				return
			}
			w.Write([]byte("ok"))
		})
		bLocal := strings.Replace(b.URL, "127.0.0.1", "localhost", 1)
		a := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, bLocal+"/data", http.StatusTemporaryRedirect)
		})
		res := run(t, `
name: cross-host-redirect
every: 1m
steps:
  - id: call
    kind: http
    url: "`+a.URL+`/data"
    auth: {bearer: "${env:BEARER}"}
    expect: {status: 200}
`)
		f := itMustFail(t, res, "call", flows.ReasonRedirectDroppedCredentials)
		itSummaryHas(t, f, "another host", "127.0.0.1", "localhost", "401")
		itFactIs(t, f, "hops", "2")
		if v, _ := itFact(f, "redirect_to"); !strings.HasPrefix(v, bLocal) {
			t.Errorf("redirect_to %q, want %s…", v, bLocal)
		}
		if len(bSaw) != 1 || !strings.HasSuffix(bSaw[0], "auth=false") {
			t.Errorf("server B saw %v, want one request without Authorization", bSaw)
		}
	})

	t.Run("redirected_to_login without following", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/login?next=/data", http.StatusFound)
		})
		res := run(t, `
name: session-expired
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    redirects: {follow: false}
    expect: {status: 200}
`)
		f := itMustFail(t, res, "call", flows.ReasonRedirectedToLogin)
		itSummaryHas(t, f, "302", "/login")
		if v, _ := itFact(f, "location"); !strings.Contains(v, "/login") {
			t.Errorf("location fact %q", v)
		}
	})

	t.Run("redirected_to_login followed to a 200 login page", func(t *testing.T) {
		t.Parallel()
		// The usual shape of an expired session: 302 to the login page,
		// which answers 200 with a form. Following the redirect must not
		// turn that into a pass.
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte(`<form method="post"><input name="username"><input name="password" type="password"></form>`))
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusFound)
		})
		res := run(t, `
name: session-expired-followed
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/api/data"
    auth: {bearer: "${env:BEARER}"}
`)
		f := itMustFail(t, res, "call", flows.ReasonRedirectedToLogin)
		itSummaryHas(t, f, "/login")
	})

	t.Run("server_error", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", "req-503-abc")
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
		})
		res := run(t, `
name: api-down
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
`)
		f := itMustFail(t, res, "call", flows.ReasonServerError)
		itSummaryHas(t, f, "503", "Service Unavailable")
		itFactIs(t, f, "status", "503")
		if ids := f.Evidence.Exchanges[0].RequestIDs; ids["x-request-id"] != "req-503-abc" {
			t.Errorf("request ids %v", ids)
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(403)
			w.Write([]byte(`{"message": "tenant suspended"}`))
		})
		res := run(t, `
name: forbidden
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    auth: {bearer: "${env:BEARER}"}
`)
		f := itMustFail(t, res, "call", flows.ReasonForbidden)
		itSummaryHas(t, f, "tenant suspended")
	})

	t.Run("rate_limited with Retry-After seconds", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		before := time.Now()
		res := run(t, `
name: throttled
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    auth: {bearer: "${env:BEARER}"}
`)
		after := time.Now()
		f := itMustFail(t, res, "call", flows.ReasonRateLimited)
		itSummaryHas(t, f, "429", "Retry-After: 120")
		itFactIs(t, f, "retry_after", "120")
		if lo, hi := before.Add(120*time.Second), after.Add(120*time.Second); f.RetryAfter.Before(lo.Add(-time.Second)) || f.RetryAfter.After(hi.Add(time.Second)) {
			t.Errorf("RetryAfter %s, want between %s and %s", f.RetryAfter, lo, hi)
		}
		js := itRenderings(t, res)["report.JSON"]
		if !strings.Contains(js, `"retry_after":"`+f.RetryAfter.UTC().Format("2006-01-02T15:04:05Z")+`"`) {
			t.Errorf("--json lacks retry_after:\n%s", js)
		}
	})

	t.Run("rate_limited with Retry-After date on a 403", func(t *testing.T) {
		t.Parallel()
		at := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", at.Format(http.TimeFormat))
			w.WriteHeader(http.StatusForbidden)
		})
		res := run(t, `
name: locked-out
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/data"
    auth: {bearer: "${env:BEARER}"}
`)
		f := itMustFail(t, res, "call", flows.ReasonRateLimited)
		if !f.RetryAfter.Equal(at) {
			t.Errorf("RetryAfter %s, want %s", f.RetryAfter, at)
		}
	})

	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
		t.Cleanup(srv.Close)
		caFile := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		const note = "TLS certificate verification is disabled for this step (insecure_skip_verify: true)"

		t.Run("untrusted", func(t *testing.T) {
			t.Parallel()
			res := run(t, `
name: tls-untrusted
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
`)
			f := itMustFail(t, res, "call", flows.ReasonTLSCertificateInvalid)
			itSummaryHas(t, f, "untrusted")
			itFactIs(t, f, "check", "untrusted_chain")
		})
		t.Run("insecure_skip_verify passes with a note", func(t *testing.T) {
			t.Parallel()
			res := run(t, `
name: tls-insecure
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
    insecure_skip_verify: true
`)
			itMustPass(t, res)
			s := itStep(t, res, "call")
			if len(s.Notes) != 1 || s.Notes[0] != note {
				t.Errorf("notes %q, want [%q]", s.Notes, note)
			}
			if tls := s.Exchanges[0].TLS; tls == nil || !tls.VerifySkipped {
				t.Errorf("TLS evidence %+v, want VerifySkipped", tls)
			}
			if h := itRenderings(t, res)["report.Human"]; !strings.Contains(h, note) {
				t.Errorf("the table does not show the note:\n%s", h)
			}
		})
		t.Run("ca_file passes", func(t *testing.T) {
			t.Parallel()
			res := run(t, `
name: tls-ca-file
every: 1m
steps:
  - id: call
    kind: http
    url: "`+srv.URL+`/"
    ca_file: "`+caFile+`"
`)
			itMustPass(t, res)
			if s := itStep(t, res, "call"); len(s.Notes) != 0 {
				t.Errorf("notes %q, want none", s.Notes)
			}
		})
		t.Run("host name mismatch", func(t *testing.T) {
			t.Parallel()
			// httptest's certificate names example.com and 127.0.0.1, not localhost.
			res := run(t, `
name: tls-hostname
every: 1m
steps:
  - id: call
    kind: http
    url: "`+strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+`/"
    ca_file: "`+caFile+`"
`)
			f := itMustFail(t, res, "call", flows.ReasonTLSCertificateInvalid)
			itFactIs(t, f, "check", "hostname")
			itSummaryHas(t, f, "host name", "example.com")
		})
	})

	t.Run("cors", func(t *testing.T) {
		t.Parallel()
		const origin = "https://app.example.com"
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodOptions {
				w.WriteHeader(405)
				return
			}
			h := w.Header()
			switch r.URL.Path {
			case "/reject":
				h.Set("WWW-Authenticate", `Bearer realm="gw"`)
				w.WriteHeader(401)
				return
			case "/wrong-origin":
				h.Set("Access-Control-Allow-Origin", "https://other.example.com")
				h.Set("Access-Control-Allow-Headers", "Authorization")
			case "/no-authorization":
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Headers", "Content-Type, *")
			case "/wildcard":
				h.Set("Access-Control-Allow-Origin", "*")
				h.Set("Access-Control-Allow-Headers", "Authorization")
				h.Set("Access-Control-Allow-Credentials", "true")
			case "/no-credentials":
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Headers", "Authorization")
			case "/method":
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", "Authorization")
			case "/good":
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", "PUT")
				h.Set("Access-Control-Allow-Headers", "authorization")
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			w.WriteHeader(204)
		})
		cases := []struct {
			path, method string
			credentials  bool
			reason       flows.Reason
			summary      []string
		}{
			{"/reject", "GET", false, flows.ReasonCORSPreflightRejected, []string{"401", "OPTIONS /reject"}},
			{"/wrong-origin", "GET", false, flows.ReasonCORSOriginNotAllowed, []string{"https://other.example.com", origin}},
			{"/no-authorization", "GET", false, flows.ReasonCORSHeaderNotAllowed, []string{"Authorization", "Content-Type, *"}},
			{"/wildcard", "GET", true, flows.ReasonCORSCredentialsMisconfig, []string{"*", origin}},
			{"/no-credentials", "GET", true, flows.ReasonCORSCredentialsMisconfig, []string{"Allow-Credentials"}},
			{"/method", "PUT", false, flows.ReasonCORSMethodNotAllowed, []string{"PUT", "GET, POST"}},
			{"/good", "PUT", true, "", nil},
		}
		for _, c := range cases {
			t.Run(strings.TrimPrefix(c.path, "/"), func(t *testing.T) {
				t.Parallel()
				res := run(t, fmt.Sprintf(`
name: cors%s
every: 1m
steps:
  - id: cors
    kind: preflight
    url: "%s%s"
    origin: %s
    method: %s
    headers: [Authorization]
    credentials: %v
`, strings.ReplaceAll(c.path, "/", "-"), srv.URL, c.path, origin, c.method, c.credentials))
				if c.reason == "" {
					itMustPass(t, res)
					return
				}
				f := itMustFail(t, res, "cors", c.reason)
				itSummaryHas(t, f, c.summary...)
				itFactIs(t, f, "origin", origin)
			})
		}
	})
}

// fakeIssuer is a real HTTP server acting as an OpenID provider whose
// discovery document, JWKS and token endpoint are under the test's control,
// for failures a well-behaved IdP cannot be made to show (a token signed with
// an unpublished key, a JWKS that fails).
type itFakeIssuer struct {
	srv       *httptest.Server
	published *rsa.PrivateKey // in the JWKS as kid "published"
	rotated   *rsa.PrivateKey // not in the JWKS
}

func itNewFakeIssuer(t *testing.T) *itFakeIssuer {
	t.Helper()
	fi := &itFakeIssuer{published: itRsaKey(t), rotated: itRsaKey(t)}
	mux := http.NewServeMux()
	// Each tenant /{tenant} is an issuer of its own.
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := fi.srv.URL + "/" + r.PathValue("tenant")
		doc := map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		}
		if r.PathValue("tenant") == "nojwksuri" {
			delete(doc, "jwks_uri")
		}
		itWriteJSONResp(w, 200, doc)
	})
	mux.HandleFunc("GET /{tenant}/jwks", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("tenant") {
		case "jwksdown":
			http.Error(w, "boom", 500)
			return
		case "jwksempty":
			itWriteJSONResp(w, 200, map[string]any{"keys": []any{}})
			return
		}
		itWriteJSONResp(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &fi.published.PublicKey, KeyID: "published", Algorithm: "RS256", Use: "sig"},
		}})
	})
	mux.HandleFunc("POST /{tenant}/token", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		iss := fi.srv.URL + "/" + tenant
		key, kid := fi.published, "published"
		switch tenant {
		case "rotated":
			key, kid = fi.rotated, "rotated-away"
		case "badsig":
			key = fi.rotated // claims the published kid, signed with another key
		case "invalidgrant":
			itWriteJSONResp(w, 400, map[string]string{"error": "invalid_grant", "error_description": "wrong username or password"})
			return
		case "down":
			http.Error(w, "upstream connect error", http.StatusBadGateway)
			return
		case "throttled":
			w.Header().Set("Retry-After", "30")
			itWriteJSONResp(w, 429, map[string]string{"error": "slow_down"})
			return
		}
		now := time.Now()
		tok := itSignJWT(t, key, kid, map[string]any{
			"iss": iss, "sub": "svc", "aud": "api://fake", "client_id": "fake-client", "scope": "read",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		itWriteJSONResp(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	})
	fi.srv = httptest.NewServer(mux)
	t.Cleanup(fi.srv.Close)
	return fi
}

func (fi *itFakeIssuer) issuer(tenant string) string { return fi.srv.URL + "/" + tenant }

func itRsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func itSignJWT(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func itWriteJSONResp(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// proves: discovery_failed, idp_error, jwks_unavailable, rate_limited, signature_invalid, signing_key_not_found
func TestIntegrationJWKS(t *testing.T) {
	t.Parallel()
	fi := itNewFakeIssuer(t)
	const secret = "canary-fake-issuer-secret-91b2"
	r := itNewRunner(itLookupFrom(map[string]string{"SECRET": secret, "PASSWORD": "canary-password-value-33"}, nil))
	tokenStep := func(tenant string) string {
		return `
name: fake-` + tenant + `
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "` + fi.issuer(tenant) + `"
    client_id: fake-client
    client_secret: ${env:SECRET}
    expect: {access_token: {audience: [api://fake]}}
`
	}
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, yaml)
		itAssertNoSecrets(t, []string{secret, "canary-password-value-33"}, res)
		return res
	}

	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		itMustPass(t, run(t, tokenStep("good")))
	})
	t.Run("signing_key_not_found", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, tokenStep("rotated")), "token", flows.ReasonSigningKeyNotFound)
		itSummaryHas(t, f, `"rotated-away"`, "published")
		itFactIs(t, f, "kid", "rotated-away")
		itFactIs(t, f, "jwks_kids", "published")
		itFactIs(t, f, "jwks_uri", fi.issuer("rotated")+"/jwks")
		// The JWKS is refetched once before the kid is declared unknown.
		jwksFetches := 0
		for _, ex := range f.Evidence.Exchanges {
			if strings.HasSuffix(ex.URL, "/jwks") {
				jwksFetches++
			}
		}
		if jwksFetches != 2 {
			t.Errorf("JWKS fetched %d times, want 2 (cache miss, then a forced refresh)", jwksFetches)
		}
	})
	t.Run("signature_invalid", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, tokenStep("badsig")), "token", flows.ReasonSignatureInvalid)
		itSummaryHas(t, f, `"published"`)
	})
	t.Run("jwks_unavailable", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, tokenStep("jwksdown")), "token", flows.ReasonJWKSUnavailable)
		itSummaryHas(t, f, "500", "/jwksdown/jwks")
	})
	t.Run("jwks_unavailable empty at discovery", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, `
name: empty-jwks
every: 1m
steps:
  - id: oidc
    kind: discovery
    issuer: "`+fi.issuer("jwksempty")+`"
`), "oidc", flows.ReasonJWKSUnavailable)
		itSummaryHas(t, f, "no usable signing keys")
	})
	t.Run("discovery_failed missing jwks_uri", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, `
name: no-jwks-uri
every: 1m
steps:
  - id: oidc
    kind: discovery
    issuer: "`+fi.issuer("nojwksuri")+`"
`), "oidc", flows.ReasonDiscoveryFailed)
		itSummaryHas(t, f, "jwks_uri")
		itFactIs(t, f, "missing_fields", "jwks_uri")
	})
	t.Run("invalid_grant", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, `
name: password-refused
every: 1m
steps:
  - id: login
    kind: password
    issuer: "`+fi.issuer("invalidgrant")+`"
    client_id: fake-client
    client_secret: ${env:SECRET}
    username: synthetic-user
    password: ${env:PASSWORD}
`), "login", flows.ReasonInvalidGrant)
		itSummaryHas(t, f, "password", "wrong username or password")
	})
	t.Run("idp_error", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, tokenStep("down")), "token", flows.ReasonIdPError)
		itSummaryHas(t, f, "502")
	})
	t.Run("rate_limited at the token endpoint", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, tokenStep("throttled")), "token", flows.ReasonRateLimited)
		itSummaryHas(t, f, "429", "Retry-After: 30")
		if f.RetryAfter.IsZero() {
			t.Error("RetryAfter is zero")
		}
	})
}
