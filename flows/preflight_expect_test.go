package flows_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestPreflightExpectations runs a preflight step with explicit
// expectations (exact status, each Access-Control-Allow-* header,
// Max-Age) against a real nginx that answers OPTIONS one way per
// location: correctly (the control), or misconfigured in one respect.
//
// proves: unexpected_status, cors_preflight_rejected, cors_origin_not_allowed, cors_method_not_allowed, cors_header_not_allowed, cors_credentials_misconfigured, assertion_failed
func TestPreflightExpectations(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	good := map[string]string{
		"Access-Control-Allow-Origin":      origin,
		"Access-Control-Allow-Methods":     "GET, PUT, DELETE",
		"Access-Control-Allow-Headers":     "Authorization, X-Request-Id",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "600",
	}
	// location answers OPTIONS with status and the good headers, changed
	// by override ("" removes a header).
	location := func(path string, status int, override map[string]string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "        location = %s {\n            if ($request_method = OPTIONS) {\n", path)
		for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Allow-Credentials", "Access-Control-Max-Age"} {
			v, changed := override[name]
			if !changed {
				v = good[name]
			}
			if v != "" {
				fmt.Fprintf(&b, "                add_header %s %q always;\n", name, v)
			}
		}
		fmt.Fprintf(&b, "                return %d;\n            }\n            return 200 'ok';\n        }\n", status)
		return b.String()
	}
	ngx := testenv.Nginx(t, `
    server {
        listen 127.0.0.1:{{port0}};
`+location("/good", 204, nil)+
		location("/ok200", 200, nil)+
		location("/auth", 401, nil)+
		location("/wildcard", 204, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": ""})+
		location("/methods", 204, map[string]string{"Access-Control-Allow-Methods": "GET, PUT"})+
		location("/headers", 204, map[string]string{"Access-Control-Allow-Headers": "Authorization"})+
		location("/no-credentials", 204, map[string]string{"Access-Control-Allow-Credentials": ""})+
		location("/short-cache", 204, map[string]string{"Access-Control-Max-Age": "5"})+
		location("/no-cache", 204, map[string]string{"Access-Control-Max-Age": ""})+`
    }`)
	r := flows.NewRunner()
	// step is a preflight of PUT with Authorization from the app's origin.
	step := func(path, options, expect string) string {
		return fmt.Sprintf(`steps:
  - id: cors
    kind: preflight
    url: %s%s
    origin: %s
    method: PUT
    headers: [Authorization]
%s    expect:
%s`, ngx.URL(0), path, origin, options, expect)
	}
	const full = `      status: 204
      allow_origin: https://app.example.com
      allow_methods: [PUT, DELETE]
      allow_headers: [Authorization, X-Request-Id]
      allow_credentials: true
      min_max_age: 10m
`
	for _, c := range []matrixCase{
		{name: "control", flow: step("/good", "    credentials: true\n", full)},
		{name: "status_200_not_204", flow: step("/ok200", "    credentials: true\n", full),
			want: flows.ReasonUnexpectedStatus, summary: []string{"answered 200, expected 204"}},
		{name: "auth_on_options", flow: step("/auth", "    credentials: true\n", full),
			want: flows.ReasonCORSPreflightRejected, summary: []string{"answered 401"}},
		{name: "wildcard_origin_expected_exact", flow: step("/wildcard", "", "      allow_origin: https://app.example.com\n"),
			want: flows.ReasonCORSOriginNotAllowed, summary: []string{`Access-Control-Allow-Origin is "*", expected "https://app.example.com"`}},
		{name: "wildcard_origin_as_expected", flow: step("/wildcard", "", "      allow_origin: \"*\"\n      allow_credentials: false\n")},
		{name: "method_missing", flow: step("/methods", "    credentials: true\n", full),
			want: flows.ReasonCORSMethodNotAllowed, summary: []string{`("GET, PUT") does not include DELETE, which the flow expects`}},
		{name: "header_missing", flow: step("/headers", "    credentials: true\n", full),
			want: flows.ReasonCORSHeaderNotAllowed, summary: []string{`("Authorization") does not include X-Request-Id, which the flow expects`}},
		{name: "credentials_expected", flow: step("/no-credentials", "", full),
			want: flows.ReasonCORSCredentialsMisconfig, summary: []string{`Access-Control-Allow-Credentials is "", expected "true"`}},
		{name: "credentials_not_wanted", flow: step("/good", "", "      allow_credentials: false\n"),
			want: flows.ReasonCORSCredentialsMisconfig, summary: []string{`is "true", expected it absent`}},
		{name: "max_age_short", flow: step("/short-cache", "    credentials: true\n", full),
			want: flows.ReasonAssertionFailed, summary: []string{"Access-Control-Max-Age is 5 s, expected at least 10m0s"}},
		{name: "max_age_missing", flow: step("/no-cache", "    credentials: true\n", full),
			want: flows.ReasonAssertionFailed, summary: []string{"no Access-Control-Max-Age"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := runMatrixCase(t, r, c)
			if f := res.Failure(); f != nil && c.want != "" {
				if got, _ := itFact(f, "max_age"); c.name == "max_age_short" && got != "5" {
					t.Errorf("fact max_age %q, want 5", got)
				}
			}
		})
	}
}

// TestPreflightExpectationsLoad: expectations that contradict the step or
// cannot be right are load errors at their field.
func TestPreflightExpectationsLoad(t *testing.T) {
	src := `name: a
every: 1m
steps:
  - id: cors
    kind: preflight
    url: https://api.example.com/orders
    origin: https://app.example.com
    credentials: true
    expect:
      status: 404
      allow_origin: "*"
      allow_credentials: false
      allow_methods: ["PUT, DELETE"]
      min_max_age: soon
`
	loadAssertHas(t, loadProblems(t, src),
		"x.yaml:10:15: steps[0].expect.status: a browser sends the real request only after a 2xx preflight, got 404",
		"steps[0].expect.allow_origin: * cannot be right for a request with credentials",
		"steps[0].expect.allow_credentials: false contradicts credentials: true",
		`steps[0].expect.allow_methods[0]: one method name per item, got "PUT, DELETE"`,
		`steps[0].expect.min_max_age: bad duration "soon"`)
	loadAssertHas(t, loadProblems(t, strings.Replace(src, `allow_origin: "*"`, "allow_origin: https://app.example.com/path", 1)),
		`steps[0].expect.allow_origin: an origin is scheme://host[:port] with no path`)
}
