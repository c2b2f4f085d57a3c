package flows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/robfig/cron/v3"

	"github.com/authwatch/authwatch/internal/conf"
)

var (
	flowNamePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.:/@-]{0,99}$`)
	stepIDPattern    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	labelNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// minEvery keeps a flow from hammering an IdP.
const minEvery = time.Second

// commonStepKeys are the keys every step has, whatever its kind.
var commonStepKeys = []string{"id", "kind", "timeout", "user_agent", "tls_expiry_warning"}

type stepHeader struct {
	ID               string        `yaml:"id"`
	Kind             string        `yaml:"kind"`
	Timeout          conf.Duration `yaml:"timeout"`
	UserAgent        string        `yaml:"user_agent"`
	TLSExpiryWarning conf.Duration `yaml:"tls_expiry_warning"`
}

func (l *loader) flow(file, path string, m *ast.MappingNode) {
	before := len(l.problems)
	f := &Flow{Source: conf.PositionOf(file, m), Digest: digest(m)}
	at := func(p string) string { return conf.JoinPath(path, p) }
	if l.decode(file, path, without(m, "steps"), f) {
		l.problems.AddFieldErrors(file, path, m, conf.LoadErrors(f))
		l.problems.AddFieldErrors(file, path, m, validateFlowHeader(f))
	}
	if f.Name != "" {
		if first, dup := l.names[f.Name]; dup {
			l.problems.Add(conf.PositionOf(file, mappingValue(m, "name")), at("name"), fmt.Sprintf("flow name %q is already used at %s", f.Name, first))
		} else {
			l.names[f.Name] = f.Source
		}
	}
	stepsValue := mappingValue(m, "steps")
	stepsNode, ok := stepsValue.(*ast.SequenceNode)
	switch {
	case stepsValue == nil:
		l.problems.Add(conf.PositionOf(file, m), at("steps"), "a flow needs a list of steps")
		return
	case !ok:
		l.problems.Add(conf.PositionOf(file, stepsValue), at("steps"), "must be a list of steps (each starting with - id: ...)")
		return
	case len(stepsNode.Values) == 0:
		l.problems.Add(conf.PositionOf(file, stepsValue), at("steps"), "a flow needs at least one step")
		return
	case len(stepsNode.Values) > MaxStepsPerFlow:
		l.problems.Add(conf.PositionOf(file, stepsNode.Values[MaxStepsPerFlow]), at(fmt.Sprintf("steps[%d]", MaxStepsPerFlow)),
			fmt.Sprintf("a flow holds at most %d steps; this one has %d (split it into several flows)", MaxStepsPerFlow, len(stepsNode.Values)))
		return
	}
	ids := map[string]*StepSpec{}
	all := stepIDs(stepsNode)
	waits := l.newWaitChecker(f)
	for i, n := range stepsNode.Values {
		spec := l.step(file, at(fmt.Sprintf("steps[%d]", i)), n, ids, all)
		if spec != nil {
			if m, ok := n.(*ast.MappingNode); ok {
				l.problems.AddFieldErrors(file, at(fmt.Sprintf("steps[%d]", i)), m, waits.check(spec))
			}
			f.Steps = append(f.Steps, spec)
			ids[spec.ID] = spec
		}
	}
	if len(l.problems) == before {
		l.opts.Defaults.apply(f)
		// Defaults are part of the definition: a changed default replaces the job.
		f.Digest = digestString(f.Digest + "|" + f.Timeout.String() + "|" + f.ClockSkew.String())
		l.flows = append(l.flows, f)
	}
}

// waitChecker refuses waits that cannot end within the flow's timeout (the
// daemon's default when the flow sets none) or their step's own: such a
// flow could never pass.
type waitChecker struct {
	timeout, total time.Duration
	reported       bool
}

func (l *loader) newWaitChecker(f *Flow) *waitChecker {
	timeout := f.Timeout.Or(l.opts.Defaults.Timeout)
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &waitChecker{timeout: timeout}
}

// check returns the problem of one step, if it waits too long.
func (c *waitChecker) check(spec *StepSpec) error {
	w, ok := spec.Step.(interface{ pause() time.Duration })
	if !ok || w.pause() <= 0 {
		return nil
	}
	c.total += w.pause()
	switch {
	case spec.Timeout > 0 && w.pause() >= spec.Timeout:
		return conf.FieldErrorf("wait", "%s does not end within the step's timeout of %s", conf.Dur(w.pause()), conf.Dur(spec.Timeout))
	case c.total >= c.timeout && !c.reported:
		c.reported = true
		return conf.FieldErrorf("wait", "the flow's waits add up to %s here, not less than its timeout of %s: raise the flow's timeout (the steps need time too)",
			conf.Dur(c.total), conf.Dur(c.timeout))
	}
	return nil
}

// stepIDs maps every step id in the list to its index, so a reference to
// a later step can say so.
func stepIDs(seq *ast.SequenceNode) map[string]int {
	out := map[string]int{}
	for i, n := range seq.Values {
		if m, ok := n.(*ast.MappingNode); ok {
			if v := mappingValue(m, "id"); v != nil {
				out[v.String()] = i
			}
		}
	}
	return out
}

// decode reports unknown keys (all of them, with suggestions), then decodes
// the known ones; it reports whether v was decoded without errors.
func (l *loader) decode(file, path string, m *ast.MappingNode, v any, skip ...string) bool {
	unknown := conf.UnknownKeys(m, reflect.TypeOf(v), "", skip...)
	for _, u := range unknown {
		l.problems.Add(conf.PositionOf(file, u.Node), conf.JoinPath(path, u.Path), u.Message)
	}
	if err := decodeLoose(without(m, skip...), v); err != nil {
		l.problems.AddYAMLError(file, path, m, err)
		return false
	}
	return true
}

// digest hashes the flow's YAML as parsed (not its position), so moving a
// flow within or between files does not change it.
func digest(m *ast.MappingNode) string { return digestString(m.String()) }

func digestString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:12])
}

func validateFlowHeader(f *Flow) error {
	var errs []error
	if !flowNamePattern.MatchString(f.Name) {
		if f.Name == "" {
			errs = append(errs, conf.FieldErrorf("name", "required: a unique name for the flow"))
		} else {
			errs = append(errs, conf.FieldErrorf("name", "must be 1 to 100 characters: letters, digits, space and _.:/@-, starting with a letter or digit (got %q)", truncate(f.Name, 120)))
		}
	}
	switch {
	case f.Every.LoadErr() != nil:
		// already reported as a bad duration
	case !f.Every.IsZero() && f.Cron != "":
		errs = append(errs, conf.FieldErrorf("cron", "give either every or cron, not both"))
	case !f.Every.IsZero() && f.Every.Std() < minEvery:
		errs = append(errs, conf.FieldErrorf("every", "must be at least %s, got %s", minEvery, f.Every))
	case f.Cron != "":
		if _, err := cron.ParseStandard(f.Cron); err != nil {
			errs = append(errs, conf.FieldErrorf("cron", "bad cron expression %q: %v (five fields: minute hour day month weekday)", f.Cron, err))
		}
	}
	if err := validateUserAgent("user_agent", f.UserAgent); err != nil {
		errs = append(errs, err)
	}
	if a := f.Alert; a != nil {
		if a.OpenAfter != nil && (*a.OpenAfter < 1 || *a.OpenAfter > 1000) {
			errs = append(errs, conf.FieldErrorf("alert.open_after", "must be 1..1000, got %d", *a.OpenAfter))
		}
		if a.ResolveAfter != nil && (*a.ResolveAfter < 1 || *a.ResolveAfter > 1000) {
			errs = append(errs, conf.FieldErrorf("alert.resolve_after", "must be 1..1000, got %d", *a.ResolveAfter))
		}
	}
	if err := validateLocations(f); err != nil {
		errs = append(errs, err)
	}
	if err := f.Baseline.Validate(); err != nil {
		errs = append(errs, err)
	}
	for k := range f.Labels {
		if !labelNamePattern.MatchString(k) {
			errs = append(errs, conf.FieldErrorf("labels."+conf.PathKey(k), "label names are letters, digits and _, not starting with a digit"))
		}
	}
	return errors.Join(errs...)
}

// step decodes one step: look up its kind, decode strictly into the kind's
// struct, then validate it and its references to earlier steps.
func (l *loader) step(file, path string, n ast.Node, earlier map[string]*StepSpec, all map[string]int) *StepSpec {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		l.problems.Add(conf.PositionOf(file, n), path, "a step must be a mapping with id and kind")
		return nil
	}
	var h stepHeader
	if err := decodeLoose(onlyKeys(m, commonStepKeys...), &h); err != nil {
		l.problems.AddYAMLError(file, path, m, err)
		return nil
	}
	l.problems.AddFieldErrors(file, path, m, conf.LoadErrors(&h))
	l.problems.AddFieldErrors(file, path, m, validateUserAgent("user_agent", h.UserAgent))
	switch prev, dup := earlier[h.ID]; {
	case h.ID == "":
		l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf("id", "required: lower-case letters, digits and _, starting with a letter"))
	case !stepIDPattern.MatchString(h.ID):
		l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf("id", "must be lower-case letters, digits and _, starting with a letter (got %q)", h.ID))
	case dup:
		l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf("id", "step id %q is already used at %s", h.ID, prev.Source))
	}
	kind, ok := kinds[h.Kind]
	if !ok {
		msg := fmt.Sprintf("unknown step kind %q; valid kinds: %s", h.Kind, kindNames())
		if h.Kind == "" {
			msg = "kind is required; valid kinds: " + kindNames()
		}
		l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf("kind", "%s", msg))
		return nil
	}
	step := kind.New()
	if !l.decode(file, path, m, step, commonStepKeys...) {
		return nil
	}
	for _, p := range markSecretFields(step) {
		l.warnings = append(l.warnings, &conf.Problem{Pos: conf.PositionOf(file, conf.Locate(m, p)), Path: conf.JoinPath(path, p), Message: literalSecretWarning})
	}
	l.problems.AddFieldErrors(file, path, m, conf.LoadErrors(step))
	l.problems.AddFieldErrors(file, path, m, step.Validate())
	l.checkRefs(file, path, m, step, earlier, all)
	l.checkLoadSecrets(file, path, m, step)
	// Returned even with problems, so later steps' references to it are
	// checked; the flow is not kept when any problem was found.
	return &StepSpec{ID: h.ID, Kind: h.Kind, Timeout: h.Timeout.Std(), UserAgent: h.UserAgent, TLSExpiryWarning: h.TLSExpiryWarning.Std(),
		Step: step, Source: conf.PositionOf(file, m)}
}

// literalSecretWarning never shows the value: it is redacted anyway.
const literalSecretWarning = "a literal secret: move it into a secret reference such as ${env:NAME}, ${file:/path} or ${credential:NAME} " +
	"(it is redacted from output either way, but a flow file is read, copied and committed more widely than a secret should be)"

// checkRefs checks that ${steps.ID.NAME} names an earlier step and one of its
// outputs, and warns about secret references that do not resolve here.
func (l *loader) checkRefs(file, path string, m *ast.MappingNode, step Step, earlier map[string]*StepSpec, all map[string]int) {
	for _, r := range conf.TemplateRefs(step) {
		switch {
		case r.Ref.Kind == conf.RefStep:
			prev, ok := earlier[r.Ref.Name]
			if later, exists := all[r.Ref.Name]; !ok && exists {
				l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf(r.Path, "%s: step %q comes later (steps[%d]); a step can use only earlier steps' outputs", r.Ref, r.Ref.Name, later))
				continue
			}
			if !ok {
				l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf(r.Path, "%s: no step has id %q", r.Ref, r.Ref.Name))
				continue
			}
			if ol, ok := prev.Step.(OutputLister); ok && !containsStr(ol.Outputs(), r.Ref.Output) {
				l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf(r.Path, "%s: step %q (%s) has no output %q; it has: %v", r.Ref, prev.ID, prev.Kind, r.Ref.Output, ol.Outputs()))
			}
			if sc, ok := prev.Step.(interface{ sharesTokens() bool }); ok && sc.sharesTokens() && r.Ref.Output == "refresh_token" {
				// A refresh would rotate the one refresh token every flow
				// sharing it gets: later runs would send the replaced token.
				l.problems.AddFieldErrors(file, path, m, conf.FieldErrorf(r.Path, "%s: step %q has cache: shared, so its refresh token is not its own: a refresh would rotate it for every run sharing it (and, with reuse detection, revoke their grant); drop cache: shared from step %q to use its refresh token", r.Ref, prev.ID, prev.ID))
			}
		default:
			l.checkSecret(file, path, m, r)
		}
	}
}

// checkSecret reads a secret reference once per load: a file that can never
// be a secret (a FIFO, a device, too large) is an error; one that is unset
// or unreadable here is a warning, since it may be set only where the
// daemon runs.
func (l *loader) checkSecret(file, path string, m *ast.MappingNode, r conf.FieldRef) {
	err, seen := l.secrets[r.Ref]
	switch {
	case seen:
	case l.secretsStalled && r.Ref.Kind != conf.RefEnv:
		err = fmt.Errorf("%w: %s not checked: an earlier secret file could not be read within %s", conf.ErrSecretMissing, r.Ref, conf.SecretReadTimeout)
	default:
		_, err = l.opts.Secrets.Resolve(r.Ref)
		l.secrets[r.Ref] = err
		// One stalled mount is enough to wait for: a reload stays bounded.
		l.secretsStalled = l.secretsStalled || conf.IsStalled(err)
	}
	if err == nil {
		return
	}
	at, full := conf.PositionOf(file, conf.Locate(m, r.Path)), conf.JoinPath(path, r.Path)
	msg, _ := conf.SecretMessage(err)
	if errors.Is(err, conf.ErrSecretRefused) {
		l.problems.Add(at, full, fmt.Sprintf("%s: %s", r.Ref, msg))
		return
	}
	l.warnings = append(l.warnings, &conf.Problem{Pos: at, Path: full, Message: msg + " (the step will fail as credentials_missing until it is set)"})
}

// onlyKeys returns a copy of m with just the given keys.
func onlyKeys(m *ast.MappingNode, keys ...string) *ast.MappingNode {
	out := *m
	out.Values = nil
	for _, mv := range m.Values {
		if containsStr(keys, mv.Key.String()) {
			out.Values = append(out.Values, mv)
		}
	}
	return &out
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
