package conf

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// UnknownKeys walks a mapping alongside the Go type it decodes into and
// reports every key the type does not have, each at its own key node with
// the closest valid name, so that all typos show at once (the decoder's
// strict mode stops at the first). Keys in skip are neither checked nor
// reported, but suggested (a flow step's id and kind, decoded apart).
func UnknownKeys(n ast.Node, t reflect.Type, path string, skip ...string) []UnknownKey {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []UnknownKey
	switch node := n.(type) {
	case *ast.MappingNode:
		switch t.Kind() {
		case reflect.Struct:
			if decodesItself(t) {
				return nil // a scalar-like type (Template, Duration) or one with its own decoder
			}
			fields := yamlFields(t)
			for _, mv := range node.Values {
				key := mv.Key.String()
				if slices.Contains(skip, key) {
					continue
				}
				ft, ok := fields[key]
				if !ok {
					out = append(out, UnknownKey{Node: mv.Key, Path: JoinPath(path, key), Message: unknownFieldMessage(key, fields, skip...)})
					continue
				}
				out = append(out, UnknownKeys(mv.Value, ft, JoinPath(path, key))...)
			}
		case reflect.Map:
			for _, mv := range node.Values {
				out = append(out, UnknownKeys(mv.Value, t.Elem(), JoinPath(path, PathKey(mv.Key.String())))...)
			}
		}
	case *ast.SequenceNode:
		if t.Kind() == reflect.Slice {
			for i, v := range node.Values {
				out = append(out, UnknownKeys(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return out
}

// UnknownKey is one key a type does not have: the key's node, its path
// relative to the mapping checked, and a message with a suggestion.
type UnknownKey struct {
	Node    ast.Node
	Path    string
	Message string
}

// yamlFields maps YAML names to field types, inline structs flattened.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, inline := FieldName(sf)
		switch {
		case name == "-":
		case inline:
			for k, v := range yamlFields(sf.Type) {
				out[k] = v
			}
		default:
			out[name] = sf.Type
		}
	}
	return out
}

func unknownFieldMessage(key string, fields map[string]reflect.Type, also ...string) string {
	names := append([]string(nil), also...)
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	if best := closest(key, names); best != "" {
		return fmt.Sprintf("unknown field %q; did you mean %q?", key, best)
	}
	return fmt.Sprintf("unknown field %q; valid fields here: %s", key, strings.Join(names, ", "))
}

// closest returns the name within edit distance 2 of key (or sharing its
// case-folded form), or "".
func closest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return n
		}
		if d := editDistance(key, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// PathKey quotes a map key that would otherwise make a path ambiguous or
// span lines (a header name with a dot, a key with a newline).
func PathKey(k string) string {
	for _, r := range k {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Sprintf("%q", k)
		}
	}
	return k
}

var customDecoders = []reflect.Type{
	loadErrerType,
	reflect.TypeFor[yaml.NodeUnmarshaler](),
	reflect.TypeFor[yaml.BytesUnmarshaler](),
	reflect.TypeFor[yaml.InterfaceUnmarshaler](),
}

// decodesItself reports whether t checks its own keys.
func decodesItself(t reflect.Type) bool {
	for _, iface := range customDecoders {
		if t.Implements(iface) || reflect.PointerTo(t).Implements(iface) {
			return true
		}
	}
	return false
}
