package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/demo/api"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/demo/internal/leakcheck"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// env is the IdP and the API started in-process, as `authwatch demo` does.
type env struct {
	idp      *idp.IdP
	api      *api.API
	tokenURL string
	client   *http.Client
}

func startEnv(t *testing.T) *env {
	t.Helper()
	p, err := idp.Start(t.Context(), idp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	a, err := api.Start(t.Context(), api.Options{Issuer: p.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	e := &env{idp: p, api: a, client: &http.Client{Transport: tr}}
	var d struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	resp := e.do(t, http.MethodGet, p.Issuer()+"/.well-known/openid-configuration", "", nil)
	if err := json.Unmarshal([]byte(resp.body), &d); err != nil || d.TokenEndpoint == "" {
		t.Fatalf("discovery: %v %s", err, resp.body)
	}
	e.tokenURL = d.TokenEndpoint
	return e
}

// token gets a client_credentials token with Basic auth (set explicitly:
// auto-detection retries with other styles and hides the first error).
func (e *env) token(t *testing.T, id, secret string, scopes ...string) (*oauth2.Token, error) {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.tokenURL,
		Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
	return cfg.Token(context.WithValue(t.Context(), oauth2.HTTPClient, e.client))
}

func (e *env) mustToken(t *testing.T, id, secret string, scopes ...string) string {
	t.Helper()
	tok, err := e.token(t, id, secret, scopes...)
	if err != nil {
		t.Fatalf("token for %s: %v", id, err)
	}
	return tok.AccessToken
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(t *testing.T, method, url, bearer string, header map[string]string) response {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"item":"sprocket","quantity":2}`)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

var authParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// challenge parses WWW-Authenticate's auth-params (enough for this API).
func (r response) challenge(t *testing.T) map[string]string {
	t.Helper()
	h := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(h, "Bearer ") {
		t.Fatalf("WWW-Authenticate %q", h)
	}
	params := map[string]string{}
	for _, m := range authParam.FindAllStringSubmatch(h, -1) {
		params[m[1]] = m[2]
	}
	return params
}

func (r response) jsonBody(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

func TestOrdersClientIsServed(t *testing.T) {
	e := startEnv(t)
	read := e.mustToken(t, idp.OrdersClientID, idp.OrdersClientSecret, idp.ScopeOrdersRead)
	r := e.do(t, http.MethodGet, e.api.URL()+"/orders", read, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /orders: %d %s", r.status, r.body)
	}
	if orders, _ := r.jsonBody(t)["orders"].([]any); len(orders) == 0 {
		t.Errorf("no orders in %s", r.body)
	}
	if r.header.Get("Date") == "" || r.header.Get("X-Request-Id") == "" {
		t.Errorf("want Date and X-Request-Id, got %v", r.header)
	}
	write := e.mustToken(t, idp.OrdersClientID, idp.OrdersClientSecret, idp.ScopeOrdersWrite)
	r = e.do(t, http.MethodPost, e.api.URL()+"/orders", write, nil)
	if r.status != http.StatusCreated || r.jsonBody(t)["created_by"] != idp.OrdersClientID {
		t.Fatalf("POST /orders: %d %s", r.status, r.body)
	}
}

func TestBillingTokenHasWrongAudience(t *testing.T) {
	e := startEnv(t)
	tok := e.mustToken(t, idp.BillingClientID, idp.BillingClientSecret, idp.ScopeBillingRead)
	r := e.do(t, http.MethodGet, e.api.URL()+"/orders", tok, nil)
	c := r.challenge(t)
	want := "audience api://billing is not accepted, expected api://orders"
	if r.status != http.StatusUnauthorized || c["realm"] != "orders" || c["error"] != "invalid_token" || c["error_description"] != want {
		t.Fatalf("got %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if b := r.jsonBody(t); b["error"] != "invalid_token" || b["error_description"] != want {
		t.Errorf("body %s", r.body)
	}
}

func TestReaderCannotWrite(t *testing.T) {
	e := startEnv(t)
	// reader-client asks for both; the IdP silently grants only orders.read.
	tok := e.mustToken(t, idp.ReaderClientID, idp.ReaderClientSecret, idp.ScopeOrdersRead, idp.ScopeOrdersWrite)
	if r := e.do(t, http.MethodGet, e.api.URL()+"/orders", tok, nil); r.status != http.StatusOK {
		t.Fatalf("GET /orders: %d %s", r.status, r.body)
	}
	r := e.do(t, http.MethodPost, e.api.URL()+"/orders", tok, nil)
	c := r.challenge(t)
	if r.status != http.StatusForbidden || c["error"] != "insufficient_scope" || c["scope"] != "orders.write" {
		t.Fatalf("got %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="orders", error="insufficient_scope"`) {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	if r.jsonBody(t)["error"] != "insufficient_scope" {
		t.Errorf("body %s", r.body)
	}
}

func TestLegacyTokenIsExpired(t *testing.T) {
	e := startEnv(t)
	tok := e.mustToken(t, idp.LegacyClientID, idp.LegacyClientSecret, idp.ScopeOrdersRead)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Exp int64 }
	_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
	r := e.do(t, http.MethodGet, e.api.URL()+"/orders", tok, nil)
	c := r.challenge(t)
	want := "token expired at " + time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339)
	if r.status != http.StatusUnauthorized || c["error"] != "invalid_token" || c["error_description"] != want {
		t.Fatalf("got %d %q, want description %q", r.status, r.header.Get("WWW-Authenticate"), want)
	}
	// The clock hint: the API's Date is about an hour after the token's exp-5m.
	date, err := http.ParseTime(r.header.Get("Date"))
	if err != nil || date.Sub(time.Unix(claims.Exp, 0)) < 50*time.Minute {
		t.Errorf("Date %v vs exp %v: want the API's clock ~55m past exp", date, claims.Exp)
	}
}

func TestNoCredentialsGetsBareChallenge(t *testing.T) {
	e := startEnv(t)
	for name, header := range map[string]map[string]string{
		"no header":    nil,
		"basic scheme": {"Authorization": "Basic b3JkZXJzOng="},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, e.api.URL()+"/orders", "", header)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Bearer realm="orders"` {
				t.Fatalf("got %d %q", r.status, r.header.Get("WWW-Authenticate"))
			}
		})
	}
	r := e.do(t, http.MethodGet, e.api.URL()+"/orders", "", map[string]string{"Authorization": "Bearer "})
	if r.status != http.StatusBadRequest || r.challenge(t)["error"] != "invalid_request" {
		t.Errorf("empty bearer: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

func TestAdminExportDoesNotEnforceAuth(t *testing.T) {
	e := startEnv(t)
	r := e.do(t, http.MethodGet, e.api.URL()+"/admin/export", "", nil)
	if r.status != http.StatusOK || r.jsonBody(t)["orders"] == nil {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if r := e.do(t, http.MethodGet, e.api.URL()+"/healthz", "", nil); r.status != http.StatusOK {
		t.Errorf("healthz %d", r.status)
	}
}

func TestCORS(t *testing.T) {
	e := startEnv(t)
	preflight := func(origin string) response {
		return e.do(t, http.MethodOptions, e.api.URL()+"/orders", "", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization,content-type",
		})
	}
	r := preflight(api.AllowedOrigin)
	want := map[string]string{
		"Access-Control-Allow-Origin":      api.AllowedOrigin,
		"Access-Control-Allow-Methods":     "GET, POST",
		"Access-Control-Allow-Headers":     "Authorization, Content-Type",
		"Access-Control-Allow-Credentials": "true",
	}
	if r.status != http.StatusNoContent {
		t.Errorf("preflight status %d, want 204 without credentials", r.status)
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if r := preflight("https://evil.example"); r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	// The 401 of a cross-origin call is readable by the app.
	r = e.do(t, http.MethodGet, e.api.URL()+"/orders", "", map[string]string{"Origin": api.AllowedOrigin})
	if r.header.Get("Access-Control-Allow-Origin") != api.AllowedOrigin ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("cross-origin 401 headers %v", r.header)
	}
}

func TestWrongSecretIsInvalidClient(t *testing.T) {
	e := startEnv(t)
	_, err := e.token(t, idp.OrdersClientID, "not-the-secret", idp.ScopeOrdersRead)
	re, ok := err.(*oauth2.RetrieveError)
	if !ok {
		t.Fatalf("want *oauth2.RetrieveError, got %T %v", err, err)
	}
	if re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
		t.Errorf("got %q (%d)", re.ErrorCode, re.Response.StatusCode)
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	e := startEnv(t)
	a := e.do(t, http.MethodGet, e.api.URL()+"/healthz", "", nil).header.Get("X-Request-Id")
	b := e.do(t, http.MethodGet, e.api.URL()+"/healthz", "", nil).header.Get("X-Request-Id")
	if a == "" || a == b {
		t.Errorf("X-Request-Id %q then %q", a, b)
	}
}

// A token from another IdP (another key) fails the signature check; once the
// trusted IdP is gone, its keys cannot be refetched and the API says so.
func TestForeignTokenAndUnavailableJWKS(t *testing.T) {
	e := startEnv(t)
	other, err := idp.Start(t.Context(), idp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var d struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	_ = json.Unmarshal([]byte(e.do(t, http.MethodGet, other.Issuer()+"/.well-known/openid-configuration", "", nil).body), &d)
	cfg := clientcredentials.Config{ClientID: idp.OrdersClientID, ClientSecret: idp.OrdersClientSecret,
		TokenURL: d.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader}
	foreign, err := cfg.Token(context.WithValue(t.Context(), oauth2.HTTPClient, e.client))
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(t, http.MethodGet, e.api.URL()+"/orders", foreign.AccessToken, nil)
	if got := r.challenge(t)["error_description"]; !strings.HasPrefix(got, "signature verification failed") {
		t.Errorf("foreign token: %d %q", r.status, got)
	}
	if err := e.idp.Close(); err != nil {
		t.Fatal(err)
	}
	// go-oidc shares one JWKS fetch between concurrent verifications, and a
	// request arriving just as the previous fetch completes may still get its
	// result; hence a short retry before the failed fetch shows.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r = e.do(t, http.MethodGet, e.api.URL()+"/orders", foreign.AccessToken, nil)
		got := r.challenge(t)["error_description"]
		if strings.Contains(got, "signing keys are unavailable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IdP down: %d %q", r.status, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestContextCancelClosesAPI(t *testing.T) {
	p, err := idp.Start(t.Context(), idp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	baseline := leakcheck.Baseline()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := api.Start(ctx, api.Options{Issuer: p.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	leakcheck.Check(t, baseline)
	if err := a.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}
