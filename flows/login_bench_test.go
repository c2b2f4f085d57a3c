package flows_test

import (
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo/idp"
)

// BenchmarkLoginHTTP is one login step through the in-process zitadel OP's
// login page (discovery cached, as in the daemon): authorization request,
// login form, password POST, redirects, code exchange, ID token checks.
// The figures go in docs/benchmarks.md.
func BenchmarkLoginHTTP(b *testing.B) {
	p, err := idp.Start(b.Context(), idp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	r := itNewRunner(itLookupFrom(map[string]string{"PW": idp.UserPassword, "SECRET": idp.WebClientSecret}, nil))
	r.FailedEvidenceOnly = true
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: r.Secrets}, "bench.yaml", []byte(`
name: bench-login
every: 1m
steps:
  - id: login
    kind: login
    issuer: `+p.Issuer()+`
    client_id: `+idp.WebClientID+`
    client_secret: ${env:SECRET}
    redirect_uri: `+idp.RedirectURI+`
    username: `+idp.UserName+`
    password: ${env:PW}
`))
	if err != nil {
		b.Fatal(err)
	}
	f := set.Flows[0]
	b.ReportAllocs()
	for b.Loop() {
		if res := r.Run(b.Context(), f); !res.OK {
			b.Fatalf("login failed: %s", itDescribe(res))
		}
	}
}
