package flows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestTLSExpiryHorizonPerFlowAndStep: nginx serves a certificate that
// expires in 3 days. tls_expiry_warning on the flow sets the horizon of
// tls_certificate_expiring for its steps, a step's own wins over it, and
// without either the runner's (the daemon's default) applies.
// proves: tls_certificate_expiring
func TestTLSExpiryHorizonPerFlowAndStep(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}} ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        location / { return 200 "ok\n"; }
    }`, certs.Expiring.CertFile, certs.Expiring.KeyFile))
	r := flows.NewRunner()
	r.TLSExpiryWarning = 24 * time.Hour // the daemon's default: 1 day, less than the 3 left
	call := func(id, extra string) string {
		return "  - id: " + id + "\n    kind: http\n    url: https://" + ngx.Addr(0) + "/\n    ca_file: " + certs.CAFile + "\n" + extra
	}
	for _, tc := range []struct {
		name, flow string
		warned     map[string]bool // step id → tls_certificate_expiring expected
	}{
		{"runner default", "steps:\n" + call("a", ""), map[string]bool{"a": false}},
		{"flow horizon", "tls_expiry_warning: 7d\nsteps:\n" + call("a", ""), map[string]bool{"a": true}},
		{"step overrides flow", "tls_expiry_warning: 7d\nsteps:\n" + call("a", "    tls_expiry_warning: 2d\n") + call("b", ""),
			map[string]bool{"a": false, "b": true}},
		{"step without flow", "steps:\n" + call("a", "    tls_expiry_warning: 30d\n") + call("b", ""),
			map[string]bool{"a": true, "b": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := itRunYAML(t, r, "name: horizon\nevery: 1m\n"+tc.flow)
			itMustPass(t, res)
			for id, want := range tc.warned {
				s := itStep(t, res, id)
				got := false
				for _, f := range s.Findings {
					got = got || f.Reason == flows.ReasonTLSCertificateExpiring
				}
				if got != want || (s.Status == flows.StepWarned) != want {
					t.Errorf("step %s: tls_certificate_expiring %v (status %s), want %v:\n%s", id, got, s.Status, want, itDescribe(res))
				}
			}
		})
	}
}
