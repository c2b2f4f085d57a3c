package flows_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestMatrixTLS serves openssl-made certificates from nginx (ssl_certificate)
// and calls each listener with a plain http step.
//
// proves: tls_certificate_invalid, tls_certificate_expiring, config_invalid
func TestMatrixTLS(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	server := func(port int, c testenv.CertFile) string {
		return fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port%d}} ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        location / { return 200 "ok\n"; }
    }`, port, c.CertFile, c.KeyFile)
	}
	ngx := testenv.Nginx(t, server(0, certs.Valid)+server(1, certs.Expired)+server(2, certs.WrongHost)+
		server(3, certs.SelfSigned)+server(4, certs.Expiring))
	https := func(i int) string { return "https://" + ngx.Addr(i) + "/" }
	step := func(i int, caFile bool) string {
		s := "  - id: call\n    kind: http\n    url: " + https(i) + "\n"
		if caFile {
			s += "    ca_file: " + certs.CAFile + "\n"
		}
		return "steps:\n" + s
	}
	expiry := certs.Expiring.Cert.NotAfter.UTC().Format("2006-01-02T15:04")

	r := flows.NewRunner()
	// A CA bundle that is deleted after the flow was loaded (the loader
	// checks ca_file once; the step reads it when it runs).
	goneCA := filepath.Join(t.TempDir(), "ca-bundle.pem")
	matrixCopyFile(t, certs.CAFile, goneCA)
	for _, c := range []matrixCase{
		{name: "valid_with_ca_file", flow: step(0, true)},
		{name: "expired", flow: step(1, true), want: flows.ReasonTLSCertificateInvalid,
			summary: []string{"certificate of " + ngx.Addr(1), "expired at " + certs.Expired.Cert.NotAfter.UTC().Format("2006-01-02T15:04")},
			check:   matrixWantFact("check", "expired")},
		{name: "wrong_host", flow: step(2, true), want: flows.ReasonTLSCertificateInvalid,
			summary: []string{"does not match the host name", "other.example"},
			check:   matrixWantFact("check", "hostname")},
		{name: "self_signed_untrusted", flow: step(3, false), want: flows.ReasonTLSCertificateInvalid,
			summary: []string{"certificate of " + ngx.Addr(3), "untrusted authority"},
			check:   matrixWantFact("check", "untrusted_chain")},
		// The CA-signed valid certificate without ca_file: the private CA is
		// not in the system pool.
		{name: "private_ca_without_ca_file", flow: step(0, false), want: flows.ReasonTLSCertificateInvalid,
			summary: []string{"untrusted authority", "authwatch test CA"}},
		{name: "ca_file_removed", flow: "steps:\n  - id: call\n    kind: http\n    url: " + https(0) + "\n    ca_file: " + goneCA + "\n",
			want: flows.ReasonConfigInvalid, summary: []string{"ca_file", goneCA, "no such file"},
			before: func(t *testing.T) {
				if err := os.Remove(goneCA); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "expiring_in_3_days", flow: step(4, true),
			findings: map[flows.Reason][]string{flows.ReasonTLSCertificateExpiring: {ngx.Addr(4), "expires in", expiry}},
			check: func(t *testing.T, res *flows.Result) {
				if s := res.Steps[0].Status; s != flows.StepWarned {
					t.Errorf("step status %s, want %s (a warning finding on a passing step)", s, flows.StepWarned)
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) { runMatrixCase(t, r, c) })
	}
}

func matrixCopyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// matrixWantFact checks that the failure carries the fact name=value.
func matrixWantFact(name, value string) func(t *testing.T, res *flows.Result) {
	return func(t *testing.T, res *flows.Result) {
		t.Helper()
		f := res.Failure()
		if f == nil {
			return
		}
		var got []string
		for _, fact := range f.Evidence.Facts {
			if fact.Name == name {
				if fact.Value == value {
					return
				}
				got = append(got, fact.Value)
			}
		}
		t.Errorf("fact %s = %s, want %q", name, strings.Join(got, ", "), value)
	}
}
