package flows_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// A note that is authwatch's own text is shown as written, even where a
// secret's value happens to be a word of it: the value net is for what
// targets say, and a passing run that only notes such a text builds no
// redaction forms. (Notes quoting a target go through the net:
// itAssertNoSecrets checks them in the integration tests.)
func TestLiteralNoteNotRedacted(t *testing.T) {
	const secret = "signature"
	enc := base64.RawURLEncoding.EncodeToString
	exp := time.Now().Add(time.Hour).Unix()
	jwt := enc([]byte(`{"alg":"RS256","typ":"at+jwt"}`)) + "." +
		enc(fmt.Appendf(nil, `{"sub":"c","exp":%d,"iat":%d}`, exp, exp-3600)) + "." + enc([]byte("sig"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"`+jwt+`","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	r := itNewRunner(itLookupFrom(map[string]string{"NOTE_SECRET": secret}, nil))
	res := itRunYAML(t, r, fmt.Sprintf(`flows:
  - name: literal-note
    steps:
      - id: token
        kind: client_credentials
        token_url: %s/token
        client_id: c
        client_secret: ${env:NOTE_SECRET}
`, srv.URL))
	itMustPass(t, res)
	const want = "the access token's signature was not verified: give the step an issuer or jwks_url"
	if notes := itStep(t, res, "token").Notes; !slices.Contains(notes, want) {
		t.Errorf("token step notes %q: want %q as written", notes, want)
	}
}
