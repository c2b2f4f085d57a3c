package flows_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// matrixCCFlow gets a JWT access token from the test oidc-provider with the
// client_credentials grant (cc-client, resource https://api.example.test/).
func matrixCCFlow(issuer, extra string) string {
	return fmt.Sprintf(`steps:
  - id: token
    kind: client_credentials
    issuer: %s
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    client_auth: client_secret_basic
    resource: [https://api.example.test/]
    scopes: [api:read]
%s`, issuer, extra)
}

// TestMatrixClock skews real servers with libfaketime: the oidc-provider
// test IdP (its iat, exp and Date header move) and nginx (its Date header).
// The monitor's own clock is the real one: faketime cannot skew Go.
//
// proves: token_expired, token_not_yet_valid, clock_skew
func TestMatrixClock(t *testing.T) {
	t.Parallel()
	r := flows.NewRunner()
	r.Secrets = matrixSecrets(map[string]string{"CC_SECRET": "cc-secret"})

	t.Run("idp_clock_2h_behind", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, nil, testenv.Faketime(t, "-2h")...)
		runMatrixCase(t, r, matrixCase{name: "idp_clock_2h_behind", flow: matrixCCFlow(p.Issuer, ""),
			// exp = iat + 1h = real now - 1h.
			want:    flows.ReasonTokenExpired,
			summary: []string{"the access token expired 1h0m0s ago", "when it was received", "its iat says the issuer's clock is 2h0m0s behind this host's"},
			findings: map[flows.Reason][]string{
				flows.ReasonClockSkew: {"the access token was issued at", "2h0m0s behind this host's clock"},
			},
			check: matrixDateSkewFinding(strings.TrimPrefix(p.URL, "http://"), "2h0m0s behind this host's"),
		})
	})
	t.Run("idp_clock_2h_ahead", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, nil, testenv.Faketime(t, "+2h")...)
		runMatrixCase(t, r, matrixCase{name: "idp_clock_2h_ahead", flow: matrixCCFlow(p.Issuer, ""),
			// oidc-provider's access tokens carry no nbf: iat is the evidence.
			want:    flows.ReasonTokenNotYetValid,
			summary: []string{"the access token was issued in the future", "2h0m0s from now", "its iat says the issuer's clock is 2h0m0s ahead of this host's"},
			findings: map[flows.Reason][]string{
				flows.ReasonClockSkew: {"the access token was issued at", "2h0m0s ahead of this host's clock"},
			},
			check: func(t *testing.T, res *flows.Result) {
				matrixDateSkewFinding(strings.TrimPrefix(p.URL, "http://"), "2h0m0s ahead of this host's")(t, res)
				// The skew explains the failure: a secondary finding, not the flow's reason.
				if st, w := res.Status(), res.Warning(); st != flows.StepFailed || w != nil {
					t.Errorf("flow status %s, warning %+v; want fail and no warning", st, w)
				}
			},
		})
	})
	// 10 minutes behind, beyond the default 60s skew, but the token (an
	// hour's lifetime) is still valid: nothing fails, so the skew is the
	// flow's warning, not a finding that passes silently.
	t.Run("idp_clock_10m_behind", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, nil, testenv.Faketime(t, "-10m")...)
		runMatrixCase(t, r, matrixCase{name: "idp_clock_10m_behind", flow: matrixCCFlow(p.Issuer, ""),
			findings: map[flows.Reason][]string{
				flows.ReasonClockSkew: {"the access token was issued at", "behind this host's clock: the issuer's clock is off"},
			},
			check: func(t *testing.T, res *flows.Result) {
				matrixDateSkewFinding(strings.TrimPrefix(p.URL, "http://"), "behind this host's")(t, res)
				if st := res.Steps[0].Status; st != flows.StepWarned {
					t.Errorf("step status %s, want %s", st, flows.StepWarned)
				}
				if st, w := res.Status(), res.Warning(); st != flows.StepWarned || w == nil || w.Reason != flows.ReasonClockSkew {
					t.Errorf("flow status %s, primary warning %+v; want warn with clock_skew", st, w)
				}
			}})
	})
	t.Run("idp_clock_right", func(t *testing.T) {
		t.Parallel()
		p := testenv.NodeOIDCProvider(t, nil)
		runMatrixCase(t, r, matrixCase{name: "idp_clock_right", flow: matrixCCFlow(p.Issuer, ""),
			check: func(t *testing.T, res *flows.Result) {
				if fs := res.Findings(); len(fs) > 0 {
					t.Errorf("want no findings with a correct clock, got %s", matrixDescribeFindings(fs))
				}
			}})
	})
	t.Run("nginx_clock_20m_behind", func(t *testing.T) {
		t.Parallel()
		ngx := testenv.NginxWith(t, testenv.NginxOptions{Wrapper: testenv.Faketime(t, "-20m")}, `
    server {
        listen 127.0.0.1:{{port0}};
        location / { return 200 "ok\n"; }
    }`)
		runMatrixCase(t, r, matrixCase{name: "nginx_clock_20m_behind",
			flow: "steps:\n  - id: call\n    kind: http\n    url: " + ngx.URL(0) + "/\n",
			check: func(t *testing.T, res *flows.Result) {
				// Date has one-second resolution: 20m give or take a second.
				want := regexp.MustCompile(regexp.QuoteMeta(ngx.Addr(0)) + `'s clock is (19m59s|20m0s|20m1s) behind this host's \(Date: [^)]+\); allowed skew is 1m0s`)
				if fs := res.Findings(); len(fs) != 1 || fs[0].Reason != flows.ReasonClockSkew || !want.MatchString(fs[0].Summary) {
					t.Errorf("want one clock_skew finding matching %s, got %s", want, matrixDescribeFindings(fs))
				}
				if s := res.Steps[0].Status; s != flows.StepWarned || res.Status() != flows.StepWarned {
					t.Errorf("step status %s, flow status %s, want %s: clock_skew is a warning here, not a failure", s, res.Status(), flows.StepWarned)
				}
			}})
	})
}

// matrixDateSkewFinding wants a clock_skew finding read from host's Date
// header (beside the one read from the token's iat).
func matrixDateSkewFinding(host, says string) func(t *testing.T, res *flows.Result) {
	return func(t *testing.T, res *flows.Result) {
		t.Helper()
		for _, f := range res.Findings() {
			if f.Reason == flows.ReasonClockSkew && strings.Contains(f.Summary, host+"'s clock is") &&
				strings.Contains(f.Summary, "(Date: ") && strings.Contains(f.Summary, says) {
				return
			}
		}
		t.Errorf("want a clock_skew finding from %s's Date header saying %q; findings: %s", host, says, matrixDescribeFindings(res.Findings()))
	}
}
