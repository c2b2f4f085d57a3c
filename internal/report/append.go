package report

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/authwatch/authwatch/flows"
)

// The daemon encodes every run's lines for its history (a thousand runs a
// second at 10,000 flows), where encoding/json's reflection cost more than
// the rest of the record. These append, field by field, what Go 1.26's
// encoding/json Encoder writes (HTML-safe escaping, its float format,
// omitempty); the tests compare the two as JSON (the same fields in the
// same order with the same values, and as HTML-safe) on every field and in
// FuzzAppendMatchesEncodingJSON, so a field added to the types without its
// line here fails them. Only the failure's evidence, rare and nested,
// still goes through encoding/json.

// errUnsupportedFloat is encoding/json's refusal of NaN and infinities.
var errUnsupportedFloat = errors.New("json: unsupported value: NaN or infinite float")

func (s *StepJSON) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = appendString(b, s.Type)
	b = appendField(b, "flow", s.Flow)
	b = appendField(b, "step", s.Step)
	b = appendField(b, "kind", s.Kind)
	b = appendOK(b, s.OK)
	b = appendField(b, "status", string(s.Status))
	b = appendOmitEmpty(b, "reason", string(s.Reason))
	b = appendOmitEmpty(b, "layer", string(s.Layer))
	b = appendOmitEmpty(b, "summary", s.Summary)
	b = appendOmitEmpty(b, "next_step", s.NextStep)
	if s.HTTPStatus != 0 {
		b = append(b, `,"http_status":`...)
		b = strconv.AppendInt(b, int64(s.HTTPStatus), 10)
	}
	b = append(b, `,"duration_ms":`...)
	b, err := appendFloat(b, s.DurationMS)
	if err != nil {
		return b, err
	}
	b = appendOmitEmpty(b, "retry_after", s.RetryAfter)
	b, _ = appendArray(b, "findings", s.Findings, func(b []byte, f *FindingJSON) ([]byte, error) { return f.appendJSON(b), nil })
	b, _ = appendArray(b, "notes", s.Notes, func(b []byte, n *string) ([]byte, error) { return appendString(b, *n), nil })
	if s.Evidence != nil {
		ev, err := json.Marshal(s.Evidence)
		if err != nil {
			return b, err
		}
		b = append(b, `,"evidence":`...)
		b = append(b, ev...)
	}
	b, err = appendArray(b, "measurements", s.Measurements, func(b []byte, m *flows.Measurement) ([]byte, error) {
		b = append(b, `{"name":`...)
		b = appendString(b, m.Name)
		b = appendOmitEmpty(b, "host", m.Host)
		b = append(b, `,"value":`...)
		b, err := appendFloat(b, m.Value)
		return append(b, '}'), err
	})
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func (f *FindingJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"reason":`...)
	b = appendString(b, string(f.Reason))
	b = appendField(b, "layer", string(f.Layer))
	if f.Warning {
		b = append(b, `,"warning":true`...)
	}
	b = appendField(b, "summary", f.Summary)
	b, _ = appendArray(b, "facts", f.Facts, func(b []byte, fact *flows.Fact) ([]byte, error) {
		b = append(b, `{"name":`...)
		b = appendString(b, fact.Name)
		b = appendField(b, "value", fact.Value)
		return append(b, '}'), nil
	})
	return append(b, '}')
}

func (f *FlowJSON) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = appendString(b, f.Type)
	b = appendField(b, "flow", f.Flow)
	b = appendOK(b, f.OK)
	b = appendField(b, "status", string(f.Status))
	if f.Cancelled {
		b = append(b, `,"cancelled":true`...)
	}
	b = appendOmitEmpty(b, "reason", string(f.Reason))
	b = appendOmitEmpty(b, "layer", string(f.Layer))
	b = appendOmitEmpty(b, "summary", f.Summary)
	b = appendOmitEmpty(b, "next_step", f.NextStep)
	b = appendOmitEmpty(b, "failed_step", f.FailedStep)
	if len(f.Labels) > 0 {
		b = append(b, `,"labels":{`...)
		// encoding/json writes a map's keys in byte order.
		keys := make([]string, 0, len(f.Labels))
		for k := range f.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, f.Labels[k])
		}
		b = append(b, '}')
	}
	b = appendField(b, "start", f.Start)
	b = append(b, `,"duration_ms":`...)
	b, err := appendFloat(b, f.DurationMS)
	if err != nil {
		return b, err
	}
	b = append(b, `,"steps":`...)
	b = strconv.AppendInt(b, int64(f.Steps), 10)
	b = append(b, `,"warnings":`...)
	b = strconv.AppendInt(b, int64(f.Warnings), 10)
	return append(b, '}'), nil
}

// appendArray appends ,"name":[...] with each item appended by item,
// nothing for an empty slice (omitempty).
func appendArray[T any](b []byte, name string, items []T, item func([]byte, *T) ([]byte, error)) ([]byte, error) {
	if len(items) == 0 {
		return b, nil
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = item(b, &items[i]); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// appendField appends ,"name":"value".
func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendOmitEmpty is appendField for an omitempty string.
func appendOmitEmpty(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	return appendField(b, name, value)
}

// appendOK appends an omitempty *bool "ok".
func appendOK(b []byte, ok *bool) []byte {
	switch {
	case ok == nil:
		return b
	case *ok:
		return append(b, `,"ok":true`...)
	default:
		return append(b, `,"ok":false`...)
	}
}

// appendFloat formats f as encoding/json does a float64: the shortest
// decimal, with an exponent only below 1e-6 or from 1e21, written e-7 not
// e-07.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, errUnsupportedFloat
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does with HTML escaping on (its
// default): <, > and & as \u00XX, control bytes escaped, invalid UTF-8 as
// \ufffd, and U+2028 and U+2029 escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
