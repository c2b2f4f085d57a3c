package flows_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/testenv"
)

// matrixDemoIDToken signs in at the demo IdP as its example user (web
// client, authorization code + PKCE) and returns the ID token it issues:
// the credential a front end mistakenly sends to an API.
func matrixDemoIDToken(t *testing.T, env *demo.Env) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	issuer := env.IdP.Issuer()
	cfg := oauth2.Config{
		ClientID: idp.WebClientID, ClientSecret: idp.WebClientSecret, RedirectURL: idp.RedirectURI,
		Scopes: []string{"openid", "profile"},
		// zitadel's example OP serves these paths (see its discovery document).
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(cfg.AuthCodeURL("matrix", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
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
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, c), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no id_token in the token response")
	}
	return idToken
}

// TestMatrixApp: the demo orders API behind a real nginx, with the API's own
// answers (RFC 6750 challenges) or the gateway's, one mistake per row.
//
// Three rows pin product bugs and fail until they are fixed:
// sso_redirect_followed and sso_redirect_followed_expecting_json (a followed
// redirect that ends on a login page answering 200 is not
// redirected_to_login), and token_signed_with_colliding_kid (an API that
// says "signature verification failed (kid X)" is read as
// signing_key_not_found though the kid is in its JWKS).
//
// proves: redirected_to_login, invalid_token, insufficient_scope, audience_mismatch, id_token_used_as_access_token, unauthorized, forbidden, auth_not_enforced, unexpected_status, assertion_failed, slow_response
func TestMatrixApp(t *testing.T) {
	t.Parallel()
	env := matrixDemo(t)
	other := testenv.NodeOIDCProvider(t, nil) // another IdP, not the one the API trusts
	// An IdP whose signing key was given the kid of the demo IdP's key (a
	// key pasted in under a kid copied from another environment).
	demoKids := matrixKids(t, matrixJWKSURI(t, env.IdP.Issuer()))
	if len(demoKids) == 0 {
		t.Fatal("the demo IdP publishes no keys")
	}
	collider := testenv.NodeOIDCProvider(t, map[string]string{"JWKS_KEYS": matrixJWKSFile(t, demoKids[0])})
	api := strings.TrimPrefix(env.API.URL(), "http://")
	slowish := matrixSlowUpstream(t, 400*time.Millisecond)
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    # 0: a correct reverse proxy.
    server {
        listen 127.0.0.1:{{port0}};
        location / { proxy_pass http://%[1]s; }
    }
    # 1: HTTP Basic auth in front of a bearer API.
    server {
        listen 127.0.0.1:{{port1}};
        location / {
            auth_basic "staff only";
            auth_basic_user_file {{dir}}/htpasswd;
            proxy_pass http://%[1]s;
        }
    }
    # 2: an IP allow-list without the monitor's address.
    server {
        listen 127.0.0.1:{{port2}};
        location / {
            allow 10.0.0.0/8;
            deny all;
            proxy_pass http://%[1]s;
        }
    }
    # 3: /api/ proxied without a URI part: the API gets /api/orders.
    server {
        listen 127.0.0.1:{{port3}};
        location /api/ { proxy_pass http://%[1]s; }
    }
    # 4: a maintenance page, answered 200.
    server {
        listen 127.0.0.1:{{port4}};
        location / {
            default_type text/html;
            return 200 "<html><body>Down for maintenance</body></html>\n";
        }
    }
    # 5: an SSO gateway that sends API calls to its login page.
    server {
        listen 127.0.0.1:{{port5}};
        location / { return 302 /login?rd=$request_uri; }
        location = /login {
            default_type text/html;
            return 200 "<html><form method=post action=/login><input name=username></form></html>\n";
        }
    }
    # 6: an upstream that takes 400ms.
    server {
        listen 127.0.0.1:{{port6}};
        location / { proxy_pass http://%[2]s; }
    }`, api, slowish.Listener.Addr()))
	matrixWriteFile(t, ngx.Dir+"/htpasswd", "monitor:{PLAIN}test-only-password\n")

	r := flows.NewRunner()
	r.Secrets = matrixSecrets(map[string]string{
		"ORDERS_SECRET":  idp.OrdersClientSecret,
		"READER_SECRET":  idp.ReaderClientSecret,
		"BILLING_SECRET": idp.BillingClientSecret,
		"CC_SECRET":      "cc-secret",
		"ID_TOKEN":       matrixDemoIDToken(t, env),
	})
	demoToken := func(client, secretRef, scopes string) string {
		return fmt.Sprintf(`steps:
  - id: token
    kind: client_credentials
    issuer: %s
    client_id: %s
    client_secret: ${env:%s}
    client_auth: client_secret_basic
    scopes: [%s]
`, env.IdP.Issuer(), client, secretRef, scopes)
	}
	orders := demoToken(idp.OrdersClientID, "ORDERS_SECRET", "orders.read")
	call := func(url, extra string) string {
		return fmt.Sprintf(`  - id: api
    kind: http
    url: %s
    auth: {bearer: "${steps.token.access_token}", audience: api://orders}
%s`, url, extra)
	}
	nodeToken := func(p *testenv.NodeIdP, extra string) string {
		return fmt.Sprintf(`steps:
  - id: token
    kind: client_credentials
    issuer: %s
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    client_auth: client_secret_basic
%s`, p.Issuer, extra)
	}
	otherToken := func(extra string) string { return nodeToken(other, extra) }
	// No audience: the API's own words are the evidence.
	callNoAud := "  - id: api\n    kind: http\n    url: " + ngx.URL(0) + "/orders\n    auth: {bearer: \"${steps.token.access_token}\"}\n"
	for _, c := range []matrixCase{
		{name: "control", flow: orders + call(ngx.URL(0)+"/orders", "    expect:\n      status: 200\n      json: [{path: .orders | type, equals: array}]\n")},
		{name: "sso_redirect_not_followed", flow: orders + call(ngx.URL(5)+"/orders", "    redirects: {follow: false}\n    expect: {status: 200}\n"),
			want: flows.ReasonRedirectedToLogin, summary: []string{"answered 302 with a redirect to the login page http://" + ngx.Addr(5) + "/login"}},
		{name: "sso_redirect_followed", flow: orders + call(ngx.URL(5)+"/orders", "    expect: {status: 200}\n"),
			want: flows.ReasonRedirectedToLogin, summary: []string{"redirected to the login page http://" + ngx.Addr(5) + "/login"}},
		{name: "sso_redirect_followed_expecting_json", flow: orders + call(ngx.URL(5)+"/orders", "    expect:\n      json: [{path: .orders | type, equals: array}]\n"),
			want: flows.ReasonRedirectedToLogin, summary: []string{"login page"}},
		{name: "opaque_token_from_idp_without_resource", flow: otherToken("") + call(ngx.URL(0)+"/orders", ""),
			want: flows.ReasonInvalidToken, summary: []string{"refused the token as invalid_token", `"token is not a well-formed JWT"`}},
		// The API checks the signature before iss, and its JWKS lacks the
		// other IdP's kid; it says "signature verification failed (kid X)",
		// which is also what it says when the kid is known (next row), so
		// either code is defensible here as long as the API's words and
		// the kid are shown.
		{name: "token_of_another_idp", flow: otherToken("    resource: [https://api.example.test/]\n") + callNoAud,
			oneOf: []flows.Reason{flows.ReasonSigningKeyNotFound, flows.ReasonSignatureInvalid}, summary: []string{`signature verification failed (kid `, "the token's kid is"}},
		// The kid is in the API's JWKS, but the key behind it is another:
		// the signature does not verify. The API's words are the same as
		// above ("signature verification failed (kid X)"), so they do not
		// prove that the key is missing.
		{name: "token_signed_with_colliding_kid", flow: nodeToken(collider, "    resource: [https://api.example.test/]\n") + callNoAud,
			want: flows.ReasonSignatureInvalid, summary: []string{"signature", demoKids[0]}},
		{name: "reader_client_creates_order", flow: demoToken(idp.ReaderClientID, "READER_SECRET", "orders.read, orders.write") +
			call(ngx.URL(0)+"/orders", "    method: POST\n    headers: {Content-Type: application/json}\n    body: '{\"item\": \"widget\", \"quantity\": 1}'\n    expect: {status: 201}\n"),
			want: flows.ReasonInsufficientScope, summary: []string{`it wants "orders.write"`, "the token grants [orders.read]"}},
		{name: "billing_token_on_orders", flow: demoToken(idp.BillingClientID, "BILLING_SECRET", "billing.read") + call(ngx.URL(0)+"/orders", ""),
			want: flows.ReasonAudienceMismatch, summary: []string{"aud is [api://billing]", "the API expects api://orders"}},
		{name: "id_token_as_bearer", flow: "steps:\n  - id: api\n    kind: http\n    url: " + ngx.URL(0) + "/orders\n    auth: {bearer: \"${env:ID_TOKEN}\", audience: api://orders}\n",
			want: flows.ReasonIDTokenUsedAsAccessToken, summary: []string{"the bearer credential is an ID token", "the API refused it"}},
		{name: "basic_auth_in_front_of_bearer_api", flow: orders + call(ngx.URL(1)+"/orders", ""),
			want: flows.ReasonUnauthorized, summary: []string{"answered 401 to bearer credentials", `Basic realm="staff only"`}},
		{name: "ip_allow_list", flow: orders + call(ngx.URL(2)+"/orders", ""),
			want: flows.ReasonForbidden, summary: []string{"GET " + ngx.URL(2) + "/orders answered 403"}},
		{name: "export_without_auth", flow: "steps:\n  - id: export\n    kind: http\n    url: " + ngx.URL(0) + "/admin/export\n    expect: {status: 401, challenge: Bearer}\n",
			want: flows.ReasonAuthNotEnforced, summary: []string{"GET " + ngx.URL(0) + "/admin/export answered 200", "authentication is not enforced"}},
		{name: "proxy_pass_path", flow: orders + call(ngx.URL(3)+"/api/orders", ""),
			want: flows.ReasonUnexpectedStatus, summary: []string{"answered 404 Not Found, expected 2xx"}},
		{name: "maintenance_page", flow: orders + call(ngx.URL(4)+"/orders", "    expect:\n      json: [{path: .orders | type, equals: array}]\n"),
			want: flows.ReasonAssertionFailed, summary: []string{"the body is not JSON", ".orders | type"}},
		{name: "slow_upstream", flow: "steps:\n  - id: api\n    kind: http\n    url: " + ngx.URL(6) + "/\n    expect: {max_latency: 100ms}\n",
			want: flows.ReasonSlowResponse, summary: []string{"more than its max_latency of 100ms"}},
	} {
		t.Run(c.name, func(t *testing.T) { runMatrixCase(t, r, c) })
	}
}

// matrixJWKSURI reads an issuer's jwks_uri from its discovery document.
func matrixJWKSURI(t *testing.T, issuer string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(flows.DiscoveryURL(issuer))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.JWKSURI == "" {
		t.Fatalf("discovery of %s: %v (jwks_uri %q)", issuer, err, d.JWKSURI)
	}
	return d.JWKSURI
}

// matrixJWKSFile writes a JWKS_KEYS file for oidc-provider: one new RSA
// private key with the given kid.
func matrixJWKSFile(t *testing.T, kid string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: "RS256", Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{jwk}})
	file := filepath.Join(t.TempDir(), "jwks.json")
	matrixWriteFile(t, file, string(set))
	return file
}

func matrixWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
