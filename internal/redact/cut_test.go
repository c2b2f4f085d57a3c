package redact

import "testing"

func TestSecretsStringCut(t *testing.T) {
	const secret = "s3cret-value-0001"
	tests := []struct {
		name, text, want string
	}{
		{name: "no mark", text: "echo s3cret-v", want: "echo s3cret-v"},
		{name: "start of a secret before the mark", text: `said "s3cret-v…" twice`, want: `said "` + Marker(secret) + `…" twice`},
		{name: "every mark", text: "s3cr… and s3cret-val…", want: Marker(secret) + "… and " + Marker(secret) + "…"},
		{name: "shorter than 4 bytes is text", text: "the s3c…", want: "the s3c…"},
		{name: "not the start", text: "cret-value…", want: "cret-value…"},
		{name: "whole secret", text: "s3cret-value-0001…", want: Marker(secret) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Secrets
			s.Add(secret)
			if got := s.StringCut(tt.text, "…"); got != tt.want {
				t.Errorf("StringCut(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
	var none *Secrets
	if got := none.StringCut("s3cr…", "…"); got != "s3cr…" {
		t.Errorf("nil Secrets: %q", got)
	}
}
