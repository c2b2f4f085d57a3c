// Package routing decides which notifiers receive an incident event.
//
// Every route whose matchers match the event delivers it (several routes
// may match; nothing stops at the first). Routes flagged Default deliver
// only events that no other route matched. Matchers see the event's labels
// plus the pseudo-labels flow, step, reason, layer, severity and event (the
// event type: opened, updated, reminder, resolved, test), so warning
// incidents route on severity: warning, and a route may take only
// event: "~opened|resolved".
package routing

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/notify"
)

// Route sends the events it matches to its notifiers.
type Route struct {
	Name string `yaml:"name" json:"name"`
	// Match selects events; empty matches every event.
	Match incident.Matchers `yaml:"match,omitempty" json:"match,omitempty"`
	// Notifiers are the names of configured notifiers.
	Notifiers []string `yaml:"notifiers" json:"notifiers"`
	// Default routes deliver only events no other route matched (and that
	// their own Match, if any, matches).
	Default bool `yaml:"default,omitempty" json:"default,omitempty"`
}

// Resolve returns the names of the notifiers that receive ev: those of
// every matching non-default route or, when none matched, of every matching
// default route; each name once, in the order of routes and then of their
// notifiers.
func Resolve(routes []Route, ev notify.Event) []string {
	labels := incident.MatchLabels(ev)
	out := collect(routes, labels, false)
	if len(out) == 0 {
		out = collect(routes, labels, true)
	}
	return out
}

func collect(routes []Route, labels map[string]string, defaults bool) []string {
	var out []string
	for _, r := range routes {
		if r.Default != defaults || !r.Match.Matches(labels) {
			continue
		}
		for _, n := range r.Notifiers {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// Matched returns the names of the routes that deliver ev, for logs and
// `authwatch notify` dry runs.
func Matched(routes []Route, ev notify.Event) []string {
	labels := incident.MatchLabels(ev)
	var out []string
	for _, defaults := range []bool{false, true} {
		for _, r := range routes {
			if r.Default == defaults && r.Match.Matches(labels) {
				out = append(out, r.Name)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// Validate reports every problem of routes, with paths like
// routes[1].notifiers[0]. known says whether a notifier name is configured
// (nil: names are not checked).
func Validate(routes []Route, known func(name string) bool) error {
	var errs []error
	seen := map[string]int{}
	for i, r := range routes {
		errs = append(errs, conf.PrefixErrors(fmt.Sprintf("routes[%d]", i), r.validate(known)))
		if j, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, conf.FieldErrorf(fmt.Sprintf("routes[%d].name", i), "%q is already the name of routes[%d]", r.Name, j))
		}
		seen[r.Name] = i
	}
	return errors.Join(errs...)
}

func (r Route) validate(known func(string) bool) error {
	var errs []error
	if strings.TrimSpace(r.Name) == "" {
		errs = append(errs, conf.FieldErrorf("name", "must be set (`authwatch notify test NAME` and logs use it)"))
	}
	errs = append(errs, conf.PrefixErrors("match", r.Match.Validate()))
	if len(r.Notifiers) == 0 {
		errs = append(errs, conf.FieldErrorf("notifiers", "must name at least one notifier"))
	}
	for i, n := range r.Notifiers {
		if known != nil && !known(n) {
			errs = append(errs, conf.FieldErrorf(fmt.Sprintf("notifiers[%d]", i), "unknown notifier %q", n))
		}
	}
	return errors.Join(errs...)
}
