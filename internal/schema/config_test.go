package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/notify"
)

const configSchemaFile = "../../docs/authwatch.schema.json"

// TestCommittedConfigSchemaIsCurrent keeps docs/authwatch.schema.json equal
// to what config.Config and the notifier kinds generate.
func TestCommittedConfigSchemaIsCurrent(t *testing.T) {
	want, err := GenerateConfig()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(configSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/authwatch.schema.json is stale: run go run ./internal/schema/gen")
	}
}

func loadConfigSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := GenerateConfig()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	return root
}

// TestConfigSchemaIsWellFormed: draft 2020-12, every $ref resolves, the
// file and every notifier kind are closed (an unknown key is an error, as
// in config.Load).
func TestConfigSchemaIsWellFormed(t *testing.T) {
	root := loadConfigSchema(t)
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" || root["$id"] != ConfigID || root["additionalProperties"] != false {
		t.Errorf("$schema %v, $id %v, additionalProperties %v", root["$schema"], root["$id"], root["additionalProperties"])
	}
	defs := root["$defs"].(map[string]any)
	walkJSON(root, func(m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			if _, ok := defs[strings.TrimPrefix(r, "#/$defs/")]; !ok || !strings.HasPrefix(r, "#/$defs/") {
				t.Errorf("$ref %s does not resolve", r)
			}
		}
	})
	kinds := strings.Split(notify.KindNames(), ", ")
	if len(kinds) < 8 {
		t.Fatalf("only %d notifier kinds registered: %v", len(kinds), kinds)
	}
	for _, k := range kinds {
		def, ok := defs["Notifier."+k].(map[string]any)
		if !ok || def["additionalProperties"] != false {
			t.Errorf("$defs/Notifier.%s is missing or not closed: %v", k, def)
		}
	}
}

// TestConfigExamples: the sample shipped for /etc and the test file with
// every section and notifier kind validate against the schema and load.
func TestConfigExamples(t *testing.T) {
	v := &validator{root: loadConfigSchema(t)}
	for _, file := range []string{"../../systemd/authwatch.yaml", "../config/testdata/full.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range schemaErrors(t, v, data) {
			t.Errorf("%s: %s", filepath.Base(file), e)
		}
		if _, err := config.Load(file, true); err != nil {
			t.Errorf("%s does not load: %v", file, err)
		}
	}
}

// TestConfigSchemaAgreesWithLoader: what the schema refuses, config.Load
// refuses, and the other way round for files of one problem each.
func TestConfigSchemaAgreesWithLoader(t *testing.T) {
	v := &validator{root: loadConfigSchema(t)}
	cases := []struct {
		name, yaml string
		valid      bool
	}{
		{"empty mapping", "{}\n", true},
		{"listen and store_check", "listen: 127.0.0.1:9464\nstore_check: full\n", true},
		{"a notifier and its route", "notifiers:\n  ops: {kind: slack, url: \"${env:SLACK_URL}\"}\nroutes:\n  - {name: all, default: true, notifiers: [ops]}\n", true},
		{"a silence", "silences:\n  - {matchers: {team: a}, until: \"2030-01-01T00:00:00Z\", comment: x}\n", true},
		{"unknown top-level key", "state_dri: /x\n", false},
		{"unknown nested key", "http: {max_conections: 5}\n", false},
		{"store_check not in the enum", "store_check: fast\n", false},
		{"max_concurrent out of range", "max_concurrent: -1\n", false},
		{"max_concurrent 0 (adaptive)", "max_concurrent: 0\n", true},
		{"a number where a string goes", "state_dir: [a]\n", false},
		{"bad duration", "retention: {max_age: 30days}\n", false},
		{"unknown notifier kind", "notifiers:\n  ops: {kind: pagerdooty}\nroutes:\n  - {name: all, default: true, notifiers: [ops]}\n", false},
		{"unknown notifier key", "notifiers:\n  ops: {kind: slack, url: \"${env:SLACK_URL}\", chanel: \"#ops\"}\nroutes:\n  - {name: all, default: true, notifiers: [ops]}\n", false},
		{"a notifier without its required key", "notifiers:\n  ops: {kind: slack}\nroutes:\n  - {name: all, default: true, notifiers: [ops]}\n", false},
	}
	for _, tt := range cases {
		path := filepath.Join(t.TempDir(), "authwatch.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, loadErr := config.Load(path, true)
		schemaErrs := schemaErrors(t, v, []byte(tt.yaml))
		if (loadErr == nil) != tt.valid || (len(schemaErrs) == 0) != tt.valid {
			t.Errorf("%s: loader %v, schema %v; want valid=%v", tt.name, loadErr, schemaErrs, tt.valid)
		}
	}
}
