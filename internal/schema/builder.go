package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/invopop/jsonschema"
)

// builder reflects the flows types into one set of $defs.
type builder struct {
	r       *jsonschema.Reflector
	defs    jsonschema.Definitions
	types   map[string]reflect.Type // $defs name → the struct type it came from
	qualify bool                    // name $defs by package and type (see qualifiedName)
	err     error
}

func newBuilder() *builder {
	b := &builder{defs: jsonschema.Definitions{}, types: map[string]reflect.Type{}}
	b.r = &jsonschema.Reflector{
		FieldNameTag:               "yaml", // the names the loader decodes
		RequiredFromJSONSchemaTags: true,   // required only where a jsonschema tag says so
		Anonymous:                  true,   // the root gets ID; parts need none
		ExpandedStruct:             true,   // the reflected struct itself, not a $ref to it
		Mapper:                     mapCustomType,
		Namer:                      b.name,
	}
	return b
}

// reflect returns the schema of a struct type and merges its nested types
// into b.defs.
func (b *builder) reflect(t reflect.Type) (*jsonschema.Schema, error) {
	s := b.r.ReflectFromType(t)
	if b.err != nil {
		return nil, b.err
	}
	for name, def := range s.Definitions {
		if err := b.merge(name, def); err != nil {
			return nil, err
		}
	}
	s.Version, s.Definitions = "", nil
	fixDescriptions(s, t)
	return s, nil
}

// merge adds a definition; reflecting two kinds yields the same shared types
// twice, which must be identical.
func (b *builder) merge(name string, def *jsonschema.Schema) error {
	prev, ok := b.defs[name]
	if !ok {
		b.defs[name] = def
		return nil
	}
	x, err1 := json.Marshal(prev)
	y, err2 := json.Marshal(def)
	if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
		return fmt.Errorf("two different schemas for $defs/%s", name)
	}
	return nil
}

// define adds one of this package's own definitions.
func (b *builder) define(name string, s *jsonschema.Schema) {
	if _, taken := b.defs[name]; taken && b.err == nil {
		b.err = fmt.Errorf("$defs/%s is defined twice", name)
	}
	b.defs[name] = s
}

// finish adds the custom types' definitions and restores descriptions.
func (b *builder) finish() error {
	for _, c := range customTypes {
		b.define(c.name, c.schema())
	}
	for name, t := range b.types {
		if def, ok := b.defs[name]; ok {
			fixDescriptions(def, t)
		}
	}
	return b.err
}

// name records which struct type each $defs name stands for, so that two
// types of the same name cannot silently share one definition.
func (b *builder) name(t reflect.Type) string {
	if t.Kind() != reflect.Struct || t.Name() == "" {
		return ""
	}
	name, given := t.Name(), ""
	if b.qualify {
		name = qualifiedName(t)
		given = name
	}
	if prev, ok := b.types[name]; ok && prev != t && b.err == nil {
		b.err = fmt.Errorf("types %s and %s would share $defs/%s", prev, t, name)
	}
	b.types[name] = t
	return given
}

// fixDescriptions sets each property's description from its field's
// jsonschema tag. The reflector splits tags at every comma that is not
// escaped as `\,`, which cuts a description such as "(e.g. a, b)" short.
func fixDescriptions(s *jsonschema.Schema, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || s.Properties == nil {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline := yamlName(f)
		if inline {
			fixDescriptions(s, f.Type)
			continue
		}
		p, ok := s.Properties.Get(name)
		if !ok {
			continue
		}
		if d, ok := tagDescription(f.Tag.Get("jsonschema")); ok {
			p.Description = d
		}
		if ft := derefType(f.Type); ft.Kind() == reflect.Struct && ft.Name() == "" {
			fixDescriptions(p, ft) // an anonymous struct is reflected in place
		}
	}
}

// tagOption is a piece of a jsonschema tag that starts a new option.
var tagOption = regexp.MustCompile(`^(-|required|nullable|[A-Za-z_]+=.*)$`)

// tagDescription reads description=... up to the next option.
func tagDescription(tag string) (string, bool) {
	parts := strings.Split(tag, ",")
	for i, p := range parts {
		d, ok := strings.CutPrefix(p, "description=")
		if !ok {
			continue
		}
		for _, next := range parts[i+1:] {
			if tagOption.MatchString(next) {
				break
			}
			d += "," + next
		}
		return strings.ReplaceAll(d, `\,`, ","), true
	}
	return "", false
}

// yamlName is the key goccy/go-yaml decodes a field from.
func yamlName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("yaml")
	if tag == "" {
		tag = f.Tag.Get("json")
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, strings.Contains(","+opts+",", ",inline,")
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
