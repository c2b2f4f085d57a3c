package reasondoc

import (
	"bytes"
	"os"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// TestDocIsCurrent keeps docs/reasons.md equal to what the table renders.
func TestDocIsCurrent(t *testing.T) {
	proofs, err := Proofs("../..")
	if err != nil {
		t.Fatal(err)
	}
	want := Render(proofs)
	got, err := os.ReadFile("../../docs/reasons.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/reasons.md is stale: run go run ./internal/reasondoc/gen")
	}
}

// TestProofsNameKnownCodes catches a typo in a "// proves:" comment.
func TestProofsNameKnownCodes(t *testing.T) {
	proofs, err := Proofs("../..")
	if err != nil {
		t.Fatal(err)
	}
	known := map[flows.Reason]bool{}
	for _, r := range flows.ReasonTable {
		known[r.Code] = true
	}
	for code, tests := range proofs {
		if !known[code] {
			t.Errorf("%v: \"// proves: %s\" names no reason code", tests, code)
		}
	}
}
