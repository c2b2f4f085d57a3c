// Package incident turns a stream of flow observations into incident
// events: opened, updated, reminder, resolved.
//
// It is pure: Step and Tick take a State, an Observation (for Step) and the
// current time, and return the next State and the events to deliver. There
// is no clock, no goroutine and no I/O here, so every rule is tested without
// sleeping, and the daemon persists State (it is plain JSON) between runs
// and restarts.
//
// One State describes one flow. It holds at most one failure incident
// (severity from the flow's labels) and at most one warning incident (runs
// that pass with warning findings), each with its own IncidentKey.
package incident

import (
	"errors"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
)

// Policy says when a flow's runs open, update, remind about and resolve an
// incident. Start from DefaultPolicy and apply per-flow Overrides with Merge.
type Policy struct {
	// OpenAfter consecutive failures open an incident.
	OpenAfter int
	// OpenWindow opens an incident when Failures of the last Runs runs
	// failed, consecutive or not (zero: off). Either rule opens.
	OpenWindow Window
	// ResolveAfter consecutive passes resolve it.
	ResolveAfter int
	// RemindEvery re-notifies while the incident stays open (0: never).
	RemindEvery time.Duration
	// Flap detects a flow that keeps changing between pass and fail (zero:
	// off). While it flaps, the incident is held open: no resolve and
	// re-open pages, one Updated that says it flaps.
	Flap FlapPolicy
	// Warnings opens a separate incident (severity warning) while runs pass
	// with warning findings (token_lifetime_short, tls_certificate_expiring).
	Warnings bool
}

// Window is "Failures of the last Runs runs".
type Window struct {
	Failures int `yaml:"failures" json:"failures"`
	Runs     int `yaml:"runs" json:"runs"`
}

// FlapPolicy: Changes pass/fail changes within the last Runs runs mean the
// flow flaps; it stops flapping after Runs runs with the same outcome.
type FlapPolicy struct {
	Changes int `yaml:"changes" json:"changes"`
	Runs    int `yaml:"runs" json:"runs"`
}

func (w Window) enabled() bool     { return w.Failures > 0 && w.Runs > 0 }
func (f FlapPolicy) enabled() bool { return f.Changes > 0 && f.Runs > 0 }

// maxRuns bounds the outcome history a State keeps (Window.Runs, Flap.Runs).
const maxRuns = 1000

// DefaultPolicy is the policy of a flow that overrides nothing:
//   - OpenAfter 2: one failed run is often a blip (a slow IdP, a deploy);
//     two in a row rarely are, and at a 1-minute interval this pages within
//     about two minutes;
//   - ResolveAfter 1: a passing run proves the flow works again, and a quick
//     resolve is what on-call wants; Flap catches the flows for which one
//     pass proves nothing;
//   - RemindEvery 4h: about twice a working day, so an open incident is not
//     forgotten without becoming noise (PagerDuty-style receivers
//     deduplicate on the key anyway);
//   - Flap {4, 10}: four changes in ten runs is a flow that would otherwise
//     open and resolve at least twice in ten runs;
//   - Warnings on: an expiring certificate is worth a (non-paging) heads-up.
func DefaultPolicy() Policy {
	return Policy{
		OpenAfter:    2,
		ResolveAfter: 1,
		RemindEvery:  4 * time.Hour,
		Flap:         FlapPolicy{Changes: 4, Runs: 10},
		Warnings:     true,
	}
}

// Override changes some fields of a Policy, for one flow; nil keeps the
// base value. OpenWindow or Flap set to their zero value turn them off.
type Override struct {
	OpenAfter    *int           `yaml:"open_after,omitempty" json:"open_after,omitempty"`
	OpenWindow   *Window        `yaml:"open_window,omitempty" json:"open_window,omitempty"`
	ResolveAfter *int           `yaml:"resolve_after,omitempty" json:"resolve_after,omitempty"`
	RemindEvery  *conf.Duration `yaml:"remind_every,omitempty" json:"remind_every,omitempty"`
	Flap         *FlapPolicy    `yaml:"flap,omitempty" json:"flap,omitempty"`
	Warnings     *bool          `yaml:"warnings,omitempty" json:"warnings,omitempty"`
}

// Merge returns p with the fields o sets replaced.
func (p Policy) Merge(o Override) Policy {
	set(&p.OpenAfter, o.OpenAfter)
	set(&p.OpenWindow, o.OpenWindow)
	set(&p.ResolveAfter, o.ResolveAfter)
	if o.RemindEvery != nil {
		p.RemindEvery = o.RemindEvery.Std()
	}
	set(&p.Flap, o.Flap)
	set(&p.Warnings, o.Warnings)
	return p
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Validate reports every problem of p, with paths named like the
// configuration keys (open_after, open_window.failures, ...).
func (p Policy) Validate() error {
	var errs []error
	if p.OpenAfter < 1 || p.OpenAfter > maxRuns {
		errs = append(errs, conf.FieldErrorf("open_after", "must be 1..%d, got %d", maxRuns, p.OpenAfter))
	}
	if p.ResolveAfter < 1 || p.ResolveAfter > maxRuns {
		errs = append(errs, conf.FieldErrorf("resolve_after", "must be 1..%d, got %d", maxRuns, p.ResolveAfter))
	}
	switch {
	case p.RemindEvery < 0:
		errs = append(errs, conf.FieldErrorf("remind_every", "must not be negative (0 turns reminders off), got %s", p.RemindEvery))
	case p.RemindEvery > 0 && p.RemindEvery < time.Minute:
		errs = append(errs, conf.FieldErrorf("remind_every", "must be at least 1m (or 0 for never), got %s", p.RemindEvery))
	}
	errs = append(errs, conf.PrefixErrors("open_window", p.OpenWindow.validate()))
	errs = append(errs, conf.PrefixErrors("flap", p.Flap.validate()))
	return errors.Join(errs...)
}

func (w Window) validate() error {
	switch {
	case w == Window{}:
		return nil
	case w.Failures < 1 || w.Runs < 1:
		return errors.New(`set both failures and runs (e.g. {failures: 3, runs: 5}), or neither to turn it off`)
	case w.Runs > maxRuns:
		return conf.FieldErrorf("runs", "must be at most %d, got %d", maxRuns, w.Runs)
	case w.Failures > w.Runs:
		return conf.FieldErrorf("failures", "must be at most runs (%d), got %d", w.Runs, w.Failures)
	}
	return nil
}

func (f FlapPolicy) validate() error {
	switch {
	case f == FlapPolicy{}:
		return nil
	case f.Changes < 1 || f.Runs < 1:
		return errors.New(`set both changes and runs (e.g. {changes: 4, runs: 10}), or neither to turn flap detection off`)
	case f.Runs > maxRuns:
		return conf.FieldErrorf("runs", "must be at most %d, got %d", maxRuns, f.Runs)
	case f.Changes < 2:
		return conf.FieldErrorf("changes", "must be at least 2 (one change is a flow that broke or recovered), got %d", f.Changes)
	case f.Changes >= f.Runs:
		return conf.FieldErrorf("changes", "must be less than runs (%d runs hold at most %d changes), got %d", f.Runs, f.Runs-1, f.Changes)
	}
	return nil
}

// normalized makes an unvalidated policy safe to apply: counts below 1
// count as 1, a negative reminder interval as never.
func (p Policy) normalized() Policy {
	p.OpenAfter = max(p.OpenAfter, 1)
	p.ResolveAfter = max(p.ResolveAfter, 1)
	p.RemindEvery = max(p.RemindEvery, 0)
	return p
}

// historyLen is how many outcomes State.Recent keeps under p.
func (p Policy) historyLen() int {
	n := 0
	if p.OpenWindow.enabled() {
		n = p.OpenWindow.Runs
	}
	if p.Flap.enabled() {
		n = max(n, p.Flap.Runs)
	}
	return min(n, maxRuns)
}

// String describes p for logs.
func (p Policy) String() string {
	return fmt.Sprintf("open_after=%d open_window=%d/%d resolve_after=%d remind_every=%s flap=%d/%d warnings=%t",
		p.OpenAfter, p.OpenWindow.Failures, p.OpenWindow.Runs, p.ResolveAfter, p.RemindEvery, p.Flap.Changes, p.Flap.Runs, p.Warnings)
}
