package flows

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// StatusList is one status code or a list of them: `status: 200` or
// `status: [200, 204]`.
type StatusList struct {
	codes []int
	err   error
}

// Statuses makes a StatusList (for defaults and tests).
func Statuses(codes ...int) StatusList { return StatusList{codes: codes} }

// UnmarshalYAML implements yaml.NodeUnmarshaler; errors are kept for
// positioned reporting.
func (s *StatusList) UnmarshalYAML(node ast.Node) error {
	*s = StatusList{}
	items := []ast.Node{node}
	if seq, ok := node.(*ast.SequenceNode); ok {
		items = seq.Values
	}
	for _, item := range items {
		code, ok := statusCode(item)
		if !ok {
			s.err = fmt.Errorf("must be a status code or a list of them, got %s", truncate(strings.TrimSpace(node.String()), 40))
			return nil
		}
		if code < 100 || code > 599 {
			s.err = fmt.Errorf("must be 100..599, got %d", code)
		}
		s.codes = append(s.codes, code)
	}
	return nil
}

// statusCode accepts integers only: 200.5 is not a status code.
func statusCode(n ast.Node) (int, bool) {
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		return 0, false
	}
	switch v := in.Value.(type) {
	case uint64:
		return int(min(v, 1000)), true
	case int64:
		return int(max(min(v, 1000), -1)), true
	}
	return 0, false
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

// LoadErr is the error of a bad list, reported with the field's position.
func (s StatusList) LoadErr() error { return s.err }
