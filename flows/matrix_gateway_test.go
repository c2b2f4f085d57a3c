package flows_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/testenv"
)

// matrixDemo starts the demo IdP and orders API (in process, 127.0.0.1).
func matrixDemo(t *testing.T) *demo.Env {
	t.Helper()
	env, err := demo.Start(context.Background())
	if err != nil {
		t.Fatalf("demo.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("demo Close: %v", err)
		}
	})
	return env
}

// matrixSlowUpstream is a Go server whose every answer takes delay (or
// until the client goes away, or the test ends).
func matrixSlowUpstream(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
			fmt.Fprintln(w, "finally")
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: frees handlers so Close does not wait
	return srv
}

// TestMatrixGateway puts a real nginx between the monitor and the demo
// orders API (which answers RFC 6750 challenges) and misconfigures it one
// way per row. Control rows run the same flow through a correct nginx.
//
// proves: authorization_header_dropped, redirect_dropped_credentials, cors_preflight_rejected, cors_header_not_allowed, cors_origin_not_allowed, cors_credentials_misconfigured, cors_method_not_allowed, rate_limited, server_error, www_authenticate_missing
func TestMatrixGateway(t *testing.T) {
	t.Parallel()
	env := matrixDemo(t)
	certs := testenv.Certs(t)
	slow := matrixSlowUpstream(t, 5*time.Second)
	api := strings.TrimPrefix(env.API.URL(), "http://")
	dead := strings.TrimPrefix(matrixClosedPortURL(t), "http://")

	cors := func(path, headers string) string {
		return fmt.Sprintf(`
        location %s {
            if ($request_method = OPTIONS) {
%s
                return 204;
            }
            proxy_pass http://%s/;
        }`, path, headers, api)
	}
	corsOK := `                add_header Access-Control-Allow-Origin https://app.example.com;
                add_header Access-Control-Allow-Methods "GET, POST";
                add_header Access-Control-Allow-Headers "Authorization, Content-Type";
                add_header Access-Control-Allow-Credentials true;`

	ngx := testenv.Nginx(t, fmt.Sprintf(`
    limit_req_zone $binary_remote_addr zone=orders:1m rate=1r/m;

    # 0: a correct reverse proxy (the control).
    server {
        listen 127.0.0.1:{{port0}};
        location / { proxy_pass http://%[1]s; }
    }
    # 1: strips the Authorization header on the way to the API.
    server {
        listen 127.0.0.1:{{port1}};
        location / {
            proxy_set_header Authorization "";
            proxy_pass http://%[1]s;
        }
    }
    # 2: redirects http to https on another host name (localhost).
    server {
        listen 127.0.0.1:{{port2}};
        return 301 https://localhost:{{port3}}$request_uri;
    }
    # 3: the https listener in front of the API.
    server {
        listen 127.0.0.1:{{port3}} ssl;
        ssl_certificate %[2]s;
        ssl_certificate_key %[3]s;
        location / { proxy_pass http://%[1]s; }
    }
    # 4: redirects http to https on the same host name.
    server {
        listen 127.0.0.1:{{port4}};
        return 301 https://127.0.0.1:{{port3}}$request_uri;
    }
    # 5: demands auth on every method, OPTIONS included.
    server {
        listen 127.0.0.1:{{port5}};
        location / {
            if ($request_method = OPTIONS) { return 401; }
            proxy_pass http://%[1]s;
        }
    }
    # 6: allows only GET and POST (limit_except denies the preflight).
    server {
        listen 127.0.0.1:{{port6}};
        location / {
            limit_except GET POST { deny all; }
            proxy_pass http://%[1]s;
        }
    }
    # 7: one request a minute (no burst), 429 with Retry-After.
    server {
        listen 127.0.0.1:{{port7}};
        location / {
            limit_req zone=orders nodelay; # burst defaults to 0
            limit_req_status 429;
            add_header Retry-After 60 always;
            proxy_pass http://%[1]s;
        }
    }
    # 8: upstream down, maintenance, upstream too slow for nginx.
    server {
        listen 127.0.0.1:{{port8}};
        location /down/ { proxy_pass http://%[4]s/; }
        location /maintenance/ { return 503; }
        location /slow/ {
            proxy_read_timeout 300ms;
            proxy_pass http://%[5]s/;
        }
    }
    # 9: auth_request to an auth service that answers a bare 401.
    server {
        listen 127.0.0.1:{{port9}};
        location / {
            auth_request /_auth;
            proxy_pass http://%[1]s;
        }
        location = /_auth {
            internal;
            return 401;
        }
    }
    # 10: CORS answered by nginx itself, one mistake per location.
    server {
        listen 127.0.0.1:{{port10}};
%[6]s
%[7]s
%[8]s
%[9]s
%[10]s
%[11]s
    }`, api, certs.Valid.CertFile, certs.Valid.KeyFile, dead, strings.TrimPrefix(slow.URL, "http://"),
		cors("/ok/", corsOK),
		cors("/no-authz/", strings.Replace(corsOK, `"Authorization, Content-Type"`, `"Content-Type"`, 1)),
		cors("/wildcard-headers/", strings.Replace(corsOK, `"Authorization, Content-Type"`, `"*"`, 1)),
		cors("/other-origin/", strings.Replace(corsOK, "https://app.example.com", "https://admin.example.com", 1)),
		cors("/star/", strings.Replace(corsOK, "https://app.example.com", `"*"`, 1)),
		cors("/get-post-only/", corsOK),
	))

	token := fmt.Sprintf(`  - id: token
    kind: client_credentials
    issuer: %s
    client_id: %s
    client_secret: ${env:ORDERS_CLIENT_SECRET}
    client_auth: client_secret_basic
    scopes: [orders.read]
`, env.IdP.Issuer(), idp.OrdersClientID)
	call := func(id, url, extra string) string {
		return fmt.Sprintf(`  - id: %s
    kind: http
    url: %s
    auth: {bearer: "${steps.token.access_token}", audience: api://orders}
    expect: {status: 200}
%s`, id, url, extra)
	}
	api200 := func(url, extra string) string { return "steps:\n" + token + call("api", url, extra) }
	caFile := "    ca_file: " + certs.CAFile + "\n"
	preflight := func(url, method string, credentials bool) string {
		return fmt.Sprintf(`steps:
  - id: cors
    kind: preflight
    url: %s
    origin: https://app.example.com
    method: %s
    headers: [Authorization, Content-Type]
    credentials: %t
`, url, method, credentials)
	}

	r := flows.NewRunner()
	r.Secrets = matrixSecrets(map[string]string{"ORDERS_CLIENT_SECRET": idp.OrdersClientSecret})
	for _, c := range []matrixCase{
		{name: "control_proxy", flow: api200(ngx.URL(0)+"/orders", "")},
		{name: "proxy_strips_authorization", flow: api200(ngx.URL(1)+"/orders", ""),
			want:    flows.ReasonAuthorizationHeaderDropped,
			summary: []string{"carried bearer credentials", "no error code", "This is an inference", "an API that never sends error codes looks the same"}},
		// Go drops Authorization on a redirect to another host name
		// (127.0.0.1 → localhost), whatever the scheme.
		{name: "redirect_to_other_host", flow: api200(ngx.URL(2)+"/orders", caFile),
			want: flows.ReasonRedirectDroppedCredentials,
			summary: []string{"from http://" + ngx.Addr(2) + "/orders to https://localhost:" + fmt.Sprint(ngx.Ports[3]) + "/orders",
				"crossed to another host", "no Authorization", "got 401"},
			check: func(t *testing.T, res *flows.Result) {
				ex := res.Steps[1].Exchanges
				if len(ex) != 2 || len(ex[0].RequestHeaders["Authorization"]) == 0 || len(ex[1].RequestHeaders["Authorization"]) != 0 {
					t.Errorf("want 2 hops, Authorization on the first only; got %d hops: %+v", len(ex), ex)
				}
			}},
		// http→https on the same host: Go keeps Authorization (scheme and
		// port are ignored), authwatch does not send it to another origin
		// (as curl), so the API refuses the call.
		{name: "redirect_to_https_same_host_drops_credentials", flow: api200(ngx.URL(4)+"/orders", caFile),
			want:    flows.ReasonRedirectDroppedCredentials,
			summary: []string{"from http://" + ngx.Addr(4) + "/orders to https://127.0.0.1:", "crossed from http to https", "no Authorization", "got 401"},
			check: func(t *testing.T, res *flows.Result) {
				ex := res.Steps[1].Exchanges
				if len(ex) != 2 || !strings.HasPrefix(ex[1].URL, "https://127.0.0.1:") || len(ex[1].RequestHeaders["Authorization"]) != 0 {
					t.Errorf("want 2 hops, the https one without Authorization; got %+v", ex)
				}
			}},
		{name: "control_preflight", flow: preflight(ngx.URL(0)+"/orders", "POST", true)},
		{name: "preflight_needs_auth", flow: preflight(ngx.URL(5)+"/orders", "GET", true),
			want: flows.ReasonCORSPreflightRejected, summary: []string{"OPTIONS /orders", "answered 401", "must not require auth for OPTIONS"}},
		{name: "preflight_denied_by_limit_except", flow: preflight(ngx.URL(6)+"/orders", "GET", true),
			want: flows.ReasonCORSPreflightRejected, summary: []string{"OPTIONS /orders", "answered 403"}},
		{name: "rate_limited", flow: api200(ngx.URL(7)+"/orders", "") + call("again", ngx.URL(7)+"/orders", ""),
			want: flows.ReasonRateLimited, summary: []string{"answered 429", "Retry-After: 60", "next try allowed at"},
			check: func(t *testing.T, res *flows.Result) {
				if res.Steps[1].Status != flows.StepPassed {
					t.Errorf("the first call should pass: %s", matrixDescribe(res))
				}
				f := res.Failure()
				if f == nil || f.Step != "again" {
					t.Fatalf("want the second call to fail: %s", matrixDescribe(res))
				}
				if left := time.Until(f.RetryAfter); left < 50*time.Second || left > 61*time.Second {
					t.Errorf("RetryAfter %s is %s from now, want about 60s", f.RetryAfter, left)
				}
			}},
		{name: "upstream_down", flow: api200(ngx.URL(8)+"/down/orders", ""),
			want: flows.ReasonServerError, summary: []string{"GET " + ngx.URL(8) + "/down/orders", "answered 502 Bad Gateway"}},
		{name: "maintenance", flow: api200(ngx.URL(8)+"/maintenance/orders", ""),
			want: flows.ReasonServerError, summary: []string{"answered 503 Service Unavailable"}},
		{name: "upstream_slower_than_proxy_read_timeout", flow: api200(ngx.URL(8)+"/slow/orders", ""),
			want: flows.ReasonServerError, summary: []string{"answered 504 Gateway Timeout"}},
		{name: "auth_request_bare_401", flow: api200(ngx.URL(9)+"/orders", ""),
			want: flows.ReasonWWWAuthenticateMissing, summary: []string{"GET " + ngx.URL(9) + "/orders", "401 without a WWW-Authenticate header"}},
		{name: "cors_control", flow: preflight(ngx.URL(10)+"/ok/orders", "POST", true)},
		{name: "cors_authorization_not_allowed", flow: preflight(ngx.URL(10)+"/no-authz/orders", "POST", true),
			want: flows.ReasonCORSHeaderNotAllowed, summary: []string{`Access-Control-Allow-Headers ("Content-Type") does not include Authorization`}},
		{name: "cors_wildcard_does_not_cover_authorization", flow: preflight(ngx.URL(10)+"/wildcard-headers/orders", "POST", false),
			want: flows.ReasonCORSHeaderNotAllowed, summary: []string{`("*") does not include Authorization`}},
		{name: "cors_other_origin", flow: preflight(ngx.URL(10)+"/other-origin/orders", "POST", true),
			want: flows.ReasonCORSOriginNotAllowed, summary: []string{`"https://admin.example.com"`, "not the page's origin https://app.example.com"}},
		{name: "cors_wildcard_origin_with_credentials", flow: preflight(ngx.URL(10)+"/star/orders", "POST", true),
			want: flows.ReasonCORSCredentialsMisconfig, summary: []string{"Access-Control-Allow-Origin is *", "with credentials", "https://app.example.com"}},
		{name: "cors_method_not_allowed", flow: preflight(ngx.URL(10)+"/get-post-only/orders", "DELETE", true),
			want: flows.ReasonCORSMethodNotAllowed, summary: []string{`Access-Control-Allow-Methods ("GET, POST") does not include DELETE`}},
	} {
		t.Run(c.name, func(t *testing.T) { runMatrixCase(t, r, c) })
	}
}

// matrixClosedPortURL returns http://127.0.0.1:PORT where nothing listens (the
// port was bound and released a moment ago).
func matrixClosedPortURL(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
}
