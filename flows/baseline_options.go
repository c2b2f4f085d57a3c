package flows

import (
	"errors"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/authwatch/authwatch/internal/conf"
)

// Baseline defaults and bounds.
const (
	DefaultBaselineLearn         = 20
	DefaultLatencyFactor         = 2.0
	DefaultLatencyWindow         = 20
	DefaultLatencyMinIncrease    = 100 * time.Millisecond
	minBaselineLearn             = 2
	maxBaselineLearn             = 10000
	maxBaselinePatterns          = 64
	minLatencyWindow, maxLatency = 5, 1000
)

// BaselineOptions is a flow's `baseline:`: false turns it off; a mapping
// sets how it learns and what it watches. Absent, the baseline is on with
// its defaults.
type BaselineOptions struct {
	// Learn is how many passing runs the baseline learns from before it compares.
	Learn int `yaml:"learn,omitempty" json:"learn,omitempty"`
	// Watch, when set, limits the comparison to the features matching one of
	// its patterns; Ignore leaves out those matching one of its patterns.
	Watch  []string `yaml:"watch,omitempty" json:"watch,omitempty"`
	Ignore []string `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	// Latency is when a step's latency counts as drifted.
	Latency *LatencyDrift `yaml:"latency,omitempty" json:"latency,omitempty"`

	off      bool
	problems []error
}

// LatencyDrift says when a step's latency drifted: the p95 of its last
// Window passing runs is Factor times the learned p95, and at least
// MinIncrease more. Factor 0 (or `latency: false`) leaves latency out.
type LatencyDrift struct {
	Factor      float64       `yaml:"factor,omitempty" json:"factor,omitempty"`
	Window      int           `yaml:"window,omitempty" json:"window,omitempty"`
	MinIncrease conf.Duration `yaml:"min_increase,omitempty" json:"min_increase,omitempty"`

	off      bool
	problems []error
}

// Enabled reports whether the flow learns a baseline (the default).
func (b *BaselineOptions) Enabled() bool { return b == nil || !b.off }

// LearnRuns is how many passing runs the baseline learns from.
func (b *BaselineOptions) LearnRuns() int {
	if b == nil || b.Learn == 0 {
		return DefaultBaselineLearn
	}
	return b.Learn
}

// Patterns returns the watch and ignore patterns.
func (b *BaselineOptions) Patterns() (watch, ignore []string) {
	if b == nil {
		return nil, nil
	}
	return b.Watch, b.Ignore
}

// LatencyRule returns the latency drift rule with defaults filled in;
// factor 0 when latency is not watched.
func (b *BaselineOptions) LatencyRule() (factor float64, window int, minIncrease time.Duration) {
	l := LatencyDrift{}
	if b != nil && b.Latency != nil {
		l = *b.Latency
	}
	if l.off {
		return 0, 0, 0
	}
	factor, window = l.Factor, l.Window
	if factor == 0 {
		factor = DefaultLatencyFactor
	}
	if window == 0 {
		window = DefaultLatencyWindow
	}
	return factor, window, l.MinIncrease.Or(DefaultLatencyMinIncrease)
}

// UnmarshalYAML implements yaml.NodeUnmarshaler: `baseline: false`, or a
// mapping decoded strictly. Problems are kept for Validate, which the
// loader positions at the field.
func (b *BaselineOptions) UnmarshalYAML(node ast.Node) error {
	*b = BaselineOptions{}
	switch n := node.(type) {
	case *ast.BoolNode:
		b.off = !n.Value
	case *ast.MappingNode:
		type plain BaselineOptions
		b.problems = decodeStrict(n, (*plain)(b))
	case *ast.NullNode:
	default:
		b.problems = []error{errors.New("must be false, true or a mapping (learn, watch, ignore, latency)")}
	}
	return nil
}

// UnmarshalYAML implements yaml.NodeUnmarshaler: `latency: false`, or a mapping.
func (l *LatencyDrift) UnmarshalYAML(node ast.Node) error {
	*l = LatencyDrift{}
	switch n := node.(type) {
	case *ast.BoolNode:
		l.off = !n.Value
		return nil
	case *ast.MappingNode:
		type plain LatencyDrift
		l.problems = decodeStrict(n, (*plain)(l))
	case *ast.NullNode:
	default:
		l.problems = []error{errors.New("must be false, true or a mapping (factor, window, min_increase)")}
	}
	return nil
}

// decodeStrict decodes m into v and returns its unknown keys and decoding
// error as field errors (paths relative to m).
func decodeStrict(m *ast.MappingNode, v any) []error {
	var errs []error
	for _, u := range conf.UnknownKeys(m, reflect.TypeOf(v), "") {
		errs = append(errs, conf.FieldErrorf(u.Path, "%s", u.Message))
	}
	if err := decodeLoose(m, v); err != nil {
		errs = append(errs, errors.New(strings.TrimSpace(yaml.FormatError(err, false, false))))
	}
	return errs
}

// Validate checks the options; its field errors' paths start at the flow
// (baseline.learn, ...).
func (b *BaselineOptions) Validate() error {
	if b == nil {
		return nil
	}
	var errs []error
	for _, err := range b.problems {
		errs = append(errs, prefixed("", err))
	}
	if b.Learn != 0 && (b.Learn < minBaselineLearn || b.Learn > maxBaselineLearn) {
		errs = append(errs, conf.FieldErrorf("learn", "must be %d..%d passing runs, got %d", minBaselineLearn, maxBaselineLearn, b.Learn))
	}
	for _, list := range []struct {
		name     string
		patterns []string
	}{{"watch", b.Watch}, {"ignore", b.Ignore}} {
		if len(list.patterns) > maxBaselinePatterns {
			errs = append(errs, conf.FieldErrorf(list.name, "at most %d patterns, got %d", maxBaselinePatterns, len(list.patterns)))
		}
		for i, p := range list.patterns {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				errs = append(errs, conf.FieldErrorf(list.name+"["+strconv.Itoa(i)+"]", "bad pattern %q: use * for any text and ? for one character (e.g. *.latency, login.cookie.*)", truncate(p, 80)))
			}
		}
	}
	if l := b.Latency; l != nil {
		for _, err := range l.problems {
			errs = append(errs, prefixed("latency", err))
		}
		if err := l.MinIncrease.LoadErr(); err != nil {
			errs = append(errs, conf.FieldErrorf("latency.min_increase", "%v", err))
		}
	}
	if l := b.Latency; l != nil && !l.off {
		if l.Factor != 0 && (l.Factor <= 1 || l.Factor > 100) {
			errs = append(errs, conf.FieldErrorf("latency.factor", "must be more than 1 and at most 100, got %g", l.Factor))
		}
		if l.Window != 0 && (l.Window < minLatencyWindow || l.Window > maxLatency) {
			errs = append(errs, conf.FieldErrorf("latency.window", "must be %d..%d runs, got %d", minLatencyWindow, maxLatency, l.Window))
		}
	}
	for i, err := range errs {
		errs[i] = prefixed("baseline", err)
	}
	return errors.Join(errs...)
}

// prefixed puts a field error under the path prefix, and an error without
// a field at the prefix itself.
func prefixed(prefix string, err error) error {
	var fe conf.FieldError
	if errors.As(err, &fe) {
		return conf.FieldError{Path: conf.JoinPath(prefix, fe.Path), Err: fe.Err}
	}
	return conf.FieldError{Path: prefix, Err: err}
}
