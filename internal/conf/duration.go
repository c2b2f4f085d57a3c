package conf

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Duration is a duration written as text: Go's syntax ("500ms", "30s",
// "5m", "1h30m") plus d (24h) and w (7d) as in Prometheus ("1d", "1w2d3h").
// See ParseDuration.
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
	v, err := ParseDuration(string(b))
	switch {
	case err != nil:
		d.err = fmt.Errorf("bad duration %q: write e.g. 500ms, 30s, 5m, 1h, 1d, 1w", truncate(string(b), 40))
	case v < 0:
		d.err = fmt.Errorf("duration %q must not be negative", string(b))
	default:
		d.d = v
	}
	return nil
}

// dayUnits are the units Prometheus adds to Go's. A day is always 24h: a
// duration, not a calendar span (no daylight saving time).
var dayUnits = map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour}

var errDurationTooLong = errors.New("longer than about 292 years (15250w)")

// ParseDuration reads a duration as time.ParseDuration does ("1h30m",
// "1.5s", "+5m", "-1s") and also with the units d (24h) and w (7d), as
// Prometheus does, combinable with the others: "1d", "1w2d3h", "1.5d".
// Text without d or w means exactly what time.ParseDuration says.
func ParseDuration(s string) (time.Duration, error) {
	neg, rest := s != "" && s[0] == '-', s
	if s != "" && (s[0] == '-' || s[0] == '+') {
		rest = s[1:]
	}
	segs := durationSegments(rest)
	if !hasDayUnit(segs) {
		return time.ParseDuration(s)
	}
	var total time.Duration
	for _, seg := range segs {
		v, err := seg.value()
		if err == nil && total > math.MaxInt64-v {
			err = errDurationTooLong
		}
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", truncate(s, 40), err)
		}
		total += v
	}
	if neg {
		total = -total
	}
	return total, nil
}

// durationSegment is one number and its unit: "1.5" and "d".
type durationSegment struct{ number, unit string }

// durationSegments splits text into numbers ([0-9.]*) each followed by a
// unit (what follows up to the next digit or dot), as time.ParseDuration
// scans it.
func durationSegments(s string) []durationSegment {
	var segs []durationSegment
	for s != "" {
		n := strings.IndexFunc(s, func(r rune) bool { return !isNumberRune(r) })
		if n < 0 {
			n = len(s)
		}
		u := strings.IndexFunc(s[n:], isNumberRune)
		if u < 0 {
			u = len(s) - n
		}
		segs = append(segs, durationSegment{s[:n], s[n : n+u]})
		s = s[n+u:]
	}
	return segs
}

func isNumberRune(r rune) bool { return r == '.' || '0' <= r && r <= '9' }

func hasDayUnit(segs []durationSegment) bool {
	for _, seg := range segs {
		if _, ok := dayUnits[seg.unit]; ok {
			return true
		}
	}
	return false
}

// value is the segment's duration. Days and weeks are read as hours and
// multiplied: whole ones are exact, a fraction within 24ns.
func (seg durationSegment) value() (time.Duration, error) {
	if seg.unit == "" {
		return 0, fmt.Errorf("%q has no unit", seg.number)
	}
	per, ok := dayUnits[seg.unit]
	if !ok {
		return time.ParseDuration(seg.number + seg.unit)
	}
	hours, err := time.ParseDuration(seg.number + "h")
	if err != nil {
		return 0, fmt.Errorf("bad number %q before %s", seg.number, seg.unit)
	}
	factor := per / time.Hour
	if hours > math.MaxInt64/factor {
		return 0, errDurationTooLong
	}
	return hours * factor, nil
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

// LoadErr is the error of a bad value, kept from decoding for the loader to
// report with the field's position (see LoadErrer).
func (d Duration) LoadErr() error { return d.err }
