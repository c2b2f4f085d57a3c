package main

// The shipped examples in flows.d, run in-process (`validate`, then `check
// --json`) against local test servers: each example is copied into a temporary
// directory with its hosts, client ids, audiences and scopes replaced by plain
// string replacement (one small table per file, below), its ${env:...} secrets
// set to the local IdP's real test secrets, and the steps' structure left
// alone. What a step does against the local IdP is asserted exactly: the steps
// that pass, and for a step that fails, the reason codes that are the truthful
// outcome there.
//
// Local servers:
//   - the demo IdP (internal/demo: zitadel's op) and the demo orders API. The
//     demo IdP gives client_credentials JWT access tokens a default audience
//     (api://orders for orders-client) and takes the Auth0-style audience
//     parameter: that is what the Keycloak, Entra ID and Auth0 examples need.
//     Its tokens last 5 minutes.
//   - the npm oidc-provider (testdata/oidc-provider) behind nginx, for Okta: an
//     issuer with a path (/oauth2/<server id>). oidc-provider serves every
//     endpoint at / whatever the issuer's path, so ISSUER/.well-known/... is a
//     404 on its own port; nginx maps the issuer's path onto /.
//   - oidc-provider with clients registered with the public keys of key
//     pairs generated per test, for the private_key_jwt examples, and
//     testenv.DPoPAPI for the FAPI 2.0 one (examples_keys_test.go).
//   - exampleAPI (below), an httptest orders API that answers in the shapes
//     the examples assert ({"items": [...]}, /orders/mine, CORS for a SPA) and
//     checks bearer tokens for real against the demo IdP's JWKS.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/testenv"
)

// exStep is what one step of an example must do locally: a status (pass,
// warn, fail, skip); for fail, the reason codes that may explain it; for
// warn, the warnings it must carry as findings.
type exStep struct {
	status   string
	reasons  []string
	findings []string
}

func exPass() exStep                      { return exStep{status: "pass"} }
func exWarn(findings ...string) exStep    { return exStep{status: "warn", findings: findings} }
func exSkip() exStep                      { return exStep{status: "skip"} }
func exFail(reasons ...string) exStep     { return exStep{status: "fail", reasons: reasons} }
func exFlowStep(flow, step string) string { return flow + "/" + step }

// exNeverReasons may never explain a step of a rewritten example: the copy is
// valid, every secret it names is set, and nothing here is a monitor bug.
var exNeverReasons = []string{"config_invalid", "internal_error", "credentials_missing"}

// exJWT matches the start of a compact JWT.
var exJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.`)

// exLeftoverURL finds a URL that was not rewritten to a local server.
var exLeftoverURL = regexp.MustCompile(`https://[^\s"'}\]]+`)

// exNotContacted are https URLs that may stay in a copy: identifiers that no
// request goes to (a browser origin, an RFC 8707 resource indicator).
var exNotContacted = []string{"https://app.example.com", "https://api.example.test/", "https://opaque.example.test/"}

// exRun runs the command in-process with a deadline.
func exRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// exRewrite copies flows.d/name into dir with every old string replaced by
// its new one (longer old strings first, so a URL is replaced before the
// shorter URL it starts with). Every old string must occur: a table entry
// that matches nothing means the example changed under the test.
func exRewrite(t *testing.T, src, dir string, table map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	olds := make([]string, 0, len(table))
	for old := range table {
		if !strings.Contains(string(raw), old) {
			t.Errorf("rewrite %q: not found in %s (the example changed?)", old, src)
		}
		olds = append(olds, old)
	}
	sort.Slice(olds, func(i, j int) bool {
		if len(olds[i]) != len(olds[j]) {
			return len(olds[i]) > len(olds[j])
		}
		return olds[i] < olds[j]
	})
	pairs := make([]string, 0, 2*len(olds))
	for _, old := range olds {
		pairs = append(pairs, old, table[old])
	}
	out := strings.NewReplacer(pairs...).Replace(string(raw))
	// No request may leave 127.0.0.1: outside comments, no https URL is left.
	for i, line := range strings.Split(out, "\n") {
		code := line
		if j := strings.Index(code, "#"); j >= 0 && (j == 0 || code[j-1] == ' ' || code[j-1] == '\t') {
			code = code[:j]
		}
		for _, u := range exLeftoverURL.FindAllString(code, -1) {
			if slices.Contains(exNotContacted, u) || strings.HasPrefix(u, "https://127.0.0.1:") { // a local TLS server
				continue
			}
			t.Errorf("%s:%d: %s is not rewritten to a local server", filepath.Base(src), i+1, u)
		}
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// exLines decodes `check --json` output, one object per line.
func exLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("--json line is not JSON: %v\n%s", err, sc.Text())
		}
		lines = append(lines, m)
	}
	return lines
}

// exSecretForms is each secret as set, and as the HTTP Basic credentials a
// client_secret_basic request carries it in.
func exSecretForms(secrets map[string]string, clientIDs []string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s)
		for _, id := range clientIDs {
			out = append(out, base64.StdEncoding.EncodeToString([]byte(id+":"+s)))
		}
	}
	return out
}

func TestExamplesAgainstTestIdPs(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("TestExamplesAgainstTestIdPs took %s", time.Since(start).Round(time.Millisecond)) })
	examples := filepath.Join(testenv.RepoRoot(t), "flows.d")

	// 1. The examples as shipped are valid. Their secrets are not set here
	// (warnings only); make sure of it, whatever the caller's environment.
	for _, name := range []string{"ORDERS_MONITOR_SECRET", "ENTRA_MONITOR_SECRET", "AUTH0_MONITOR_SECRET",
		"OKTA_MONITOR_SECRET", "SYNTHETIC_USER", "SYNTHETIC_PASSWORD", "REVOCATION_MONITOR_SECRET", "FAPI_MONITOR_PASSWORD"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	t.Run("validate", func(t *testing.T) {
		code, stdout, stderr := exRun(t, "validate", examples)
		if code != exitOK {
			t.Fatalf("validate flows.d: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout, stderr)
		}
		if !strings.HasPrefix(stdout, "ok: ") {
			t.Errorf("validate flows.d: stdout %q, want ok: N flows, M steps", stdout)
		}
		for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
			unset := strings.Contains(line, "is not set") || strings.Contains(line, "does not exist")
			if line != "" && !(strings.HasPrefix(line, "warning: ") && unset) {
				t.Errorf("validate flows.d: stderr line is not an unset-secret warning: %s", line)
			}
		}
	})

	// The demo IdP and API, shared by the subtests.
	env, err := demo.Start(t.Context())
	if err != nil {
		t.Fatalf("demo.Start: %v", err)
	}
	t.Cleanup(func() { _ = env.Close() })
	demoIssuer, demoAPI := env.IdP.Issuer(), env.API.URL()
	api := newExampleAPI(t, demoIssuer, idp.OrdersAudience)

	type example struct {
		file string
		// setup starts what only this example needs and returns the
		// rewrite table (old → new, plain strings) and the secrets to set.
		setup func(t *testing.T) (rewrite, secrets map[string]string)
		// clientIDs are the client ids the secrets go with (for the Basic
		// credentials form of the secret canaries).
		clientIDs []string
		// canaries, when set, are more strings no output may hold (the
		// lines of private keys the setup generated).
		canaries func() []string
		steps    map[string]exStep // "flow/step" → outcome; every step of the file
		exit     int
		// verify, when set, checks the local servers after the run.
		verify func(t *testing.T)
	}
	var oktaKey, entraKey exKey
	var fapi2 exFAPI2
	cases := []example{{
		// Keycloak → demo IdP (client_credentials without any audience
		// parameter: the IdP's default audience plays the Audience mapper)
		// and exampleAPI (the {"items": [...]} answer the flow asserts).
		file: "keycloak.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			return map[string]string{
					"https://sso.example.com/realms/acme": demoIssuer,
					"orders-monitor":                      idp.OrdersClientID,
					"[orders-api]":                        "[" + idp.OrdersAudience + "]",
					"audience: orders-api":                "audience: " + idp.OrdersAudience,
					// The demo IdP's access tokens name the client in client_id
					// (RFC 9068), not azp.
					"{azp: orders-monitor}":                  "{client_id: " + idp.OrdersClientID + "}",
					"https://api.example.com/orders?limit=1": api.URL + "/orders?limit=1",
				}, map[string]string{
					"ORDERS_MONITOR_SECRET": idp.OrdersClientSecret,
				}
		},
		clientIDs: []string{idp.OrdersClientID},
		steps: map[string]exStep{
			"keycloak-orders-api/discovery":      exPass(),
			"keycloak-orders-api/token":          exPass(),
			"keycloak-orders-api/list_orders":    exPass(),
			"keycloak-orders-api/requires_token": exPass(),
		},
		exit: exitOK,
	}, {
		// Keycloak user login → the demo IdP's login page (zitadel's example
		// login: the same username/password field names as Keycloak's). The
		// demo user has no second factor, so the TOTP secret is never used.
		file: "keycloak-login.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			return map[string]string{
					"https://sso.example.com/realms/acme":    demoIssuer,
					"authwatch-synthetic":                    idp.WebClientID,
					"https://app.example.com/oauth/callback": idp.RedirectURI,
					"synthetic-user@example.com":             idp.UserName,
				}, map[string]string{
					"SYNTHETIC_CLIENT_SECRET": idp.WebClientSecret,
					"SYNTHETIC_PASSWORD":      idp.UserPassword,
					"SYNTHETIC_TOTP_SECRET":   "JBSWY3DPEHPK3PXP",
				}
		},
		clientIDs: []string{idp.WebClientID},
		steps: map[string]exStep{
			"keycloak-user-login/login":   exPass(),
			"keycloak-user-login/refresh": exPass(),
		},
		exit: exitOK,
	}, {
		// Entra ID → demo IdP and demo API. The demo IdP has no
		// "<App ID URI>/.default" scope: orders-client asks for orders.read and
		// gets the default audience api://orders, the stand-in for the API's
		// client ID in a v2.0 token.
		file: "entra-id.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			return map[string]string{
					"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0": demoIssuer,
					"22222222-2222-2222-2222-222222222222":                                        idp.OrdersClientID,
					"{azp: 22222222-2222-2222-2222-222222222222}":                                 "{client_id: " + idp.OrdersClientID + "}",
					`["api://orders/.default"]`:                                                   `["` + idp.ScopeOrdersRead + `"]`,
					`"11111111-1111-1111-1111-111111111111"`:                                      `"` + idp.OrdersAudience + `"`,
					"[Orders.Read]":                                                               "[" + idp.ScopeOrdersRead + "]",
					"https://api.example.com/orders?$top=1":                                       demoAPI + "/orders?$top=1",
				}, map[string]string{
					"ENTRA_MONITOR_SECRET": idp.OrdersClientSecret,
				}
		},
		clientIDs: []string{idp.OrdersClientID},
		steps: map[string]exStep{
			"entra-orders-api/discovery": exPass(),
			// min_lifetime 10m; the demo IdP's tokens last 5 minutes.
			"entra-orders-api/token":       exWarn("token_lifetime_short"),
			"entra-orders-api/list_orders": exPass(),
		},
		exit: exitOK,
	}, {
		// Auth0 → demo IdP (it takes the audience parameter) and demo API.
		// Its issuer has no trailing slash, unlike Auth0's.
		file: "auth0.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			return map[string]string{
					"https://acme.eu.auth0.com/":             demoIssuer,
					"orders-monitor-client-id":               idp.OrdersClientID,
					"https://api.example.com/orders?limit=1": demoAPI + "/orders?limit=1",
					"https://api.example.com/orders":         idp.OrdersAudience,
					"https://api.example.com/billing":        idp.BillingAudience,
					"read:orders":                            idp.ScopeOrdersRead,
					// gty is Auth0's own claim; the demo IdP names the client.
					"{gty: client-credentials}": "{client_id: " + idp.OrdersClientID + "}",
				}, map[string]string{
					"AUTH0_MONITOR_SECRET": idp.OrdersClientSecret,
				}
		},
		clientIDs: []string{idp.OrdersClientID},
		steps: map[string]exStep{
			"auth0-orders-api/discovery": exPass(),
			// min_lifetime 1h; the demo IdP's tokens last 5 minutes.
			"auth0-orders-api/token":       exWarn("token_lifetime_short"),
			"auth0-orders-api/list_orders": exPass(),
			// Refused, as it must be, but with RFC 8707's invalid_target
			// (the demo IdP) instead of Auth0's access_denied, which the step
			// expects: the step reports the error it got.
			"auth0-orders-api/billing_refused": exFail("invalid_target"),
		},
		exit: exitFailed,
	}, {
		// FAPI-style mutual TLS → oidc-provider (tls_client_auth,
		// certificate-bound tokens) and an accounts API, both behind nginx
		// with ssl_verify_client on (examples_mtls_test.go).
		file: "fapi-mtls.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			l := fapiMTLS(t)
			return map[string]string{
				"https://auth.bank.example.com":         l.issuer,
				"https://api.bank.example.com/accounts": l.api,
				"/etc/authwatch/fapi-client.crt":        l.certFile,
				"/etc/authwatch/fapi-client.key":        l.keyFile,
				"scopes: [accounts]":                    "scopes: [api:read]\n    resource: [\"https://api.example.test/\"]\n    ca_file: " + l.caFile,
				"    auth:\n":                           "    ca_file: " + l.caFile + "\n    auth:\n",
			}, map[string]string{}
		},
		steps: map[string]exStep{
			"fapi-accounts-api/token":    exPass(),
			"fapi-accounts-api/accounts": exPass(),
		},
		exit: exitOK,
	}, {
		// Okta → oidc-provider behind nginx, keeping the custom
		// authorization server's path in the issuer.
		file: "okta.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			testenv.Require(t, "node")
			issuer := oktaProvider(t, "/oauth2/aus1a2b3c4d5e6f7g8h9", nil)
			return map[string]string{
					"https://acme.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9": issuer,
					"0oa1a2b3c4d5e6f7g8h9":                              "app-client",
					`"api://orders"`:                                    `"https://api.example.test/"`,
					"audience: api://orders":                            "audience: https://api.example.test/",
					"orders.read":                                       "api:read",
					"https://api.example.com/orders/mine":               api.URL + "/orders/mine",
				}, map[string]string{
					"OKTA_MONITOR_SECRET": "app-secret",
					"SYNTHETIC_USER":      "alice",
					"SYNTHETIC_PASSWORD":  "alice-password",
				}
		},
		clientIDs: []string{"app-client"},
		steps: map[string]exStep{
			"okta-metadata/discovery": exPass(),
			// oidc-provider has no resource owner password grant (neither has
			// the demo IdP): unsupported_grant_type is the truthful answer of
			// an IdP without ROPC, so the login fails as grant_not_allowed and
			// the steps that need its tokens are skipped.
			"okta-user-login/login":     exFail("grant_not_allowed"),
			"okta-user-login/refresh":   exSkip(),
			"okta-user-login/my_orders": exSkip(),
		},
		exit: exitFailed,
	}, {
		// Revocation → oidc-provider, whose introspection and revocation
		// endpoints are the real ones; its opaque-token resource stands in
		// for the API.
		file: "revocation.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			testenv.Require(t, "node")
			p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir()})
			return map[string]string{
					"https://idp.example.com":        p.Issuer,
					"revocation-monitor":             "cc-client",
					"orders.read":                    "api:read",
					"https://api.example.com/orders": "https://opaque.example.test/",
				}, map[string]string{
					"REVOCATION_MONITOR_SECRET": "cc-secret",
				}
		},
		clientIDs: []string{"cc-client"},
		steps: map[string]exStep{
			"revocation-takes/token":   exPass(),
			"revocation-takes/active":  exPass(),
			"revocation-takes/revoke":  exPass(),
			"revocation-takes/revoked": exPass(),
		},
		exit: exitOK,
	}, {
		// Okta API services app with private_key_jwt → oidc-provider behind
		// nginx (the custom authorization server's path kept in the
		// issuer), the client registered with the public key under the
		// example's kid; exampleAPI checks its tokens.
		file: "okta-private-key-jwt.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			testenv.Require(t, "node")
			oktaKey = exNewKey(t, "rsa")
			clients := exClientsFile(t, exServiceClient("okta-pkjwt", "", oktaKey.publicJWK(t, "okta-key-1")))
			issuer := oktaProvider(t, "/oauth2/aus1a2b3c4d5e6f7g8h9", map[string]string{"EXTRA_CLIENTS": clients, "ERROR_DETAIL": "1"})
			oktaAPI := newExampleAPI(t, issuer, exResource)
			return map[string]string{
				"https://acme.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9": issuer,
				"0oa1a2b3c4d5e6f7g8h9":                              "okta-pkjwt",
				"/etc/authwatch/okta-orders.key":                    oktaKey.keyFile,
				"3kJZ8fQYc1mS0n2Pq9rT":                              "okta-key-1",
				// oidc-provider issues JWT access tokens for a resource
				// indicator; Okta's authorization server has its audience.
				"    scopes: [orders.read]\n    expect:": "    scopes: [api:read]\n    resource: [\"" + exResource + "\"]\n    expect:",
				"orders.read":                            "api:read",
				`"api://orders"`:                         `"` + exResource + `"`,
				"audience: api://orders":                 "audience: " + exResource,
				// Okta names the client in cid, oidc-provider in client_id.
				"{cid: 0oa1a2b3c4d5e6f7g8h9}":            "{client_id: okta-pkjwt}",
				"https://api.example.com/orders?limit=1": oktaAPI.URL + "/orders?limit=1",
			}, map[string]string{}
		},
		canaries: func() []string { return oktaKey.canaries() },
		steps: map[string]exStep{
			"okta-orders-pkjwt/token":       exPass(),
			"okta-orders-pkjwt/list_orders": exPass(),
		},
		exit: exitOK,
	}, {
		// Entra ID certificate credential → oidc-provider, the client
		// registered with the certificate's public key without a kid and
		// PS256 only (an RS256 assertion is refused); exampleAPI.
		file: "entra-id-certificate.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			testenv.Require(t, "node")
			entraKey = exNewKey(t, "rsa")
			clients := exClientsFile(t, exServiceClient("entra-cert-client", "PS256", entraKey.publicJWK(t, "")))
			p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "EXTRA_CLIENTS": clients, "ERROR_DETAIL": "1"})
			entraAPI := newExampleAPI(t, p.Issuer, exResource)
			return map[string]string{
				"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0": p.Issuer,
				"22222222-2222-2222-2222-222222222222":                                        "entra-cert-client",
				"{azp: 22222222-2222-2222-2222-222222222222}":                                 "{client_id: entra-cert-client}",
				"/etc/authwatch/entra-orders.key":                                             entraKey.keyFile,
				"/etc/authwatch/entra-orders.crt":                                             entraKey.selfSignedCertificate(t),
				`scopes: ["api://orders/.default"]`:                                           `scopes: ["api:read"]` + "\n    resource: [\"" + exResource + "\"]",
				`"11111111-1111-1111-1111-111111111111"`:                                      `"` + exResource + `"`,
				"[Orders.Read]":                                                               "[api:read]",
				"https://api.example.com/orders?$top=1":                                       entraAPI.URL + "/orders?$top=1",
			}, map[string]string{}
		},
		canaries: func() []string { return entraKey.canaries() },
		steps: map[string]exStep{
			"entra-orders-cert/token":       exPass(),
			"entra-orders-cert/list_orders": exPass(),
		},
		exit: exitOK,
	}, {
		// FAPI 2.0-style login → oidc-provider that requires this client to
		// push its authorization requests and to use DPoP, and a DPoP API
		// that checks proofs (examples_keys_test.go).
		file: "fapi2-dpop-par.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			fapi2 = exFAPI2Setup(t, "fapi-monitor", "monitor-2026", "http://127.0.0.1/callback")
			return map[string]string{
					"https://auth.bank.example.com":         fapi2.issuer,
					"/etc/authwatch/fapi-client.key":        fapi2.key.keyFile,
					"https://monitor.example.com/callback":  "http://127.0.0.1/callback",
					"synthetic-monitor":                     "alice",
					"scopes: [openid, accounts]":            `scopes: [openid, "api:read"]` + "\n    resource: [\"" + exResource + "\"]",
					"https://api.bank.example.com/accounts": fapi2.api.URL + "/accounts",
				}, map[string]string{
					"FAPI_MONITOR_PASSWORD": "alice-password",
				}
		},
		canaries: func() []string { return fapi2.key.canaries() },
		steps: map[string]exStep{
			"fapi2-accounts-login/login":    exPass(),
			"fapi2-accounts-login/accounts": exPass(),
		},
		exit: exitOK,
		// check_binding: the proof accepted once, the token as Bearer and
		// with another key's proof refused.
		verify: func(t *testing.T) {
			if accepted, refused := fapi2.api.Counts(); accepted != 1 || len(refused) != 2 {
				t.Errorf("the DPoP API accepted %d and refused %v; want 1 and the Bearer and other-key tries", accepted, refused)
			}
		},
	}, {
		// CORS → exampleAPI, which answers preflights for
		// https://app.example.com (the example's origin, kept) as a correctly
		// configured API does. No IdP and no secrets.
		file: "cors.yaml",
		setup: func(t *testing.T) (map[string]string, map[string]string) {
			return map[string]string{
				"https://api.example.com/orders/42": api.URL + "/orders/42",
				"https://api.example.com/session":   api.URL + "/session",
				"https://api.example.com/orders":    api.URL + "/orders",
			}, nil
		},
		steps: map[string]exStep{
			"cors-orders-spa/preflight_update":  exPass(),
			"cors-orders-spa/preflight_session": exPass(),
			"cors-orders-spa/anonymous_answer":  exPass(),
		},
		exit: exitOK,
	}}

	// Every example file has a case.
	files, _ := filepath.Glob(filepath.Join(examples, "*.yaml"))
	for _, f := range files {
		if !slices.ContainsFunc(cases, func(c example) bool { return c.file == filepath.Base(f) }) {
			t.Errorf("flows.d/%s has no case in TestExamplesAgainstTestIdPs", filepath.Base(f))
		}
	}

	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".yaml"), func(t *testing.T) {
			rewrite, secrets := c.setup(t)
			for name, value := range secrets {
				t.Setenv(name, value)
			}
			copyPath := exRewrite(t, filepath.Join(examples, c.file), t.TempDir(), rewrite)
			if t.Failed() {
				raw, _ := os.ReadFile(copyPath)
				t.Fatalf("rewritten copy:\n%s", raw)
			}

			code, stdout, stderr := exRun(t, "check", "--json", copyPath)
			defer func() {
				if t.Failed() {
					raw, _ := os.ReadFile(copyPath)
					t.Logf("rewritten copy:\n%s\nstdout:\n%s\nstderr:\n%s", raw, stdout, stderr)
				}
			}()
			if code != c.exit {
				t.Errorf("check --json: exit %d, want %d", code, c.exit)
			}
			if strings.TrimSpace(stderr) != "" {
				t.Errorf("check --json: stderr is not empty (all secrets are set):\n%s", stderr)
			}

			got := map[string]map[string]any{}
			flowOK := map[string]bool{}
			for _, l := range exLines(t, stdout) {
				flow, _ := l["flow"].(string)
				switch l["type"] {
				case "step":
					step, _ := l["step"].(string)
					got[exFlowStep(flow, step)] = l
				case "flow":
					flowOK[flow], _ = l["ok"].(bool)
				}
			}
			for key, want := range c.steps {
				l, ok := got[key]
				if !ok {
					t.Errorf("%s: no step line", key)
					continue
				}
				status, _ := l["status"].(string)
				reason, _ := l["reason"].(string)
				summary, _ := l["summary"].(string)
				if status != want.status {
					t.Errorf("%s: status %s (reason %q: %s), want %s %v", key, status, reason, summary, want.status, want.reasons)
					continue
				}
				if slices.Contains(exNeverReasons, reason) {
					t.Errorf("%s: reason %s (%s): the rewritten example cannot run", key, reason, summary)
				}
				if status == "fail" && !slices.Contains(want.reasons, reason) {
					t.Errorf("%s: reason %q (%s), want one of %v", key, reason, summary, want.reasons)
				}
				// A warned step's reason is its first warning.
				if (status == "warn") == (reason == "") && status != "fail" {
					t.Errorf("%s: status %s with reason %q", key, status, reason)
				}
				var findings []string
				if fs, _ := l["findings"].([]any); fs != nil {
					for _, f := range fs {
						if m, _ := f.(map[string]any); m != nil {
							r, _ := m["reason"].(string)
							findings = append(findings, r)
						}
					}
				}
				for _, f := range want.findings {
					if !slices.Contains(findings, f) {
						t.Errorf("%s: findings %v, want %s among them", key, findings, f)
					}
				}
				t.Logf("%s: %s %s %s %v", key, status, reason, summary, findings)
			}
			for key := range got {
				if _, ok := c.steps[key]; !ok {
					t.Errorf("%s: a step line the case does not expect", key)
				}
			}
			wantExit := exitOK
			for _, ok := range flowOK {
				if !ok {
					wantExit = exitFailed
				}
			}
			if wantExit != c.exit {
				t.Errorf("flow lines say exit %d, the case wants %d: %v", wantExit, c.exit, flowOK)
			}

			if c.verify != nil {
				c.verify(t)
			}
			canaries := exSecretForms(secrets, c.clientIDs)
			if c.canaries != nil {
				canaries = append(canaries, c.canaries()...)
			}
			for where, text := range map[string]string{"stdout": stdout, "stderr": stderr} {
				for _, s := range canaries {
					if strings.Contains(text, s) {
						t.Errorf("a secret (%q…) appears in %s", s[:min(4, len(s))], where)
					}
				}
				if m := exJWT.FindString(text); m != "" {
					t.Errorf("a JWT (%s…) appears in %s", m[:12], where)
				}
			}
		})
	}
}

// oktaProvider starts oidc-provider with issuer http://127.0.0.1:<nginx>/<path>
// behind nginx, which sends <path>/... to / and everything else (the
// endpoints discovery names, built from the request's Host) on as it is.
// nginx must know oidc-provider's port and oidc-provider nginx's (for its
// issuer), so oidc-provider gets a port picked ahead and starts second. env
// adds to oidc-provider's environment (EXTRA_CLIENTS, ...).
func oktaProvider(t *testing.T, path string, env map[string]string) string {
	t.Helper()
	nodePort := testenv.FreePort(t)
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}};
        proxy_set_header Host $http_host;
        location %s/ { proxy_pass http://127.0.0.1:%d/; }
        location / { proxy_pass http://127.0.0.1:%d; }
    }`, path, nodePort, nodePort))
	merged := map[string]string{
		"PORT":             strconv.Itoa(nodePort),
		"ISSUER":           ngx.URL(0) + path,
		"KEY_DIR":          t.TempDir(),
		"ACCESS_TOKEN_TTL": "3600",
	}
	for k, v := range env {
		merged[k] = v
	}
	p := testenv.NodeOIDCProvider(t, merged)
	return p.Issuer
}

// newExampleAPI is an orders API in the shapes the examples assert, for
// bearer tokens of issuer with aud audience (verified with go-oidc: signature
// against the issuer's JWKS, iss, aud, exp):
//
//	GET /orders        {"items": [...]}; 401 with a Bearer challenge without a
//	                   valid token (RFC 6750)
//	GET /orders/mine   {"owner": <sub>, "items": [...]}
//	OPTIONS *          CORS preflight for https://app.example.com, credentials allowed
//
// Answers to https://app.example.com carry Access-Control-Allow-Origin and
// Vary: Origin, 401s included.
func newExampleAPI(t *testing.T, issuer, audience string) *httptest.Server {
	t.Helper()
	const origin = "https://app.example.com"
	provider, err := oidc.NewProvider(t.Context(), issuer)
	if err != nil {
		t.Fatalf("example API: discovery of %s: %v", issuer, err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: audience})

	cors := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if r.Header.Get("Origin") == origin {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		}
	}
	authed := func(next func(w http.ResponseWriter, sub string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			cors(w, r)
			raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="orders"`)
				http.Error(w, "token required", http.StatusUnauthorized)
				return
			}
			tok, err := verifier.Verify(r.Context(), raw)
			if err != nil {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="orders", error="invalid_token", error_description=%q`, err.Error()))
				http.Error(w, "invalid token", http.StatusUnauthorized)
				return
			}
			next(w, tok.Subject)
		}
	}
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	items := []map[string]any{{"id": 1, "item": "widget", "quantity": 3}}

	mux := http.NewServeMux()
	mux.HandleFunc("OPTIONS /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Access-Control-Request-Method")
		w.Header().Add("Vary", "Access-Control-Request-Headers")
		if r.Header.Get("Origin") == origin {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /orders", authed(func(w http.ResponseWriter, _ string) {
		writeJSON(w, map[string]any{"items": items})
	}))
	mux.HandleFunc("GET /orders/mine", authed(func(w http.ResponseWriter, sub string) {
		writeJSON(w, map[string]any{"owner": sub, "items": items})
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
