package flows_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// matrixKids returns the kids of a provider's JWKS.
func matrixKids(t *testing.T, jwksURL string) []string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("%s: %v", jwksURL, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestMatrixKeyRotation runs three oidc-provider instances with different
// key sets (KEY_SET): tokens of the one signing with key a are checked
// against the JWKS of one that only publishes b (a rotation that dropped
// the old key too early) and of one that publishes b and a (a clean
// rotation).
//
// proves: signing_key_not_found
func TestMatrixKeyRotation(t *testing.T) {
	t.Parallel()
	a := testenv.NodeOIDCProvider(t, map[string]string{"KEY_SET": "a"})
	b := testenv.NodeOIDCProvider(t, map[string]string{"KEY_SET": "b"})
	ba := testenv.NodeOIDCProvider(t, map[string]string{"KEY_SET": "b,a"})
	kidA, kidsB := matrixKids(t, a.URL+"/jwks"), matrixKids(t, b.URL+"/jwks")
	if len(kidA) != 1 || len(kidsB) != 1 {
		t.Fatalf("JWKS of KEY_SET=a: %v, of KEY_SET=b: %v; want one key each", kidA, kidsB)
	}

	r := flows.NewRunner()
	r.Secrets = matrixSecrets(map[string]string{"CC_SECRET": "cc-secret"})
	notFound := []string{`the access token's kid "` + kidA[0] + `" is not among the 1 keys the JWKS serves (` + kidsB[0] + `)`, "rotated keys"}
	for _, c := range []matrixCase{
		{name: "jwks_of_provider_with_old_key_dropped", flow: matrixCCFlow(a.Issuer, "    jwks_url: "+b.URL+"/jwks\n"),
			want: flows.ReasonSigningKeyNotFound, summary: notFound,
			check: matrixWantFact("jwks_kids", kidsB[0])},
		{name: "token_check_against_jwks_without_its_key", flow: matrixCCFlow(a.Issuer, `  - id: check
    kind: token_check
    token: ${steps.token.access_token}
    jwks_url: `+b.URL+`/jwks
`),
			want: flows.ReasonSigningKeyNotFound, summary: []string{`the token's kid "` + kidA[0] + `" is not among the 1 keys`},
			check: func(t *testing.T, res *flows.Result) {
				if f := res.Failure(); f != nil && f.Step != "check" {
					t.Errorf("failed in step %s, want check", f.Step)
				}
			}},
		{name: "clean_rotation_publishes_old_key", flow: matrixCCFlow(a.Issuer, "    jwks_url: "+ba.URL+"/jwks\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runMatrixCase(t, r, c)
			if f := res.Failure(); f != nil && strings.Contains(f.Summary, "cc-secret") {
				t.Errorf("summary shows the client secret: %s", f.Summary)
			}
		})
	}
}
