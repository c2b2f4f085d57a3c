package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

const (
	schemaFile = "../../docs/flow.schema.json"
	examples   = "../../flows.d"
)

// TestCommittedSchemaIsCurrent keeps docs/flow.schema.json equal to what
// the flows types and kinds generate.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/flow.schema.json is stale: run go run ./internal/schema/gen")
	}
}

// TestSchemaIsWellFormed: JSON, draft 2020-12, every $ref resolves, every
// kind has its closed definition.
func TestSchemaIsWellFormed(t *testing.T) {
	root := loadSchema(t)
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" || root["$id"] != ID {
		t.Errorf("$schema %v, $id %v", root["$schema"], root["$id"])
	}
	defs := root["$defs"].(map[string]any)
	walkJSON(root, func(m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			if _, ok := defs[strings.TrimPrefix(r, "#/$defs/")]; !ok || !strings.HasPrefix(r, "#/$defs/") {
				t.Errorf("$ref %s does not resolve", r)
			}
		}
	})
	for _, k := range flows.Kinds() {
		def, ok := defs["Step."+k.Name].(map[string]any)
		if !ok {
			t.Errorf("no $defs/Step.%s", k.Name)
			continue
		}
		if def["additionalProperties"] != false {
			t.Errorf("Step.%s is not closed", k.Name)
		}
	}
}

// TestExamples: every file in flows.d validates against the schema and
// loads; unset secrets are warnings only.
func TestExamples(t *testing.T) {
	v := &validator{root: loadSchema(t)}
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s (%v)", examples, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range schemaErrors(t, v, data) {
			t.Errorf("%s: %s", filepath.Base(file), e)
		}
	}
	set, err := flows.Load(flows.LoadOptions{}, examples)
	if err != nil {
		t.Fatalf("flows.d does not load:\n%v", err)
	}
	for _, w := range set.Warnings {
		if !strings.Contains(w.Message, "credentials_missing") {
			t.Errorf("unexpected warning: %v", w)
		}
	}
}

// TestExamplesHoldNoLiteralSecrets: users copy these files, so every
// credential in them is a reference.
func TestExamplesHoldNoLiteralSecrets(t *testing.T) {
	set, err := flows.Load(flows.LoadOptions{}, examples)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set.Flows {
		for _, spec := range f.Steps {
			for field, tpl := range secretFields(spec.Step) {
				if tpl.IsZero() {
					continue
				}
				refs := tpl.Refs()
				if len(refs) != 1 || tpl.String() != refs[0].String() {
					t.Errorf("%s: %s/%s: %s must be a single ${env:...}, ${file:...}, ${credential:...} or ${steps...} reference, got %q",
						spec.Source, f.Name, spec.ID, field, tpl)
				}
			}
		}
	}
}

func secretFields(step flows.Step) map[string]conf.Template {
	out := map[string]conf.Template{}
	switch s := step.(type) {
	case *flows.ClientCredentialsStep:
		out["client_secret"] = s.ClientSecret
	case *flows.PasswordStep:
		out["client_secret"], out["password"] = s.ClientSecret, s.Password
	case *flows.RefreshStep:
		out["client_secret"], out["refresh_token"] = s.ClientSecret, s.RefreshToken
	case *flows.HTTPStep:
		if s.Auth != nil {
			out["auth.bearer"] = s.Auth.Bearer
			if s.Auth.Basic != nil {
				out["auth.basic.password"] = s.Auth.Basic.Password
			}
		}
	case *flows.TokenCheckStep:
		out["token"] = s.Token
	}
	return out
}

// TestFieldsHaveYAMLTags: the schema names a field by its yaml tag, the
// loader by its yaml tag or else its lower-cased name; only a tag makes
// them agree.
func TestFieldsHaveYAMLTags(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type, string)
	visit = func(typ reflect.Type, where string) {
		typ = derefType(typ)
		for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = derefType(typ.Elem())
		}
		if typ.Kind() != reflect.Struct || seen[typ] || mapCustomType(typ) != nil {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, ok := f.Tag.Lookup("yaml")
			switch {
			case !ok:
				t.Errorf("%s.%s has no yaml tag", where, f.Name)
			case tag != "-":
				visit(f.Type, where+"."+f.Name)
			}
		}
	}
	visit(reflect.TypeFor[flows.Flow](), "Flow")
	for _, k := range flows.Kinds() {
		visit(reflect.TypeOf(k.New()), k.Name)
	}
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	return root
}

// schemaErrors validates every YAML document of a file.
func schemaErrors(t *testing.T, v *validator, data []byte) []string {
	t.Helper()
	var errs []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if doc == nil {
			continue
		}
		errs = append(errs, v.validate(v.root, asJSON(t, doc), "$")...)
	}
	return errs
}

// asJSON turns a YAML value into what encoding/json yields.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func walkJSON(v any, visit func(map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		visit(t)
		for _, x := range t {
			walkJSON(x, visit)
		}
	case []any:
		for _, x := range t {
			walkJSON(x, visit)
		}
	}
}

// TestExamplesModeline: each example names the schema by its published URL
// (the $id): before, a relative path (../docs/flow.schema.json) pointed
// nowhere once the file was copied to /etc/authwatch/flows.d.
func TestExamplesModeline(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s (%v)", examples, err)
	}
	want := "# yaml-language-server: $schema=" + ID + "\n"
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), want) {
			first, _, _ := strings.Cut(string(data), "\n")
			t.Errorf("%s starts with %q, want %q", filepath.Base(file), first, strings.TrimSpace(want))
		}
	}
}
