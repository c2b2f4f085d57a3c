// Package schema generates the JSON Schema of flow files from the flows
// package's Go types and its table of step kinds (flows.Kinds), so that a
// new kind or field shows in editors without anyone writing schema by hand.
//
// The schema checks the shape of a file: keys, types, required fields,
// enums, step ids, durations and ${...} references. Rules that span fields
// (issuer or token_url, bearer or basic, a reference to an earlier step)
// are the loader's: flows.Load remains the authority.
package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/authwatch/authwatch/flows"
)

// ID is the schema's $id: where the committed copy, docs/flow.schema.json,
// is published.
const ID = "https://raw.githubusercontent.com/authwatch/authwatch/main/docs/flow.schema.json"

// Patterns the loader enforces (flows/load_flow.go); TestSchemaAgreesWithLoader
// keeps them in step.
const (
	flowNamePattern  = `^[A-Za-z0-9][A-Za-z0-9 _.:/@-]{0,99}$`
	stepIDPattern    = `^[a-z][a-z0-9_]{0,62}$`
	labelNamePattern = `^[a-zA-Z_][a-zA-Z0-9_]*$`
)

// Generate returns the JSON Schema (draft 2020-12) of a flow file: either
// {flows: [flow, ...]} or a single flow. The output is indented and ends in
// a newline; it is the content of docs/flow.schema.json.
func Generate() ([]byte, error) {
	s, err := build()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func build() (*jsonschema.Schema, error) {
	b := newBuilder()
	flow, err := b.flow()
	if err != nil {
		return nil, err
	}
	b.define("Flow", flow)
	b.define("FlowList", flowList())
	if err := b.steps(); err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return &jsonschema.Schema{
		Version:     jsonschema.Version,
		ID:          ID,
		Title:       "authwatch flow file",
		Description: "A file of authwatch flows: a mapping with a flows list, or a single flow. Several YAML documents (---) may share a file.",
		If:          &jsonschema.Schema{Type: "object", Required: []string{"flows"}},
		Then:        ref("FlowList"),
		Else:        ref("Flow"),
		Definitions: b.defs,
	}, nil
}

func flowList() *jsonschema.Schema {
	return withProps(&jsonschema.Schema{Type: "object", Required: []string{"flows"}, AdditionalProperties: jsonschema.FalseSchema},
		prop{"flows", &jsonschema.Schema{Type: "array", Items: ref("Flow"), Description: "The flows of this file; names are unique across all files."}})
}

// flow is the Flow struct's fields plus its steps, which the loader decodes
// on its own (yaml:"-").
func (b *builder) flow() (*jsonschema.Schema, error) {
	s, err := b.reflect(reflect.TypeFor[flows.Flow]())
	if err != nil {
		return nil, err
	}
	if err := setOn(s, "name", func(p *jsonschema.Schema) { p.Pattern = flowNamePattern }); err != nil {
		return nil, err
	}
	if err := setOn(s, "labels", func(p *jsonschema.Schema) { p.PropertyNames = &jsonschema.Schema{Pattern: labelNamePattern} }); err != nil {
		return nil, err
	}
	s.Properties.Set("steps", &jsonschema.Schema{Type: "array", MinItems: new(uint64(1)), Items: ref("Step"),
		Description: "The steps, run in order; a failed step skips the rest."})
	for _, name := range []string{"name", "steps"} {
		if !slices.Contains(s.Required, name) {
			s.Required = append(s.Required, name)
		}
	}
	// At most one schedule: a flow with neither is run only by authwatch check.
	s.Not = &jsonschema.Schema{Title: "every and cron", Required: []string{"every", "cron"}}
	s.Description = "One monitored scenario: steps run in order on a schedule (every or cron, at most one; without one only authwatch check runs it)."
	return s, nil
}

// steps defines Step, which dispatches on kind, and one closed schema per
// kind: the common keys plus the kind struct's fields.
func (b *builder) steps() error {
	var names []any
	var branches []*jsonschema.Schema
	var docs []string
	for _, k := range flows.Kinds() {
		s, err := b.kind(k)
		if err != nil {
			return fmt.Errorf("kind %s: %w", k.Name, err)
		}
		def := "Step." + k.Name
		b.define(def, s)
		names = append(names, k.Name)
		docs = append(docs, k.Name+": "+k.Doc)
		branches = append(branches, &jsonschema.Schema{
			If:   withProps(&jsonschema.Schema{Required: []string{"kind"}}, prop{"kind", &jsonschema.Schema{Const: k.Name}}),
			Then: ref(def),
		})
	}
	kind := &jsonschema.Schema{Type: "string", Enum: names, Description: "The step kind. " + strings.Join(docs, " ")}
	b.define("Step", withProps(&jsonschema.Schema{
		Type:        "object",
		Description: "One step: an id, a kind, an optional timeout, user_agent and tls_expiry_warning, and the kind's own fields.",
		Required:    []string{"id", "kind"},
		AllOf:       branches,
	}, prop{"id", idSchema()}, prop{"kind", kind}, prop{"timeout", timeoutSchema()}, prop{"user_agent", userAgentSchema()},
		prop{"tls_expiry_warning", tlsExpirySchema()}))
	return nil
}

// kind is the closed schema of one step kind.
func (b *builder) kind(k flows.Kind) (*jsonschema.Schema, error) {
	step := k.New()
	s, err := b.reflect(reflect.TypeOf(step))
	if err != nil {
		return nil, err
	}
	all := withProps(&jsonschema.Schema{}, prop{"id", idSchema()},
		prop{"kind", &jsonschema.Schema{Const: k.Name, Description: k.Doc}}, prop{"timeout", timeoutSchema()}, prop{"user_agent", userAgentSchema()},
		prop{"tls_expiry_warning", tlsExpirySchema()}).Properties
	for name, p := range s.Properties.FromOldest() {
		if _, dup := all.Get(name); dup {
			return nil, fmt.Errorf("field %q collides with a key every step has", name)
		}
		all.Set(name, p)
	}
	s.Properties = all
	s.Required = append([]string{"id", "kind"}, s.Required...)
	s.Title = k.Name
	s.Description = k.Doc + outputsText(step)
	return s, nil
}

func outputsText(step flows.Step) string {
	ol, ok := step.(flows.OutputLister)
	if !ok || len(ol.Outputs()) == 0 {
		return ""
	}
	return " Outputs for later steps, as ${steps.ID.NAME}: " + strings.Join(ol.Outputs(), ", ") + "."
}

func idSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: stepIDPattern,
		Description: "The step's id, unique in its flow: lower-case letters, digits and _, starting with a letter. Later steps use its outputs as ${steps.ID.NAME}."}
}

func timeoutSchema() *jsonschema.Schema {
	s := ref("Duration")
	s.Description = "Deadline for this step (default: bounded by the flow's timeout only)."
	return s
}

func tlsExpirySchema() *jsonschema.Schema {
	s := ref("Duration")
	s.Description = "How far ahead an expiring server certificate of this step's requests is warned about (tls_certificate_expiring), e.g. 30d; instead of the flow's tls_expiry_warning."
	return s
}

func userAgentSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", MaxLength: new(uint64(flows.MaxUserAgentLength)),
		Description: "User-Agent of this step's requests instead of the flow's user_agent or authwatch/VERSION (+URL). An http step's User-Agent header wins. Browser steps send Chromium's own unless this or the flow's is set."}
}

func ref(def string) *jsonschema.Schema { return &jsonschema.Schema{Ref: "#/$defs/" + def} }

// prop is one named property, for withProps.
type prop struct {
	name   string
	schema *jsonschema.Schema
}

// withProps gives s the properties, in order.
func withProps(s *jsonschema.Schema, ps ...prop) *jsonschema.Schema {
	s.Properties = jsonschema.NewProperties()
	for _, p := range ps {
		s.Properties.Set(p.name, p.schema)
	}
	return s
}

// setOn changes a property that must exist.
func setOn(s *jsonschema.Schema, name string, change func(*jsonschema.Schema)) error {
	p, ok := s.Properties.Get(name)
	if !ok {
		return fmt.Errorf("no property %q", name)
	}
	change(p)
	return nil
}
