package flows_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// rotationFlow logs alice in and refreshes with the given expectations,
// then refreshes again with the token the first refresh published (what
// a later step, or the next run, would use).
func rotationFlow(name, issuer, expect string) string {
	return fmt.Sprintf(`
name: %[1]s
every: 1m
steps:
  - id: login
    kind: login
    issuer: "%[2]s"
    redirect_uri: %[3]s
    timeout: 20s
%[4]s    scopes: [openid, offline_access, "api:read"]
    resource: ["%[5]s"]
    expect: {refresh_token: true}
  - id: refresh
    kind: refresh
    issuer: "%[2]s"
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    refresh_token: ${steps.login.refresh_token}
    expect: %[6]s
  - id: refresh_again
    kind: refresh
    issuer: "%[2]s"
    client_id: app-client
    client_secret: ${env:APP_SECRET}
    refresh_token: ${steps.refresh.refresh_token}
`, name, issuer, lopCallback, lopAlice, itApiResource, expect)
}

// TestRefreshRotation checks expect.rotated and expect.old_token_refused
// against oidc-provider with rotation on (with reuse detection), off, and
// broken (rotates, yet the replaced token keeps working).
//
// proves: revocation_ineffective, assertion_failed, refresh_token_rejected
func TestRefreshRotation(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	r := lopRunner(t, false)

	t.Run("rotating", func(t *testing.T) {
		t.Parallel()
		p := lopProvider(t, map[string]string{"REFRESH_ROTATION": "on"})

		t.Run("rotated, chain intact", func(t *testing.T) {
			t.Parallel()
			itMustPass(t, itRunProvider(t, r, rotationFlow("rotated", p.Issuer, "{rotated: true}")))
		})
		t.Run("old token refused, then the grant is gone", func(t *testing.T) {
			t.Parallel()
			res := itRunProvider(t, r, rotationFlow("old-refused", p.Issuer, "{rotated: true, old_token_refused: true}"))
			refresh := itStep(t, res, "refresh")
			if refresh.Status != flows.StepPassed {
				t.Fatalf("refresh: %s\n%s", refresh.Status, itDescribe(res))
			}
			if notes := strings.Join(refresh.Notes, "\n"); !strings.Contains(notes, "replaced refresh token was refused (invalid_grant)") ||
				!strings.Contains(notes, "may no longer work") {
				t.Errorf("refresh notes %q; want the refusal and its consequence", notes)
			}
			if n := countExchanges(refresh, "/token"); n != 2 {
				t.Errorf("refresh step recorded %d token requests, want 2 (the refresh, the replay)", n)
			}
			// oidc-provider's reuse detection revoked the grant: the
			// token the refresh published is dead (docs/flows.md says so).
			f := itMustFail(t, res, "refresh_again", flows.ReasonRefreshTokenRejected)
			itFactIs(t, f, "error", "invalid_grant")
		})
	})

	t.Run("not rotating", func(t *testing.T) {
		t.Parallel()
		p := lopProvider(t, map[string]string{"REFRESH_ROTATION": "off"})
		res := itRunProvider(t, r, rotationFlow("not-rotated", p.Issuer, "{rotated: true}"))
		f := itMustFail(t, res, "refresh", flows.ReasonAssertionFailed)
		itSummaryHas(t, f, "did not rotate the refresh token", "sent back the one it was given", "sha256:")
	})

	t.Run("rotating but the old token still works", func(t *testing.T) {
		t.Parallel()
		p := lopProvider(t, map[string]string{"REFRESH_ROTATION": "keep-old"})
		res := itRunProvider(t, r, rotationFlow("leaky-rotation", p.Issuer, "{rotated: true, old_token_refused: true}"))
		f := itMustFail(t, res, "refresh", flows.ReasonRevocationIneffective)
		itSummaryHas(t, f, "still accepts the one it replaced", "sha256:")
		if fp, _ := itFact(f, "refresh_token_replayed"); !strings.HasPrefix(fp, "sha256:") {
			t.Errorf("refresh_token_replayed %q, want a fingerprint", fp)
		}
	})
}

func countExchanges(s *flows.StepResult, suffix string) int {
	n := 0
	for _, ex := range s.Exchanges {
		if strings.HasSuffix(ex.URL, suffix) {
			n++
		}
	}
	return n
}

// TestRefreshRotationLoad: rotation expectations belong to refresh steps,
// and the replay cannot go with persist.
func TestRefreshRotationLoad(t *testing.T) {
	src := `name: a
every: 1m
steps:
  - id: token
    kind: client_credentials
    token_url: https://idp.example.com/token
    client_id: c
    client_secret: s
    expect: {rotated: true}
  - id: refresh
    kind: refresh
    token_url: https://idp.example.com/token
    client_id: c
    client_secret: s
    refresh_token: ${credential:rt}
    persist: true
    expect: {old_token_refused: true}
`
	loadAssertHas(t, loadProblems(t, src),
		"steps[0].expect.rotated: only a refresh step can check refresh token rotation",
		"steps[1].expect.old_token_refused: cannot go with persist")
}
