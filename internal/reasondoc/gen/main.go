// Command gen writes docs/reasons.md from the reason table; run it from the
// repository root: go run ./internal/reasondoc/gen
package main

import (
	"log"
	"os"

	"github.com/authwatch/authwatch/internal/reasondoc"
)

func main() {
	proofs, err := reasondoc.Proofs(".")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("docs/reasons.md", reasondoc.Render(proofs), 0o644); err != nil {
		log.Fatal(err)
	}
}
