package schema

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// validator checks an instance against the schema Generate writes. It knows
// the keywords that schema uses, and fails on any other, so that a new
// keyword cannot pass untested. (No JSON Schema validator is among the
// module's dependencies; this one is for tests only.)
type validator struct {
	root map[string]any
}

// annotations do not constrain an instance.
var annotations = []string{"$schema", "$id", "$comment", "title", "description", "examples", "default"}

// validate returns the problems of inst at path, each "path: message".
func (v *validator) validate(schema any, inst any, path string) []string {
	switch s := schema.(type) {
	case bool:
		if !s {
			return []string{path + ": not allowed here"}
		}
		return nil
	case map[string]any:
		var errs []string
		for key, arg := range s {
			errs = append(errs, v.keyword(s, key, arg, inst, path)...)
		}
		slices.Sort(errs)
		return errs
	}
	return []string{fmt.Sprintf("%s: schema is a %T", path, schema)}
}

func (v *validator) keyword(s map[string]any, key string, arg, inst any, path string) []string {
	switch key {
	case "$ref":
		return v.validate(v.resolve(arg.(string)), inst, path)
	case "$defs", "then", "else":
		return nil // reached through $ref and if
	case "type":
		return check(hasType(inst, arg.(string)), path, "is %s, expected %s", jsonType(inst), arg)
	case "const":
		return check(reflect.DeepEqual(inst, arg), path, "is %v, expected %v", inst, arg)
	case "enum":
		return check(slices.ContainsFunc(arg.([]any), func(e any) bool { return reflect.DeepEqual(e, inst) }), path, "%v is not one of %v", inst, arg)
	case "pattern":
		str, ok := inst.(string)
		return check(!ok || regexp.MustCompile(arg.(string)).MatchString(str), path, "%q does not match %s", str, arg)
	case "maxLength":
		str, ok := inst.(string)
		return check(!ok || float64(utf8.RuneCountInString(str)) <= arg.(float64), path, "is %d characters long, expected at most %v", utf8.RuneCountInString(str), arg)
	case "minimum":
		n, ok := inst.(float64)
		return check(!ok || n >= arg.(float64), path, "%v is below %v", n, arg)
	case "maximum":
		n, ok := inst.(float64)
		return check(!ok || n <= arg.(float64), path, "%v is above %v", n, arg)
	case "format":
		str, ok := inst.(string)
		if arg != "date-time" {
			return []string{fmt.Sprintf("%s: the test validator does not know the format %q", path, arg)}
		}
		_, err := time.Parse(time.RFC3339, str)
		return check(!ok || err == nil, path, "%q is not an RFC 3339 date-time", str)
	case "minItems":
		a, ok := inst.([]any)
		return check(!ok || float64(len(a)) >= arg.(float64), path, "has %d items, expected at least %v", len(a), arg)
	case "required":
		return v.required(arg.([]any), inst, path)
	case "properties", "additionalProperties", "propertyNames":
		return v.object(s, key, inst, path)
	case "items":
		return v.items(arg, inst, path)
	case "allOf", "anyOf", "oneOf":
		return v.combine(key, arg.([]any), inst, path)
	case "not":
		return check(len(v.validate(arg, inst, path)) > 0, path, "matches the schema under not")
	case "if":
		branch := s["else"]
		if len(v.validate(arg, inst, path)) == 0 {
			branch = s["then"]
		}
		if branch == nil {
			return nil
		}
		return v.validate(branch, inst, path)
	}
	if slices.Contains(annotations, key) {
		return nil
	}
	return []string{fmt.Sprintf("%s: the test validator does not know the keyword %q", path, key)}
}

func check(ok bool, path, format string, args ...any) []string {
	if ok {
		return nil
	}
	return []string{path + ": " + fmt.Sprintf(format, args...)}
}

func (v *validator) resolve(ref string) any {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		panic("unsupported $ref " + ref)
	}
	def, ok := v.root["$defs"].(map[string]any)[name]
	if !ok {
		panic("dangling $ref " + ref)
	}
	return def
}

func (v *validator) required(names []any, inst any, path string) []string {
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil
	}
	var errs []string
	for _, n := range names {
		if _, ok := obj[n.(string)]; !ok {
			errs = append(errs, fmt.Sprintf("%s: %s is required", path, n))
		}
	}
	return errs
}

// object applies one of properties, additionalProperties, propertyNames.
func (v *validator) object(s map[string]any, key string, inst any, path string) []string {
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil
	}
	props, _ := s["properties"].(map[string]any)
	var errs []string
	for name, val := range obj {
		sub := path + "." + name
		switch _, known := props[name]; {
		case key == "properties" && known:
			errs = append(errs, v.validate(props[name], val, sub)...)
		case key == "additionalProperties" && !known:
			if s[key] == false {
				errs = append(errs, sub+": unknown key")
				continue
			}
			errs = append(errs, v.validate(s[key], val, sub)...)
		case key == "propertyNames":
			errs = append(errs, v.validate(s[key], name, sub)...)
		}
	}
	return errs
}

func (v *validator) items(schema, inst any, path string) []string {
	arr, ok := inst.([]any)
	if !ok {
		return nil
	}
	var errs []string
	for i, item := range arr {
		errs = append(errs, v.validate(schema, item, fmt.Sprintf("%s[%d]", path, i))...)
	}
	return errs
}

func (v *validator) combine(key string, subs []any, inst any, path string) []string {
	var errs []string
	matched := 0
	for _, sub := range subs {
		e := v.validate(sub, inst, path)
		if len(e) == 0 {
			matched++
		}
		errs = append(errs, e...)
	}
	switch {
	case key == "allOf":
		return errs
	case key == "anyOf" && matched == 0:
		return append([]string{path + ": matches none of anyOf"}, errs...)
	case key == "oneOf" && matched != 1:
		return append([]string{fmt.Sprintf("%s: matches %d of oneOf, expected exactly 1", path, matched)}, errs...)
	}
	return nil
}

func hasType(inst any, typ string) bool {
	if typ == "integer" {
		n, ok := inst.(float64)
		return ok && n == math.Trunc(n)
	}
	return jsonType(inst) == typ
}

func jsonType(inst any) string {
	switch inst.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", inst)
}
