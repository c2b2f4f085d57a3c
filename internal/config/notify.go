package config

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/goccy/go-yaml/ast"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/routing"
	"github.com/authwatch/authwatch/notify"
)

// NotifierSpec is one configured receiver: a kind and its settings, decoded
// strictly into the kind's own configuration during validation.
type NotifierSpec struct {
	Kind   string
	Config notify.Config

	node ast.Node
	err  error
}

// UnmarshalYAML implements yaml.NodeUnmarshaler: the settings are kept as
// a node so that the kind's decoder reports positions in this file.
func (n *NotifierSpec) UnmarshalYAML(node ast.Node) error {
	*n = NotifierSpec{node: node}
	m, ok := node.(*ast.MappingNode)
	if !ok {
		n.err = errors.New("a notifier is a mapping with a kind and its settings")
		return nil
	}
	for _, mv := range m.Values {
		if mv.Key.String() == "kind" {
			n.Kind = mv.Value.String()
		}
	}
	return nil
}

var notifierName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// validateNotifiers decodes each notifier's settings into its kind's config.
func (c *Config) validateNotifiers() error {
	var errs []error
	for name, spec := range c.Notifiers {
		path := "notifiers." + name
		if !notifierName.MatchString(name) {
			errs = append(errs, conf.FieldErrorf(path, "notifier names are lower-case letters, digits, - and _"))
		}
		if spec == nil || spec.err != nil {
			errs = append(errs, conf.FieldErrorf(path, "a notifier is a mapping with a kind and its settings"))
			continue
		}
		kind, ok := notify.Lookup(spec.Kind)
		if !ok {
			errs = append(errs, conf.FieldErrorf(path+".kind", "unknown notifier kind %q; valid kinds: %s", spec.Kind, notify.KindNames()))
			continue
		}
		cfg := kind.NewConfig()
		settings := withoutKind(spec.node.(*ast.MappingNode))
		if err := conf.DecodeNode(settings, cfg); err != nil {
			errs = append(errs, conf.PrefixErrors(path, err))
			continue
		}
		if err := cfg.Validate(); err != nil {
			errs = append(errs, conf.PrefixErrors(path, err))
			continue
		}
		spec.Config = cfg
	}
	return errors.Join(errs...)
}

func withoutKind(m *ast.MappingNode) *ast.MappingNode {
	out := *m
	out.Values = nil
	for _, mv := range m.Values {
		if mv.Key.String() != "kind" {
			out.Values = append(out.Values, mv)
		}
	}
	return &out
}

// validateAlerting checks routes, the policy and the mutes.
func (c *Config) validateAlerting() error {
	var errs []error
	known := func(name string) bool { _, ok := c.Notifiers[name]; return ok }
	errs = append(errs, routing.Validate(c.Routes, known)) // its paths start with routes[i]
	if err := c.AlertPolicy().Validate(); err != nil {
		errs = append(errs, conf.PrefixErrors("policy", err))
	}
	errs = append(errs, c.Mutes().Validate())
	if len(c.Notifiers) > 0 && len(c.Routes) == 0 {
		errs = append(errs, conf.FieldErrorf("routes", "notifiers are configured but no route uses them; add e.g. - {name: all, default: true, notifiers: [%s]}", firstKey(c.Notifiers)))
	}
	return errors.Join(errs...)
}

func firstKey(m map[string]*NotifierSpec) string {
	for k := range m {
		return k
	}
	return ""
}

// AlertPolicy is the global alert policy.
func (c *Config) AlertPolicy() incident.Policy { return incident.DefaultPolicy().Merge(c.Policy) }

// Mutes are the configured silences and maintenance windows.
func (c *Config) Mutes() incident.Mutes {
	return incident.Mutes{Silences: c.Silences, Windows: c.MaintenanceWindows}
}

// NewNotifiers builds every configured notifier.
func (c *Config) NewNotifiers(d notify.Deps) (map[string]notify.Notifier, error) {
	out := make(map[string]notify.Notifier, len(c.Notifiers))
	for name, spec := range c.Notifiers {
		n, err := spec.Config.New(d)
		if err != nil {
			return nil, fmt.Errorf("notifier %s: %w", name, err)
		}
		out[name] = n
	}
	return out, nil
}
