package incident

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/robfig/cron/v3"
)

// Matchers select label sets: every key must match. A value is compared for
// equality ("" matches a missing label), unless it starts with "~": then the
// rest is a regular expression (RE2) that must match the whole value, e.g.
// reason: "~token_.*". Keys may be flow labels or the pseudo-labels of
// MatchLabels (flow, step, reason, layer, severity, event). No matchers
// match everything.
type Matchers map[string]string

// Matches reports whether labels satisfy every matcher. A matcher whose
// regular expression does not compile (Validate reports it) never matches.
func (m Matchers) Matches(labels map[string]string) bool {
	for key, want := range m {
		got := labels[key]
		expr, isRegexp := strings.CutPrefix(want, "~")
		if !isRegexp {
			if got != want {
				return false
			}
			continue
		}
		re, err := compile(expr)
		if err != nil || !re.MatchString(got) {
			return false
		}
	}
	return true
}

// Validate reports every bad key, regular expression or pseudo-label
// value, in key order.
func (m Matchers) Validate() error {
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(m)) {
		expr, isRegexp := strings.CutPrefix(m[key], "~")
		values := pseudoValues[key]
		switch {
		case key == "":
			errs = append(errs, errors.New("a matcher needs a label name"))
		case isRegexp:
			if _, err := compile(expr); err != nil {
				errs = append(errs, conf.FieldErrorf(key, "bad regular expression after ~: %v", err))
			}
		case values != nil && !slices.Contains(values, m[key]):
			errs = append(errs, conf.FieldErrorf(key, "must be one of %s (or ~regexp), got %q", strings.Join(values, ", "), m[key]))
		}
	}
	return errors.Join(errs...)
}

// pseudoValues are the values the event and severity pseudo-labels can
// take: a typo there ("warnings", "open", or a flow's own "page") would
// silently match nothing.
var pseudoValues = map[string][]string{
	LabelEvent: {string(notify.Opened), string(notify.Updated), string(notify.Reminder),
		string(notify.Resolved), string(notify.Test)},
	LabelSeverity: {string(notify.SeverityCritical), string(notify.SeverityWarning), string(notify.SeverityInfo)},
}

// regexps caches compiled matcher expressions; they come from the
// configuration, so the set is small and fixed between reloads.
var regexps sync.Map // string → *regexp.Regexp

func compile(expr string) (*regexp.Regexp, error) {
	if re, ok := regexps.Load(expr); ok {
		return re.(*regexp.Regexp), nil
	}
	// Compiled alone first: "a)|(b" must not become valid once wrapped.
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, err
	}
	regexps.Store(expr, re)
	return re, nil
}

// Silence mutes matching events until a time.
type Silence struct {
	Matchers Matchers  `yaml:"matchers" json:"matchers"`
	Until    time.Time `yaml:"until" json:"until"`
	Comment  string    `yaml:"comment" json:"comment"`
}

// Active reports whether s mutes labels at now.
func (s Silence) Active(labels map[string]string, now time.Time) bool {
	return now.Before(s.Until) && s.Matchers.Matches(labels)
}

// Validate reports every problem of s.
func (s Silence) Validate() error {
	errs := []error{validateMatchers(s.Matchers, "silence")}
	if s.Until.IsZero() {
		errs = append(errs, conf.FieldErrorf("until", "must be set: when the silence ends, as RFC 3339 (e.g. 2026-05-01T18:00:00Z)"))
	}
	if strings.TrimSpace(s.Comment) == "" {
		errs = append(errs, conf.FieldErrorf("comment", "must say who silenced what and why (a silence nobody can explain outlives the reason for it)"))
	}
	return errors.Join(errs...)
}

// MaintenanceWindow mutes matching events for Duration from every start of
// a cron schedule (5 fields, e.g. "0 2 * * SUN"; in the daemon's time zone
// unless it starts with CRON_TZ=Area/City).
type MaintenanceWindow struct {
	Matchers Matchers      `yaml:"matchers" json:"matchers"`
	Cron     string        `yaml:"cron" json:"cron"`
	Duration conf.Duration `yaml:"duration" json:"duration"`
	Comment  string        `yaml:"comment,omitempty" json:"comment,omitempty"`
}

// ActiveSince returns the start of the occurrence of w that covers now:
// the most recent start ≤ now with now < start+Duration. It steps the
// schedule from now-Duration: the first start after that instant is the
// one, if it is not after now.
func (w MaintenanceWindow) ActiveSince(now time.Time) (time.Time, bool) {
	sched, err := schedule(w.Cron)
	if err != nil || w.Duration.Std() <= 0 {
		return time.Time{}, false
	}
	start := sched.Next(now.Add(-w.Duration.Std()))
	if start.IsZero() || start.After(now) {
		return time.Time{}, false
	}
	return start, true
}

// Validate reports every problem of w.
func (w MaintenanceWindow) Validate() error {
	errs := []error{validateMatchers(w.Matchers, "maintenance window")}
	if _, err := schedule(w.Cron); err != nil {
		errs = append(errs, conf.FieldErrorf("cron", "%v", err))
	}
	if w.Duration.Std() <= 0 {
		errs = append(errs, conf.FieldErrorf("duration", "must be positive (how long each window lasts, e.g. 2h), got %s", w.Duration))
	}
	return errors.Join(errs...)
}

func validateMatchers(m Matchers, what string) error {
	if len(m) == 0 {
		return conf.FieldErrorf("matchers", `a %s needs at least one matcher (for every flow, write flow: "~.*")`, what)
	}
	return conf.PrefixErrors("matchers", m.Validate())
}

// schedules caches parsed cron specs, like regexps.
var schedules sync.Map // string → cron.Schedule

func schedule(spec string) (cron.Schedule, error) {
	if s, ok := schedules.Load(spec); ok {
		return s.(cron.Schedule), nil
	}
	if strings.HasPrefix(strings.TrimSpace(spec), "@every") {
		return nil, fmt.Errorf("%q has no calendar start: write 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * SUN\"", spec)
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("bad schedule %q: %v; write 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * SUN\"", spec, err)
	}
	schedules.Store(spec, s)
	return s, nil
}

// Mutes is the set of silences and maintenance windows; it implements
// Muter.
type Mutes struct {
	Silences []Silence           `yaml:"silences,omitempty" json:"silences,omitempty"`
	Windows  []MaintenanceWindow `yaml:"maintenance_windows,omitempty" json:"maintenance_windows,omitempty"`
}

var _ Muter = Mutes{}

// Muted reports whether a silence or a window mutes labels at now, and
// which one.
func (m Mutes) Muted(labels map[string]string, now time.Time) (bool, string) {
	for i, s := range m.Silences {
		if s.Active(labels, now) {
			return true, fmt.Sprintf("silences[%d] until %s: %s", i, s.Until.Format(time.RFC3339), s.Comment)
		}
	}
	for i, w := range m.Windows {
		if !w.Matchers.Matches(labels) {
			continue
		}
		if start, ok := w.ActiveSince(now); ok {
			return true, fmt.Sprintf("maintenance_windows[%d] %q from %s for %s: %s", i, w.Cron, start.Format(time.RFC3339), w.Duration, w.Comment)
		}
	}
	return false, ""
}

// Validate reports every problem, with paths like silences[1].until.
func (m Mutes) Validate() error {
	var errs []error
	for i, s := range m.Silences {
		errs = append(errs, conf.PrefixErrors(fmt.Sprintf("silences[%d]", i), s.Validate()))
	}
	for i, w := range m.Windows {
		errs = append(errs, conf.PrefixErrors(fmt.Sprintf("maintenance_windows[%d]", i), w.Validate()))
	}
	return errors.Join(errs...)
}
