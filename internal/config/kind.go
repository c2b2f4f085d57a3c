package config

import (
	"reflect"
	"regexp"
	"strings"

	"github.com/authwatch/authwatch/flows"
)

// topLevelKey is a key at the start of a line: a key of the top-level
// block mapping.
var topLevelKey = regexp.MustCompile(`(?m)^([a-z_]+)[ \t]*:(?:[ \t]|$)`)

// IsConfigFile reports whether data is authwatch's own configuration rather
// than a flow file: a top-level key only the configuration has (state_dir,
// notifiers, routes, ...) and none a flow file has (name, steps, flows).
// `authwatch validate authwatch.yaml` uses it to say so instead of listing
// every key as a wrong flow field. It reads lines, not YAML: it runs on
// files the flow loader refused, hostile ones included.
func IsConfigFile(data []byte) bool {
	configKeys, flowKeys := yamlKeys(reflect.TypeFor[Config]()), yamlKeys(reflect.TypeFor[flows.Flow]())
	flowKeys["flows"], flowKeys["steps"] = true, true
	found := false
	for _, m := range topLevelKey.FindAllSubmatch(data, -1) {
		if flowKeys[string(m[1])] {
			return false
		}
		found = found || configKeys[string(m[1])]
	}
	return found
}

// yamlKeys are the keys a struct type decodes from.
func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}
