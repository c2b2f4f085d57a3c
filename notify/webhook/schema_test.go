package webhook

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// schemaValidator checks an instance against schema.json. It knows the
// keywords schema.json uses and fails on any other, so a new keyword cannot
// pass untested. (No JSON Schema validator is among the module's
// dependencies; this one is for tests only.)
type schemaValidator struct{ root map[string]any }

var schemaAnnotations = []string{"$schema", "$id", "title", "description", "$defs"}

func (v *schemaValidator) validate(s map[string]any, inst any, path string) []string {
	var errs []string
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		errs = append(errs, v.keyword(s, k, inst, path)...)
	}
	return errs
}

func (v *schemaValidator) keyword(s map[string]any, key string, inst any, path string) []string {
	arg := s[key]
	fail := func(format string, args ...any) []string { return []string{path + ": " + fmt.Sprintf(format, args...)} }
	switch {
	case slices.Contains(schemaAnnotations, key):
		return nil
	case key == "$ref":
		ref := strings.TrimPrefix(arg.(string), "#/$defs/")
		return v.validate(v.root["$defs"].(map[string]any)[ref].(map[string]any), inst, path)
	case key == "type":
		if !hasJSONType(inst, arg.(string)) {
			return fail("is %T, want %s", inst, arg)
		}
	case key == "const":
		if inst != arg {
			return fail("is %v, want %v", inst, arg)
		}
	case key == "enum":
		if !slices.Contains(arg.([]any), inst) {
			return fail("%v is not one of %v", inst, arg)
		}
	case key == "required":
		m, _ := inst.(map[string]any)
		var errs []string
		for _, r := range arg.([]any) {
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: %s is required", path, r))
			}
		}
		return errs
	case key == "properties":
		m, _ := inst.(map[string]any)
		var errs []string
		for name, sub := range arg.(map[string]any) {
			if val, ok := m[name]; ok {
				errs = append(errs, v.validate(sub.(map[string]any), val, path+"."+name)...)
			}
		}
		return errs
	case key == "additionalProperties":
		m, _ := inst.(map[string]any)
		props, _ := s["properties"].(map[string]any)
		var errs []string
		for name, val := range m {
			if _, ok := props[name]; !ok {
				errs = append(errs, v.validate(arg.(map[string]any), val, path+"."+name)...)
			}
		}
		return errs
	case key == "items":
		var errs []string
		for i, val := range inst.([]any) {
			errs = append(errs, v.validate(arg.(map[string]any), val, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case key == "minLength":
		if str, ok := inst.(string); ok && len([]rune(str)) < int(arg.(float64)) {
			return fail("shorter than %v", arg)
		}
	case key == "minimum":
		if n, ok := inst.(float64); ok && n < arg.(float64) {
			return fail("%v below %v", n, arg)
		}
	case key == "pattern":
		if str, ok := inst.(string); ok && !regexp.MustCompile(arg.(string)).MatchString(str) {
			return fail("%q does not match %s", str, arg)
		}
	case key == "format":
		return checkFormat(arg.(string), inst, path)
	default:
		return fail("schema keyword %q is unknown to this validator", key)
	}
	return nil
}

func checkFormat(format string, inst any, path string) []string {
	str, ok := inst.(string)
	if !ok {
		return nil
	}
	switch format {
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
			return []string{path + ": not a date-time: " + err.Error()}
		}
	case "uri":
		if u, err := url.Parse(str); err != nil || u.Scheme == "" {
			return []string{path + ": not an absolute URI"}
		}
	default:
		return []string{path + ": format " + format + " is unknown to this validator"}
	}
	return nil
}

func hasJSONType(inst any, typ string) bool {
	switch typ {
	case "object":
		_, ok := inst.(map[string]any)
		return ok
	case "array":
		_, ok := inst.([]any)
		return ok
	case "string":
		_, ok := inst.(string)
		return ok
	case "integer":
		n, ok := inst.(float64)
		return ok && n == float64(int64(n))
	}
	return false
}

func loadSchema(t *testing.T) *schemaValidator {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(Schema, &root); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	return &schemaValidator{root: root}
}

func validatePayload(t *testing.T, v *schemaValidator, p Payload) []string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var inst any
	if err := json.Unmarshal(b, &inst); err != nil {
		t.Fatal(err)
	}
	return v.validate(v.root, inst, "$")
}

func TestSchemaAcceptsPayloads(t *testing.T) {
	v := loadSchema(t)
	var events []notify.Event
	for _, typ := range notifytest.EventTypes {
		events = append(events, notifytest.Event(typ), notifytest.Hostile(typ))
	}
	bare := notify.Event{ID: "1", Type: notify.Test, Time: notifytest.Now, Flow: "f"} // zero first_failure, no severity
	events = append(events, bare)
	for _, ev := range events {
		if errs := validatePayload(t, v, NewPayload(ev)); len(errs) > 0 {
			t.Errorf("%s event: %s", ev.Type, strings.Join(errs, "\n"))
		}
	}
}

func TestSchemaRejects(t *testing.T) {
	v := loadSchema(t)
	good := NewPayload(notifytest.Event(notify.Opened))
	tests := map[string]func(p *Payload){
		"version":  func(p *Payload) { p.Version = "2" },
		"type":     func(p *Payload) { p.Event.Type = "acknowledged" },
		"reason":   func(p *Payload) { p.Event.Reason = "Audience Mismatch" },
		"no title": func(p *Payload) { p.Title = "" },
		"no id":    func(p *Payload) { p.Event.ID = "" },
		"url":      func(p *Payload) { p.Event.StatusURL = "/relative" },
	}
	for name, mutate := range tests {
		p := good
		mutate(&p)
		if errs := validatePayload(t, v, p); len(errs) == 0 {
			t.Errorf("%s: the schema accepted a bad payload", name)
		}
	}
}

// TestSchemaDescribesEveryField keeps schema.json and the Go types in
// step: every JSON field has a property, every property a field, and every
// required property a field that is never omitted.
func TestSchemaDescribesEveryField(t *testing.T) {
	v := loadSchema(t)
	event := v.root["$defs"].(map[string]any)["event"].(map[string]any)
	fact := event["properties"].(map[string]any)["evidence"].(map[string]any)["items"].(map[string]any)
	for _, c := range []struct {
		name   string
		typ    reflect.Type
		schema map[string]any
	}{
		{"payload", reflect.TypeFor[Payload](), v.root},
		{"event", reflect.TypeFor[notify.Event](), event},
		{"fact", reflect.TypeFor[notify.Fact](), fact},
	} {
		fields := jsonFields(c.typ)
		props := c.schema["properties"].(map[string]any)
		for name := range fields {
			if _, ok := props[name]; !ok {
				t.Errorf("%s: field %q is not in schema.json", c.name, name)
			}
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s: schema.json property %q is no field", c.name, name)
			}
		}
		req, _ := c.schema["required"].([]any)
		for _, r := range req {
			if fields[r.(string)] {
				t.Errorf("%s: required property %q is omitempty", c.name, r)
			}
		}
	}
}

// jsonFields maps each JSON field name of t to whether it is omitempty.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = strings.Contains(opts, "omitempty")
	}
	return out
}
