// Command gen writes the JSON Schema of flow files. Run it from the module
// root after changing a flow type or step kind:
//
//	go run ./internal/schema/gen
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/authwatch/authwatch/internal/schema"
)

func main() {
	out := flag.String("o", "docs/flow.schema.json", "file to write")
	flag.Parse()
	b, err := schema.Generate()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
