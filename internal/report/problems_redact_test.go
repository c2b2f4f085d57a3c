package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/conf"
)

// TestProblemsHideLiteralSecrets: the source line quoted under a problem
// showed a literal client_secret written on the same line (a flow mapping)
// or in the field the problem is about; the caret still points at the
// problem's column.
func TestProblemsHideLiteralSecrets(t *testing.T) {
	const secret = "Canary-s3cret"
	for _, c := range []struct {
		name, line string
		at         string // the problem's column is where this starts
		want       string // the text the caret must point at
	}{
		{"problem after the secret", `  - {id: token, client_id: a, client_secret: "` + secret + `", bogus: 1}`, "bogus", "bogus"},
		{"problem before the secret", `  - {idd: token, client_secret: ` + secret + `, kind: x}`, "idd", "idd"},
		{"problem on the secret", `    client_secret: ` + secret + ` # a comment`, secret, redactedSource},
		{"password, plain block style", `    password: é` + secret + `, and more`, "password", "password"},
		{"a reference is kept", `    client_secret: ${env:CC_SECRET}`, "client_secret", "client_secret"},
		{"a reference in a flow mapping is kept", `  - {client_secret: ${env:CC_SECRET}, bogus: 1}`, "bogus", "bogus"},
		{"a nested mapping is looked into", `  - {auth: {bearer: ` + secret + `}, ké: 1}`, "ké", "ké"},
		{"a browser fill's value", `        - fill: {selector: "#otp", value: ` + secret + `, bogus: 1}`, "bogus", "bogus"},
		{"a mapping under a secret key goes whole", `    client_secret: {nested: "` + secret + `", "}": 2}, x: 1`, "x: 1", "x: 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			col := utf8.RuneCountInString(c.line[:strings.Index(c.line, c.at)]) + 1
			var out bytes.Buffer
			Problems(&out, conf.Problems{{Pos: conf.Position{File: "f.yaml", Line: 1, Column: col}, Message: "m"}},
				map[string][]byte{"f.yaml": []byte(c.line + "\n")})
			text := out.String()
			if strings.Contains(text, secret) {
				t.Errorf("the secret is shown:\n%s", text)
			}
			lines := strings.Split(text, "\n")
			if len(lines) < 3 {
				t.Fatalf("no source line and caret:\n%s", text)
			}
			src, caret := []rune(strings.TrimPrefix(lines[1], "     1 | ")), strings.Index(lines[2], "^")-len("       | ")
			if caret < 0 || caret > len(src) || !strings.HasPrefix(string(src[caret:]), c.want) {
				t.Errorf("the caret points at %q, want %q:\n%s", string(src[min(max(caret, 0), len(src)):]), c.want, text)
			}
			if strings.Contains(c.line, "${env:CC_SECRET}") && !strings.Contains(text, "${env:CC_SECRET}") {
				t.Errorf("the reference is hidden:\n%s", text)
			}
		})
	}
}
