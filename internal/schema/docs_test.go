package schema

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

const flowsDoc = "../../docs/flows.md"

// TestDocsCoverEveryKind: docs/flows.md is written by hand; a new kind or
// output must reach it.
func TestDocsCoverEveryKind(t *testing.T) {
	doc := readDoc(t)
	for _, k := range flows.Kinds() {
		if !strings.Contains(doc, "kind: "+k.Name+"\n") {
			t.Errorf("docs/flows.md has no example with kind: %s", k.Name)
		}
		if ol, ok := k.New().(flows.OutputLister); ok {
			for _, out := range ol.Outputs() {
				if !strings.Contains(doc, "`"+out+"`") {
					t.Errorf("docs/flows.md does not name the %s output `%s`", k.Name, out)
				}
			}
		}
	}
}

var (
	yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")
	stepRef   = regexp.MustCompile(`\$\{steps\.([a-z][a-z0-9_]*)\.`)
)

// TestDocExamples: every complete example in docs/flows.md (a file, a flow,
// or a list of steps) validates against the schema and loads.
func TestDocExamples(t *testing.T) {
	v := &validator{root: loadSchema(t)}
	n := 0
	for i, m := range yamlBlock.FindAllStringSubmatch(readDoc(t), -1) {
		src, ok := docExample(m[1])
		if !ok {
			continue
		}
		n++
		name := fmt.Sprintf("block %d", i+1)
		for _, e := range schemaErrors(t, v, []byte(src)) {
			t.Errorf("%s: %s\n%s", name, e, m[1])
		}
		if _, err := flows.LoadBytes(flows.LoadOptions{}, name, []byte(src)); err != nil {
			t.Errorf("%s does not load: %v\n%s", name, err, src)
		}
	}
	if n < 10 {
		t.Errorf("only %d examples found in docs/flows.md", n)
	}
}

// docExample makes a loadable file of a code block: a file or flow as it
// is; a list of steps inside a flow, after a stub step for every earlier
// step it refers to. Fragments and elided blocks ([...]) are skipped.
func docExample(block string) (string, bool) {
	switch {
	case strings.Contains(block, "[...]"):
		return "", false
	case strings.HasPrefix(block, "flows:"), strings.HasPrefix(block, "name:"):
		return block, true
	case !strings.HasPrefix(block, "- id:"):
		return "", false
	}
	var b strings.Builder
	b.WriteString("name: doc-example\nevery: 1m\nsteps:\n")
	for _, m := range stepRef.FindAllStringSubmatch(block, -1) {
		if id := m[1]; !strings.Contains(block, "- id: "+id+"\n") && !strings.Contains(b.String(), "- id: "+id+"\n") {
			fmt.Fprintf(&b, "  - id: %s\n    kind: password\n    token_url: https://stub.example/token\n"+
				"    client_id: stub\n    client_secret: ${env:STUB}\n    username: stub\n    password: ${env:STUB}\n", id)
		}
	}
	for _, line := range strings.SplitAfter(block, "\n") {
		if line != "" {
			b.WriteString("  " + line)
		}
	}
	return b.String(), true
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(flowsDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
