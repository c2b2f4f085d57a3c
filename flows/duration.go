package flows

import (
	"fmt"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Duration is a Go duration written as text: "500ms", "30s", "5m", "1h30m".
type Duration struct {
	d   time.Duration
	raw string
	err error
}

// Dur makes a Duration from a time.Duration (for defaults and tests).
func Dur(d time.Duration) Duration { return Duration{d: d, raw: d.String()} }

// UnmarshalText implements encoding.TextUnmarshaler. A bad value is kept as
// the field's load error, reported with its position by validation.
func (d *Duration) UnmarshalText(b []byte) error {
	*d = Duration{raw: string(b)}
	v, err := time.ParseDuration(string(b))
	switch {
	case err != nil:
		d.err = fmt.Errorf("bad duration %q: write e.g. 500ms, 30s, 5m, 1h", truncate(string(b), 40))
	case v < 0:
		d.err = fmt.Errorf("duration %q must not be negative", string(b))
	default:
		d.d = v
	}
	return nil
}

// UnmarshalYAML implements yaml.NodeUnmarshaler (a node, not text: goccy
// formats the whole file for every text or bytes unmarshaler, which made
// loading quadratic in file size).
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	return d.UnmarshalText([]byte(scalarValue(node)))
}

// scalarValue is a scalar node's value as written.
func scalarValue(node ast.Node) string {
	switch n := node.(type) {
	case *ast.StringNode:
		return n.Value
	case nil:
		return ""
	}
	if tk := node.GetToken(); tk != nil {
		return tk.Value
	}
	return node.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Std returns the duration.
func (d Duration) Std() time.Duration { return d.d }

// IsZero reports whether no duration was given.
func (d Duration) IsZero() bool { return d.d == 0 }

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d.d == 0 {
		return def
	}
	return d.d
}

func (d Duration) String() string {
	if d.raw != "" {
		return d.raw
	}
	return d.d.String()
}

func (d Duration) loadErr() error { return d.err }
