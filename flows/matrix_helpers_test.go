package flows_test

// Helpers of the integration matrix (matrix_*_test.go): every reason code
// produced by a real misconfiguration of a real component (nginx, openssl
// certificates, oidc-provider under faketime, the demo IdP and API), run
// through the real runner and asserted on its code and the key facts of its
// summary.
//
// Which test proves which code: the "proves" comment line above each test.
//
// Codes no row produces with a real component, and why:
//
//   - invalid_grant: only a password grant can yield it (a refused refresh
//     is refresh_token_rejected, and no step kind exchanges an
//     authorization code), and neither test IdP supports the password
//     grant: oidc-provider answers unsupported_grant_type (grant_not_allowed,
//     proven in TestMatrixIdP), the demo IdP does not offer the grant.
//   - redirect_uri_mismatch, login_rejected, login_form_changed,
//     mfa_required, account_locked: no step kind drives a browser login
//     (the kinds are discovery, client_credentials, password, refresh,
//     token_check, http and preflight) and no code in flows/ emits them.
//     oidc-provider already serves the pages that would prove them (an
//     unknown redirect_uri, "Invalid username or password", "Account
//     locked", the "Two-step verification" form of carol).
//   - session_cookie_missing, cookie_attributes_invalid: no code in flows/
//     emits them (no step checks Set-Cookie or the cookies sent back).
//   - internal_error: a bug in authwatch by definition; a misconfigured
//     component must never produce it (every row here would fail if one did).
//
// What stands in for a component: the DNS row of TestMatrixNetwork asks a
// tiny NXDOMAIN server on 127.0.0.1 (this machine's resolver is not on
// 127.0.0.1 and the matrix sends nothing elsewhere), and
// TestMatrixTimeoutTLSPhase uses a bare listener that never answers. The
// slow upstreams behind nginx are Go test servers.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// matrixCase is one row: a flow, the reason it must fail with ("" when it
// must pass), what the summary must say, and findings that must be there.
type matrixCase struct {
	name string
	// flow is the YAML of one flow; loadMatrixFlow adds name and every.
	flow string
	// want is the primary reason; "" means every step passes (unless
	// oneOf is set).
	want flows.Reason
	// oneOf, instead of want: the evidence allows either of these reasons.
	oneOf []flows.Reason
	// summary are substrings the failure's summary must contain.
	summary []string
	// findings are reasons that must be among the findings of the run,
	// each with substrings its summary must contain.
	findings map[flows.Reason][]string
	// before runs after the flow was loaded, before it runs.
	before func(t *testing.T)
	// check runs extra assertions on the result.
	check func(t *testing.T, res *flows.Result)
}

// loadMatrixFlow loads one flow from steps YAML (the text under steps:).
func loadMatrixFlow(t *testing.T, name, header, steps string) *flows.Flow {
	t.Helper()
	src := fmt.Sprintf("name: %s\nevery: 1m\ntimeout: 20s\n%s\nsteps:\n%s", name, header, steps)
	set, err := flows.LoadBytes(flows.LoadOptions{}, name+".yaml", []byte(src))
	if err != nil {
		t.Fatalf("load flow:\n%s\n%v", src, err)
	}
	if len(set.Flows) != 1 {
		t.Fatalf("load flow: %d flows", len(set.Flows))
	}
	return set.Flows[0]
}

// runMatrixCase loads and runs one row and asserts its outcome.
func runMatrixCase(t *testing.T, r *flows.Runner, c matrixCase) *flows.Result {
	t.Helper()
	header, steps, ok := strings.Cut(c.flow, "steps:\n")
	if !ok {
		t.Fatalf("row %s: flow has no steps:", c.name)
	}
	f := loadMatrixFlow(t, "matrix-"+strings.ReplaceAll(c.name, "_", "-"), strings.TrimSpace(header), steps)
	if c.before != nil {
		c.before(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	res := r.Run(ctx, f)
	t.Logf("ran in %s: %s", time.Since(start).Round(time.Millisecond), matrixDescribe(res))
	assertMatrixResult(t, res, c)
	return res
}

func assertMatrixResult(t *testing.T, res *flows.Result, c matrixCase) {
	t.Helper()
	fail := res.Failure()
	if len(c.oneOf) > 0 {
		if fail == nil || !slices.Contains(c.oneOf, fail.Reason) {
			t.Errorf("want one of %v, got %s", c.oneOf, matrixDescribe(res))
		}
		c.want = "(one of)"
		if fail != nil {
			c.want = fail.Reason
		}
	}
	switch {
	case c.want == "" && fail != nil:
		t.Errorf("want every step to pass, got %s: %s", fail.Reason, fail.Summary)
	case c.want == "" && !res.OK:
		t.Errorf("want every step to pass, got %s", matrixDescribe(res))
	case c.want != "" && fail == nil:
		t.Errorf("want %s, but the flow passed: %s", c.want, matrixDescribe(res))
	case c.want != "" && fail.Reason != c.want:
		t.Errorf("want %s, got %s: %s", c.want, fail.Reason, fail.Summary)
	}
	if fail != nil {
		for _, s := range c.summary {
			if !strings.Contains(fail.Summary, s) {
				t.Errorf("%s summary lacks %q:\n%s", fail.Reason, s, fail.Summary)
			}
		}
	}
	findings := res.Findings()
	for reason, subs := range c.findings {
		found := false
		var seen []string
		for _, f := range findings {
			if f.Reason != reason {
				continue
			}
			seen = append(seen, f.Summary)
			if matrixContainsAll(f.Summary, subs) {
				found = true
			}
		}
		if !found {
			t.Errorf("want a %s finding saying %q; %s findings: %q (all: %s)", reason, subs, reason, seen, matrixDescribeFindings(findings))
		}
	}
	if c.check != nil {
		c.check(t, res)
	}
}

func matrixContainsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func matrixDescribe(res *flows.Result) string {
	var b strings.Builder
	for _, s := range res.Steps {
		fmt.Fprintf(&b, "[%s %s %s http=%d", s.ID, s.Kind, s.Status, s.HTTPStatus)
		if s.Failure != nil {
			fmt.Fprintf(&b, " %s: %s", s.Failure.Reason, s.Failure.Summary)
		}
		if len(s.Findings) > 0 {
			fmt.Fprintf(&b, " findings: %s", matrixDescribeFindings(s.Findings))
		}
		b.WriteString("] ")
	}
	return b.String()
}

func matrixDescribeFindings(fs []flows.Finding) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		parts = append(parts, string(f.Reason)+": "+f.Summary)
	}
	return strings.Join(parts, "; ")
}

// matrixSecrets is a secret source backed by a map, as the daemon's environment.
func matrixSecrets(m map[string]string) conf.SecretSource {
	return conf.SecretSource{LookupEnv: func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}}
}
