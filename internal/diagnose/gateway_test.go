package diagnose

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestDiagnoseThroughRealGateways walks diagnose through nginx
// misconfigurations in front of the demo API: a newcomer who "gets a 401"
// must end at the cause.
//
// proves: authorization_header_dropped, cors_preflight_rejected, tls_certificate_invalid, www_authenticate_missing, redirected_to_login, rate_limited
func TestDiagnoseThroughRealGateways(t *testing.T) {
	testenv.Require(t, "nginx")
	testenv.Require(t, "openssl")
	env := startDemo(t)
	certs := testenv.Certs(t)
	api := strings.TrimPrefix(env.API.URL(), "http://")
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server { # 0: strips Authorization on the way to the API
        listen 127.0.0.1:{{port0}};
        location / { proxy_set_header Authorization ""; proxy_pass http://%[1]s; }
    }
    server { # 1: requires auth on OPTIONS too
        listen 127.0.0.1:{{port1}};
        location / {
            if ($request_method = OPTIONS) { return 401; }
            proxy_pass http://%[1]s;
        }
    }
    server { # 2: TLS with an expired certificate
        listen 127.0.0.1:{{port2}} ssl;
        ssl_certificate %[2]s;
        ssl_certificate_key %[3]s;
        location / { proxy_pass http://%[1]s; }
    }
    server { # 3: a bare 401, and a session app that sends API calls to its login page
        listen 127.0.0.1:{{port3}};
        location /bare { return 401; }
        location /orders { return 302 /login?next=/orders; }
        location /login { default_type text/html; return 200 '<form method="post"><input name="password" type="password"></form>'; }
    }
    server { # 4: throttled
        listen 127.0.0.1:{{port4}};
        location / { add_header Retry-After 120 always; return 429; }
    }`, api, certs.Expired.CertFile, certs.Expired.KeyFile))

	tok := demoToken(t, env, idp.OrdersClientID, idp.OrdersClientSecret, "orders.read")
	secrets := conf.SecretSource{LookupEnv: func(string) (string, bool) { return tok, true }}
	cases := []struct {
		name, url, origin string
		caFile            string
		want              flows.Reason
		summary           string
	}{
		{name: "proxy strips Authorization", url: ngx.URL(0) + "/orders", want: flows.ReasonAuthorizationHeaderDropped, summary: "inference"},
		{name: "preflight behind auth", url: ngx.URL(1) + "/orders", origin: "https://app.example.com", want: flows.ReasonCORSPreflightRejected, summary: "OPTIONS"},
		{name: "expired certificate", url: "https://" + ngx.Addr(2) + "/orders", caFile: certs.CAFile, want: flows.ReasonTLSCertificateInvalid, summary: "expired"},
		{name: "401 without a challenge", url: ngx.URL(3) + "/bare", want: flows.ReasonWWWAuthenticateMissing, summary: "WWW-Authenticate"},
		{name: "session app redirects to login", url: ngx.URL(3) + "/orders", want: flows.ReasonRedirectedToLogin, summary: "/login"},
		{name: "throttled", url: ngx.URL(4) + "/orders", want: flows.ReasonRateLimited, summary: "Retry-After: 120"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(t.Context(), Options{URL: tc.url, Method: "GET", Origin: tc.origin, CAFile: tc.caFile,
				Credential: conf.NewTemplate("${env:TOKEN}"), CredentialKind: "bearer", Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Reason != tc.want || !strings.Contains(rep.Summary, tc.summary) {
				t.Fatalf("reason %q (%s), want %q containing %q\nchecks: %+v", rep.Reason, rep.Summary, tc.want, tc.summary, rep.Checks)
			}
			if rep.NextStep == "" {
				t.Fatal("no next step")
			}
		})
	}
}
