// Command gen writes the JSON Schemas of flow files and of the daemon's
// configuration. Run it from the module root after changing a flow type, a
// step kind, the configuration or a notifier kind:
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
	flowOut := flag.String("o", "docs/flow.schema.json", "file to write the flow file schema to")
	configOut := flag.String("config-o", "docs/authwatch.schema.json", "file to write the authwatch.yaml schema to")
	flag.Parse()
	for file, generate := range map[string]func() ([]byte, error){*flowOut: schema.Generate, *configOut: schema.GenerateConfig} {
		b, err := generate()
		if err == nil {
			err = os.WriteFile(file, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
