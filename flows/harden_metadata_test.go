package flows_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// hardBigJSON is a syntactically valid JSON object of about size bytes, so
// only its size can make it fail.
func hardBigJSON(prefix string, size int) string {
	return prefix + `"padding": "` + strings.Repeat("x", size) + `"}`
}

// TestMetadataOverTheLimit serves a 2 MiB discovery document, then a 2 MiB
// JWKS: each fails with its reason, saying it was cut at the 1 MiB limit.
// Before, both said "unexpected end of JSON input", as if the IdP had sent
// broken JSON.
func TestMetadataOverTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bigJWKS  bool
		reason   flows.Reason
		want     string
		withCLen bool
	}{
		{"discovery document", false, flows.ReasonDiscoveryFailed, "the discovery document at %s/.well-known/openid-configuration is larger than 1048576 bytes, the most authwatch reads (1 MiB): it was cut at the limit", false},
		{"JWKS", true, flows.ReasonJWKSUnavailable, "the JWKS at %s/jwks is larger than 1048576 bytes, the most authwatch reads (1 MiB): it was cut at the limit", false},
		{"JWKS with a Content-Length", true, flows.ReasonJWKSUnavailable, "the JWKS at %s/jwks is 2097179 bytes (Content-Length), more than the 1048576 authwatch reads (1 MiB): it was cut at the limit", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				var body string
				switch r.URL.Path {
				case "/.well-known/openid-configuration":
					body = `{"issuer": "` + srv.URL + `", "jwks_uri": "` + srv.URL + `/jwks", "authorization_endpoint": "` + srv.URL + `/auth", ` +
						`"token_endpoint": "` + srv.URL + `/token", "response_types_supported": ["code"], "subject_types_supported": ["public"], ` +
						`"id_token_signing_alg_values_supported": ["RS256"]}`
					if !tc.bigJWKS {
						body = hardBigJSON(strings.TrimSuffix(body, "}")+", ", 2<<20)
					}
				case "/jwks":
					body = hardBigJSON(`{"keys": [], `, 2<<20)
				}
				if tc.withCLen {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				} else {
					w.(http.Flusher).Flush() // chunked: no Content-Length
				}
				w.Write([]byte(body))
			}))
			defer srv.Close()
			f := tplLoadFlow(t, "name: meta\nevery: 1m\nsteps:\n  - {id: d, kind: discovery, issuer: \""+srv.URL+"\"}\n")
			res := flows.NewRunner().Run(context.Background(), f)
			fl := res.Failure()
			if res.OK || fl == nil {
				t.Fatal("the run passed")
			}
			want := strings.ReplaceAll(tc.want, "%s", srv.URL)
			if fl.Reason != tc.reason || fl.Summary != want {
				t.Errorf("failure = %s: %s\nwant %s: %s", fl.Reason, fl.Summary, tc.reason, want)
			}
		})
	}
}
