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
	{reflect.TypeFor[flows.BaselineOptions](), "Baseline", baselineSchema},
	{reflect.TypeFor[flows.LatencyDrift](), "BaselineLatency", baselineLatencySchema},
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

// baselineSchema is a flow's `baseline:`: true or false, or its options.
func baselineSchema() *jsonschema.Schema {
	props := jsonschema.NewProperties()
	props.Set("learn", &jsonschema.Schema{Type: "integer", Minimum: "2", Maximum: "10000",
		Description: "Passing runs the baseline learns from before it compares (default 20)."})
	patterns := func(what string) *jsonschema.Schema {
		return &jsonschema.Schema{Type: "array", Items: &jsonschema.Schema{Type: "string"},
			Description: what + " Patterns match feature keys such as token.access_token.lifetime, login.cookie.sid or api.latency (* for any text)."}
	}
	props.Set("watch", patterns("Compare only the features matching one of these (default: all)."))
	props.Set("ignore", patterns("Never compare the features matching one of these."))
	props.Set("latency", ref("BaselineLatency"))
	return &jsonschema.Schema{
		Description: "The flow's learned normal behaviour and drift warnings (baseline_changed): false turns it off; default on, learning from 20 passing runs.",
		OneOf: []*jsonschema.Schema{{Type: "boolean"},
			{Type: "object", Properties: props, AdditionalProperties: jsonschema.FalseSchema}},
	}
}

func baselineLatencySchema() *jsonschema.Schema {
	props := jsonschema.NewProperties()
	props.Set("factor", &jsonschema.Schema{Type: "number", Minimum: "1", Maximum: "100",
		Description: "How many times the learned p95 the recent p95 must be, more than 1 (default 2)."})
	props.Set("window", &jsonschema.Schema{Type: "integer", Minimum: "5", Maximum: "1000",
		Description: "Recent passing runs whose p95 is compared (default 20)."})
	props.Set("min_increase", ref("Duration"))
	return &jsonschema.Schema{
		Description: "When a step's latency drifted: false leaves latency out.",
		OneOf: []*jsonschema.Schema{{Type: "boolean"},
			{Type: "object", Properties: props, AdditionalProperties: jsonschema.FalseSchema}},
	}
}
