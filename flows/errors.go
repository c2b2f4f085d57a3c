package flows

import (
	"errors"
	"time"

	"github.com/goccy/go-yaml/ast"

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

// DecodeFile decodes one YAML document into v strictly, then validates it.
func DecodeFile(file string, data []byte, v interface{ Validate() error }) error {
	return conf.DecodeFile(file, data, v)
}

// DecodeNode decodes a YAML node into v.
func DecodeNode(n ast.Node, v any) error { return conf.DecodeNode(n, v) }

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

// joinErrs joins validation errors: nil for none, the error itself for one.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
