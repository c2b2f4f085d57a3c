package schema

import (
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/notify"
	_ "github.com/authwatch/authwatch/notify/all" // every notifier kind, as the daemon has them
)

// ConfigID is the $id of the schema of authwatch.yaml: where the committed
// copy, docs/authwatch.schema.json, is published.
const ConfigID = "https://raw.githubusercontent.com/authwatch/authwatch/main/docs/authwatch.schema.json"

// GenerateConfig returns the JSON Schema (draft 2020-12) of the daemon's
// configuration file, authwatch.yaml, from config.Config and the table of
// notifier kinds; it is the content of docs/authwatch.schema.json. Every key
// is optional; config.Load remains the authority on rules across keys
// (a route naming a notifier that exists, listen beyond loopback needing
// status_page.auth).
func GenerateConfig() ([]byte, error) {
	s, err := buildConfig()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func buildConfig() (*jsonschema.Schema, error) {
	b := newBuilder()
	b.qualify = true
	b.r.Mapper = func(t reflect.Type) *jsonschema.Schema {
		if t == reflect.TypeFor[config.NotifierSpec]() {
			return ref("Notifier")
		}
		return mapCustomType(t)
	}
	root, err := b.reflect(reflect.TypeFor[config.Config]())
	if err != nil {
		return nil, err
	}
	if err := b.notifiers(); err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	root.Version, root.ID, root.Definitions = jsonschema.Version, ConfigID, b.defs
	root.Title = "authwatch configuration (authwatch.yaml)"
	root.Description = "The daemon's configuration, /etc/authwatch/authwatch.yaml. Every key is optional; an empty file is the defaults. Check a file with: authwatch validate --config FILE."
	return root, nil
}

// notifiers defines Notifier, which dispatches on kind, and one closed
// schema per notifier kind: kind plus the kind's own settings.
func (b *builder) notifiers() error {
	var names []any
	var branches []*jsonschema.Schema
	var docs []string
	for _, name := range strings.Split(notify.KindNames(), ", ") {
		k, _ := notify.Lookup(name)
		s, err := b.reflect(reflect.TypeOf(k.NewConfig()))
		if err != nil {
			return fmt.Errorf("notifier kind %s: %w", name, err)
		}
		all := withProps(&jsonschema.Schema{}, prop{"kind", &jsonschema.Schema{Const: name, Description: k.Doc}}).Properties
		for key, p := range s.Properties.FromOldest() {
			all.Set(key, p)
		}
		s.Properties, s.Title, s.Description = all, name, k.Doc
		s.Required = append([]string{"kind"}, s.Required...)
		def := "Notifier." + name
		b.define(def, s)
		names = append(names, name)
		docs = append(docs, name+": "+k.Doc)
		branches = append(branches, &jsonschema.Schema{
			If:   withProps(&jsonschema.Schema{Required: []string{"kind"}}, prop{"kind", &jsonschema.Schema{Const: name}}),
			Then: ref(def),
		})
	}
	kind := &jsonschema.Schema{Type: "string", Enum: names, Description: "The notifier kind. " + strings.Join(docs, " ")}
	b.define("Notifier", withProps(&jsonschema.Schema{
		Type:        "object",
		Description: "One receiver of pages: a kind and the kind's settings.",
		Required:    []string{"kind"},
		AllOf:       branches,
	}, prop{"kind", kind}))
	return nil
}

// qualifiedName names a $defs entry by package and type (heartbeat.Config,
// statuspage.Config): the configuration gathers types of several packages,
// some of the same name.
func qualifiedName(t reflect.Type) string {
	return path.Base(t.PkgPath()) + "." + t.Name()
}
