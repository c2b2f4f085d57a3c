package flows

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
)

// TestLoadStopsReadingSecretsAfterAStall checks that one stalled mount
// costs a load one deadline, not one per reference.
func TestLoadStopsReadingSecretsAfterAStall(t *testing.T) {
	l := newLoader(LoadOptions{})
	stalled := conf.Ref{Kind: conf.RefFile, Name: "/stalled/a"}
	l.secrets[stalled] = fmt.Errorf("%w: file /stalled/a could not be read within 5s", conf.ErrSecretMissing)
	l.secretsStalled = true
	src := "name: a\nevery: 1m\nsteps:\n  - id: t\n    kind: client_credentials\n    token_url: https://idp.example.com/token\n" +
		"    client_id: app\n    client_secret: ${file:/dev/zero}\n"
	pf, _ := l.parse("a.yaml", []byte(src))
	l.decodeFile(pf)
	set, err := l.result()
	if err != nil {
		t.Fatalf("err = %v (a skipped check must not read /dev/zero)", err)
	}
	if len(set.Warnings) != 1 || !strings.Contains(set.Warnings[0].Message, "not checked: an earlier secret file could not be read within 5s") {
		t.Errorf("warnings = %v", set.Warnings)
	}
}
