package conf

import (
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// FieldRef is a template reference and the path of the field that holds it.
type FieldRef struct {
	Path string
	Ref  Ref
}

// LoadErrors visits every field of v (by YAML name) and returns the load
// errors of its LoadErrer fields (Templates, Durations...) as FieldErrors.
func LoadErrors(v any) error {
	var errs []error
	walkFields(reflect.ValueOf(v), "", func(path string, fv reflect.Value) {
		if le, ok := fv.Interface().(LoadErrer); ok {
			if err := le.LoadErr(); err != nil {
				errs = append(errs, FieldError{Path: path, Err: err})
			}
		}
	})
	return joinErrs(errs)
}

// TemplateRefs lists every template reference in v with its field path.
func TemplateRefs(v any) []FieldRef {
	var out []FieldRef
	walkFields(reflect.ValueOf(v), "", func(path string, fv reflect.Value) {
		if t, ok := fv.Interface().(Template); ok {
			for _, r := range t.Refs() {
				out = append(out, FieldRef{Path: path, Ref: r})
			}
		}
	})
	return out
}

var loadErrerType = reflect.TypeFor[LoadErrer]()

func walkFields(v reflect.Value, path string, visit func(string, reflect.Value)) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Type().Implements(loadErrerType) {
		visit(path, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			name, inline := FieldName(sf)
			if name == "-" {
				continue
			}
			if inline {
				walkFields(v.Field(i), path, visit)
			} else {
				walkFields(v.Field(i), JoinPath(path, name), visit)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkFields(v.Index(i), path+"["+strconv.Itoa(i)+"]", visit)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			walkFields(iter.Value(), JoinPath(path, PathKey(iter.Key().String())), visit)
		}
	}
}

// FieldName is a struct field's YAML key (its yaml tag's name, else its
// name in lower case) and whether the tag inlines it.
func FieldName(sf reflect.StructField) (name string, inline bool) {
	tag := sf.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	inline = strings.Contains(opts, "inline")
	if name == "" {
		name = strings.ToLower(sf.Name)
	}
	return name, inline
}

// Locate finds the node a field path ("expect.status[1]") points at in a
// mapping, or the deepest node on the way if the field is absent.
func Locate(n ast.Node, path string) ast.Node {
	for _, seg := range splitPath(path) {
		var next ast.Node
		switch t := n.(type) {
		case *ast.MappingNode:
			for _, mv := range t.Values {
				if mv.Key.String() == seg {
					next = mv.Value
				}
			}
		case *ast.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(t.Values) {
				next = t.Values[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// splitPath splits "a.b[2].\"X.Y\"" into segments; quoted segments (map
// keys made by PathKey) may hold dots and brackets.
func splitPath(path string) []string {
	var segs []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			segs = append(segs, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '"':
			if q, err := strconv.QuotedPrefix(path[i:]); err == nil {
				unq, _ := strconv.Unquote(q)
				cur.WriteString(unq)
				i += len(q) - 1
				continue
			}
			cur.WriteByte(c)
		case c == '.' || c == '[' || c == ']':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return segs
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
