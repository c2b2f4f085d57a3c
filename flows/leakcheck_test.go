package flows_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestLeakCheckFindsRealTokensOnly: the JWT net of the leak checks finds a
// real token, whole or cut after its header, and not a random id that
// starts like one (an oidc-provider interaction id in a cookie path did).
func TestLeakCheckFindsRealTokensOnly(t *testing.T) {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k1","typ":"JWT"}`))
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice"}`))
	jwt := header + "." + claims + ".c2lnbmF0dXJl"
	for _, text := range []string{"token " + jwt + " leaked", "cut: " + header + ".eyJzdWIi…"} {
		if got := itFindJWT(text); got == "" {
			t.Errorf("a real token was not found in %q", text)
		}
	}
	for _, text := range []string{
		"Path=/interaction/eyJk3xTq9LwZ0aBcDeFgH1. and more",
		"session eyJ_-abcdefghijklmnop.x",
		base64.RawURLEncoding.EncodeToString([]byte(`{"a":1}`)) + ".x", // JSON, but no JWS header
	} {
		if got := itFindJWT(text); got != "" {
			t.Errorf("%q was taken for a token (%q)", text, got)
		}
	}
}

// TestLeakCheckTapKeepsIssuedTokens: the runners of the tests keep the
// tokens their flows received and the credentials they sent, so that the
// leak checks look for those values.
func TestLeakCheckTapKeepsIssuedTokens(t *testing.T) {
	t.Parallel()
	const access, refresh = "issued-access-token-5d0c2a", "issued-refresh-token-9e71b3"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q,"token_type":"Bearer","expires_in":300}`, access, refresh)
	}))
	t.Cleanup(srv.Close)
	const secret = "configured-client-secret-77af"
	r := itTappedRunner(itLookupFrom(map[string]string{"LC_SECRET": secret}, nil))
	res := itRunYAML(t, r, fmt.Sprintf(`name: leak-tap
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: %s/token
    client_id: c
    client_secret: ${env:LC_SECRET}
`, srv.URL))
	itMustPass(t, res)
	got := itReceived(r)
	for _, want := range []string{access, refresh, secret} {
		if !slices.Contains(got, want) {
			t.Errorf("the tap did not keep %s…; it kept %d values", want[:8], len(got))
		}
	}
	for _, v := range got {
		if strings.Contains(v, "Bearer") {
			t.Errorf("the tap kept a non-secret member")
		}
	}
}
