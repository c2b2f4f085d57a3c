package schema

import (
	"reflect"

	"github.com/invopop/jsonschema"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
)

// customType is a conf or flows type that decodes from text of its own syntax.
type customType struct {
	goType reflect.Type
	name   string // its $defs name
	schema func() *jsonschema.Schema
}

var customTypes = []customType{
	{reflect.TypeFor[conf.Template](), "Template", templateSchema},
	{reflect.TypeFor[conf.Duration](), "Duration", durationSchema},
	{reflect.TypeFor[flows.StatusList](), "StatusList", statusListSchema},
	{reflect.TypeFor[config.ByteSize](), "ByteSize", byteSizeSchema},
}

// mapCustomType is the reflector's Mapper: a custom type is a $ref to its
// definition, which finish adds.
func mapCustomType(t reflect.Type) *jsonschema.Schema {
	for _, c := range customTypes {
		if t == c.goType {
			return ref(c.name)
		}
	}
	return nil
}

// templatePattern accepts what conf's template parser accepts: text in which
// every ${ opens a valid reference, and $${ writes a literal ${.
const templatePattern = `^(?:[^$]|\$+$|\$+[^${]|\$\$+\{|\$\{(?:` +
	`env:[A-Za-z_][A-Za-z0-9_]*` +
	`|file:/[^}]*` +
	`|credential:[A-Za-z0-9_.@-]+` +
	`|steps\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*` +
	`)\})*$`

func templateSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:    "string",
		Pattern: templatePattern,
		Description: "Text with references, resolved on every run: ${env:NAME} (environment variable), " +
			"${file:/absolute/path} (file content), ${credential:NAME} (systemd credential), " +
			"${steps.ID.OUTPUT} (an earlier step's output). Write $${ for a literal ${. " +
			"Secrets belong in references, never in the file.",
	}
}

// durationPattern is a non-negative duration (conf.ParseDuration: Go's
// units plus d and w).
const durationPattern = `^\+?(?:0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h|d|w))+)$`

func durationSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     durationPattern,
		Description: "A duration: numbers each with a unit (ns, us, ms, s, m, h, d = 24h, w = 7d), e.g. 500ms, 30s, 5m, 1h30m, 1d, 1w2d3h.",
		Examples:    []any{"500ms", "30s", "5m", "1h30m", "1d", "1w2d3h"},
	}
}

// byteSizePattern is what config.ParseByteSize accepts: 0, or a number
// with a unit (case-insensitive).
const byteSizePattern = `^(?:0|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+) *(?:[bB]|[kKmMgGtT][iI]?[bB]))$`

func byteSizeSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     byteSizePattern,
		Description: "A size: a number and a unit, B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 512MiB, 2GiB, 1GB; 0 for none.",
		Examples:    []any{"512MiB", "2GiB", "1GB", "0"},
	}
}

func statusListSchema() *jsonschema.Schema {
	code := func() *jsonschema.Schema {
		return &jsonschema.Schema{Type: "integer", Minimum: "100", Maximum: "599"}
	}
	return &jsonschema.Schema{
		Description: "An HTTP status code (100..599) or a list of them.",
		OneOf:       []*jsonschema.Schema{code(), {Type: "array", Items: code()}},
	}
}
