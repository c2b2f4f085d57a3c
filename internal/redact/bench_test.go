package redact

import (
	"fmt"
	"strings"
	"testing"
)

// benchSecrets are what one run of a login flow registers: client secret,
// password, tokens, codes, the Basic credentials built from them.
func benchSecrets() []string {
	var out []string
	for i := range 20 {
		out = append(out, fmt.Sprintf("secret-%02d-%s", i, strings.Repeat("x&y<z>\"q", 3+i%4)))
	}
	return out
}

// benchEvidence is a 4 KiB evidence body with no secret in it, the
// common case.
var benchEvidence = strings.Repeat(`{"error":"invalid_client","error_description":"client authentication failed","trace":"0af7651916cd43dd8448eb211c80319c"}`+"\n", 34)

// BenchmarkSecretsString: redacting a 4 KiB evidence text against the 20
// secrets of a run, the replacer already built.
func BenchmarkSecretsString(b *testing.B) {
	var s Secrets
	s.Add(benchSecrets()...)
	_ = s.String("warm")
	b.SetBytes(int64(len(benchEvidence)))
	for b.Loop() {
		_ = s.String(benchEvidence)
	}
}

// BenchmarkSecretsRun: a run as the flows package drives it, each secret
// registered between redactions (every Add invalidates the replacer).
func BenchmarkSecretsRun(b *testing.B) {
	secrets := benchSecrets()
	for b.Loop() {
		var s Secrets
		for _, v := range secrets {
			s.Add(v)
			_ = s.String(benchEvidence[:512])
		}
		_ = s.String(benchEvidence)
	}
}

// BenchmarkSecretsRunTypical: a five-step run with the secrets real flows
// have (alphanumeric client secrets, tokens and codes, four per step),
// ten evidence texts redacted after each step.
func BenchmarkSecretsRunTypical(b *testing.B) {
	var secrets []string
	for i := range 20 {
		secrets = append(secrets, fmt.Sprintf("tok%02dA9zQ7xK2mP4vL8nR3sT6wY1bC5dF0gH", i)[:16+i%3*8])
	}
	for b.Loop() {
		var s Secrets
		for step := range 5 {
			s.Add(secrets[step*4 : step*4+4]...)
			for range 10 {
				_ = s.String(benchEvidence[:400])
			}
		}
	}
}
