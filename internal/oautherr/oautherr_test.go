package oautherr

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		ct     string
		body   string
		want   Error
		wantOK bool
	}{
		{
			name: "RFC 6749 §5.2",
			ct:   "application/json;charset=UTF-8",
			body: `{"error":"invalid_grant","error_description":"Code expired","error_uri":"https://idp/doc"}`,
			want: Error{Code: "invalid_grant", Description: "Code expired", URI: "https://idp/doc"}, wantOK: true,
		},
		{
			name: "Entra with ids and control characters",
			ct:   "application/json; charset=utf-8",
			body: `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t1","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"t1","correlation_id":"c1","error_uri":"https://login.microsoftonline.com/error?code=7000215"}`,
			want: Error{
				Code: "invalid_client", Description: "AADSTS7000215: Invalid client secret provided.  Trace ID: t1",
				URI:   "https://login.microsoftonline.com/error?code=7000215",
				Extra: map[string]string{"error_codes": "7000215", "timestamp": "2024-01-01 00:00:00Z", "trace_id": "t1", "correlation_id": "c1"},
			},
			wantOK: true,
		},
		{
			name: "JSON sent as text/html",
			ct:   "text/html",
			body: "\xef\xbb\xbf  {\"error\":\"unauthorized_client\"}\n",
			want: Error{Code: "unauthorized_client"}, wantOK: true,
		},
		{
			name: "GitHub form body",
			ct:   "application/x-www-form-urlencoded; charset=utf-8",
			body: "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired.&error_uri=https%3A%2F%2Fdocs.github.com",
			want: Error{Code: "bad_verification_code", Description: "The code passed is incorrect or expired.", URI: "https://docs.github.com"}, wantOK: true,
		},
		{
			name: "form body without content type, bad escape elsewhere",
			body: "error=invalid_scope&junk=%zz",
			want: Error{Code: "invalid_scope"}, wantOK: true,
		},
		{
			name: "Google nested with numeric code",
			ct:   "application/json; charset=UTF-8",
			body: `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			want: Error{Code: "UNAUTHENTICATED", Description: "Request had invalid authentication credentials.", Extra: map[string]string{"code": "401"}}, wantOK: true,
		},
		{
			name: "Microsoft Graph nested with innerError",
			ct:   "application/json",
			body: `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired.","innerError":{"date":"2024-01-01T00:00:00","request-id":"r1","client-request-id":"cr1"}}}`,
			want: Error{Code: "InvalidAuthenticationToken", Description: "Access token has expired.", Extra: map[string]string{"date": "2024-01-01T00:00:00", "request-id": "r1", "client-request-id": "cr1"}}, wantOK: true,
		},
		{
			name: "Okta management API",
			ct:   "application/json",
			body: `{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"oaeXYZ","errorCauses":[]}`,
			want: Error{Code: "E0000011", Description: "Invalid token provided", Extra: map[string]string{"errorId": "oaeXYZ"}}, wantOK: true,
		},
		{
			name: "Auth0 management API",
			ct:   "application/json",
			body: `{"statusCode":401,"error":"Unauthorized","message":"Invalid token","attributes":{"error":"Invalid token"},"errorCode":"invalid_token"}`,
			want: Error{Code: "Unauthorized", Description: "Invalid token", Extra: map[string]string{"statusCode": "401", "errorCode": "invalid_token"}}, wantOK: true,
		},
		{name: "message alone is not OAuth", ct: "application/json", body: `{"message":"Unauthorized"}`},
		{name: "empty error", ct: "application/json", body: `{"error":"","error_description":"x"}`},
		{name: "error of wrong type", ct: "application/json", body: `{"error":true}`},
		{name: "nested without code", ct: "application/json", body: `{"error":{"message":"x"}}`},
		{name: "JSON array", ct: "application/json", body: `[{"error":"x"}]`},
		{name: "declared JSON, form body", ct: "application/json", body: `error=x`},
		{name: "HTML page", ct: "text/html", body: `<html><a href="?error=access_denied">x</a></html>`},
		{name: "plain text", ct: "text/plain", body: "Unauthorized"},
		{name: "truncated JSON", ct: "application/json", body: `{"error":"invalid_client"`},
		{name: "empty", ct: "application/json", body: ""},
		{
			name: "code of control characters only",
			body: `{"error":"\u0000\u0007"}`,
		},
		{
			name: "unknown fields never copied",
			ct:   "application/json",
			body: `{"error":"invalid_grant","refresh_token":"SECRET","code":"SECRET2","access_token":"SECRET3"}`,
			want: Error{Code: "invalid_grant"}, wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Parse(tt.ct, []byte(tt.body))
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() = %#v, %v\nwant %#v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		want   Error
		wantOK bool
	}{
		{
			name:  "RFC 6749 §4.1.2.1",
			query: "error=access_denied&error_description=The+user+denied&state=xyz",
			want:  Error{Code: "access_denied", Description: "The user denied"}, wantOK: true,
		},
		{
			name:  "Entra callback keeps ids",
			query: "error=invalid_request&error_description=AADSTS50011%3A+redirect+URI+mismatch&error_uri=https%3A%2F%2Fx&trace_id=t&correlation_id=c&error_subcode=cancel",
			want: Error{Code: "invalid_request", Description: "AADSTS50011: redirect URI mismatch", URI: "https://x",
				Extra: map[string]string{"trace_id": "t", "correlation_id": "c", "error_subcode": "cancel"}},
			wantOK: true,
		},
		{
			name:  "authorization code is never copied",
			query: "error=server_error&code=SECRETCODE&state=s&session_state=x",
			want:  Error{Code: "server_error"}, wantOK: true,
		},
		{name: "success callback", query: "code=abc&state=xyz"},
		{name: "empty error", query: "error=&error_description=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ParseQuery(q)
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseQuery() = %#v, %v\nwant %#v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	long := strings.Repeat("é", 5000)
	tests := []struct {
		name    string
		body    string
		field   func(Error) string
		maxRune int
	}{
		{name: "description", body: `{"error":"x","error_description":"` + long + `"}`, field: func(e Error) string { return e.Description }, maxRune: MaxDescription},
		{name: "uri", body: `{"error":"x","error_uri":"` + long + `"}`, field: func(e Error) string { return e.URI }, maxRune: MaxDescription},
		{name: "code", body: `{"error":"` + long + `"}`, field: func(e Error) string { return e.Code }, maxRune: MaxCode},
		{name: "extra", body: `{"error":"x","trace_id":"` + long + `"}`, field: func(e Error) string { return e.Extra["trace_id"] }, maxRune: MaxExtra},
		{name: "extra array", body: `{"error":"x","error_codes":[` + strings.Repeat("1,", 3000) + `1]}`, field: func(e Error) string { return e.Extra["error_codes"] }, maxRune: MaxExtra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := Parse("application/json", []byte(tt.body))
			if !ok {
				t.Fatal("not parsed")
			}
			got := tt.field(e)
			if n := utf8.RuneCountInString(got); n != tt.maxRune || !strings.HasSuffix(got, "…") {
				t.Errorf("got %d characters ending %q, want %d ending with an ellipsis", n, got[len(got)-4:], tt.maxRune)
			}
		})
	}
}

func TestBodyCap(t *testing.T) {
	body := `{"error":"invalid_client","pad":"` + strings.Repeat("a", MaxBody) + `"}`
	if _, ok := Parse("application/json", []byte(body)); ok {
		t.Error("a JSON body longer than MaxBody was parsed; want it cut and rejected")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		in   Error
		want string
	}{
		{name: "code only", in: Error{Code: "invalid_client"}, want: "oauth2: invalid_client"},
		{name: "with description", in: Error{Code: "invalid_grant", Description: "expired"}, want: "oauth2: invalid_grant: expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "plain", in: "abc", max: 5, want: "abc"},
		{name: "controls become spaces, trimmed", in: "\x00a\nb\x7f", max: 5, want: "a b"},
		{name: "bidi override removed", in: "a\u202eb", max: 5, want: "a b"},
		{name: "invalid UTF-8", in: "a\xffb", max: 5, want: "a\uFFFDb"},
		{name: "cut with ellipsis", in: "abcdef", max: 4, want: "abc…"},
		{name: "exact length kept", in: "abcd", max: 4, want: "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clean(tt.in, tt.max); got != tt.want {
				t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}
