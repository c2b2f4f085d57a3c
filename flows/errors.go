package flows

import (
	"errors"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
)

// Temporary aliases while the toolkit moves to internal/conf.
type (
	FieldError   = conf.FieldError
	Position     = conf.Position
	Problem      = conf.Problem
	Problems     = conf.Problems
	Duration     = conf.Duration
	Template     = conf.Template
	Ref          = conf.Ref
	SecretSource = conf.SecretSource
)

// NewTemplate parses s.
func NewTemplate(s string) Template { return conf.NewTemplate(s) }

// Dur makes a Duration from a time.Duration.
func Dur(d time.Duration) Duration { return conf.Dur(d) }

// ParseDuration reads a duration with the units d and w too.
func ParseDuration(s string) (time.Duration, error) { return conf.ParseDuration(s) }

// FieldErrorf makes a FieldError.
func FieldErrorf(path, format string, args ...any) error {
	return conf.FieldErrorf(path, format, args...)
}

// PrefixErrors prefixes the paths of every FieldError in err.
func PrefixErrors(prefix string, err error) error { return conf.PrefixErrors(prefix, err) }

// flatten lists the leaves of an errors.Join tree.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func joinAll(errs []error) error { return errors.Join(errs...) }
