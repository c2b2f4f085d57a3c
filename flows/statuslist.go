package flows

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

// StatusList is one status code or a list of them: `status: 200` or
// `status: [200, 204]`.
type StatusList struct {
	codes []int
	err   error
}

// Statuses makes a StatusList (for defaults and tests).
func Statuses(codes ...int) StatusList { return StatusList{codes: codes} }

// UnmarshalYAML implements yaml.BytesUnmarshaler; errors are kept for
// positioned reporting.
func (s *StatusList) UnmarshalYAML(b []byte) error {
	*s = StatusList{}
	var v any
	bad := func() error {
		s.err = fmt.Errorf("must be a status code or a list of them, got %s", truncate(strings.TrimSpace(string(b)), 40))
		return nil
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return bad()
	}
	items, isList := v.([]any)
	if !isList {
		items = []any{v}
	}
	for _, item := range items {
		code, ok := wholeNumber(item)
		if !ok {
			return bad()
		}
		s.codes = append(s.codes, code)
	}
	for _, c := range s.codes {
		if c < 100 || c > 599 {
			s.err = fmt.Errorf("must be 100..599, got %d", c)
		}
	}
	return nil
}

// MarshalYAML implements yaml.InterfaceMarshaler.
func (s StatusList) MarshalYAML() (any, error) { return s.codes, nil }

// Codes returns the codes.
func (s StatusList) Codes() []int { return s.codes }

func (s StatusList) String() string {
	parts := make([]string, len(s.codes))
	for i, c := range s.codes {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, " or ")
}

func (s StatusList) loadErr() error { return s.err }

// wholeNumber accepts integers only: 200.5 is not a status code.
func wholeNumber(v any) (int, bool) {
	switch n := v.(type) {
	case uint64:
		return int(min(n, 1000)), true
	case int64:
		return int(max(min(n, 1000), -1)), true
	case int:
		return n, true
	}
	return 0, false
}
