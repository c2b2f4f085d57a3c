package conf

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// MaxNesting bounds how deep mappings and lists nest in a configuration
// file, the document's own mapping being level 1 (a flow's deepest field
// is about level 10). Past it the file is a mistake or an attack: the YAML
// parser is quadratic in some deep structures.
const MaxNesting = 64

var nestingMessage = fmt.Sprintf("nesting deeper than %d levels: this is not a flow file", MaxNesting)

// NestingProblem scans data before it is parsed (see tooDeep) and returns
// a problem where its nesting first passes MaxNesting, or nil.
func NestingProblem(file string, data []byte) *Problem {
	if line, col, deep := tooDeep(data); deep {
		return &Problem{Pos: Position{File: file, Line: line, Column: col}, Message: nestingMessage}
	}
	return nil
}

// DeepNodeProblem returns a problem at the first mapping or list nested
// deeper than MaxNesting under the parsed node n, or nil: NestingProblem
// is a guard that errs on the safe side, this is exact.
func DeepNodeProblem(file string, n ast.Node) *Problem {
	if d := deepNode(n, 0); d != nil {
		return &Problem{Pos: PositionOf(file, d), Message: nestingMessage}
	}
	return nil
}

// tooDeep scans the raw file for nesting the YAML parser is slow on before
// it sees it (it is quadratic in flow collections and in chains of "- "
// on one line: 30,000 of either took 11-12 s). It counts [ and { outside
// quoted scalars and comments, plus the "- " entries that open a line, and
// returns where the count first passes MaxNesting. It is a guard, not a
// parser: text it cannot tell from structure (brackets in a block scalar or
// in a quoted scalar spanning lines) counts too, which only matters past
// 64 unclosed brackets; the parsed tree is checked exactly afterwards.
func tooDeep(data []byte) (line, col int, deep bool) {
	s := nestingScanner{line: 1, leadingDashes: true}
	for i, c := range data {
		nxt := byte('\n')
		if i+1 < len(data) {
			nxt = data[i+1]
		}
		if s.step(c, nxt) {
			return s.line, s.col, true
		}
	}
	return 0, 0, false
}

// nestingScanner is tooDeep's state. Flow depth carries across lines; the
// rest ends with the line (a flow file's quoted scalars do not span lines;
// if one does, the scanner only counts more brackets than are there).
type nestingScanner struct {
	line, col     int
	flow, dashes  int
	quote         byte
	escaped       bool
	comment       bool
	afterSpace    bool
	prev          byte // the line's last significant character, 0 at its start
	leadingDashes bool // nothing but "- " entries so far on this line
}

// step reads c, followed by nxt, and reports whether the limit is passed.
func (s *nestingScanner) step(c, nxt byte) bool {
	s.col++
	if c == '\n' {
		*s = nestingScanner{line: s.line + 1, flow: s.flow, leadingDashes: true}
		return false
	}
	afterSpace := s.afterSpace
	s.afterSpace = c == ' ' || c == '\t' || c == '\r'
	switch {
	case s.comment:
		return false
	case s.quote != 0:
		s.inQuote(c)
		return false
	case s.afterSpace:
		return false
	case c == '#' && (s.prev == 0 || afterSpace):
		s.comment = true
		return false
	}
	isDash := c == '-' && s.leadingDashes && s.flow == 0 && (nxt == ' ' || nxt == '\t' || nxt == '\r' || nxt == '\n')
	switch {
	case isDash:
		s.dashes++
	case (c == '"' || c == '\'') && s.scalarStart():
		// prev stays the indicator before the quote, so that '' (a
		// quote inside a single-quoted scalar) closes and reopens it.
		s.quote, s.leadingDashes = c, false
		return false
	case c == '[' || c == '{':
		s.flow++
	case c == ']' || c == '}':
		s.flow = max(s.flow-1, 0)
	}
	s.leadingDashes = isDash
	s.prev = c
	return s.flow+s.dashes > MaxNesting
}

func (s *nestingScanner) inQuote(c byte) {
	switch {
	case s.escaped:
		s.escaped = false
	case c == '\\' && s.quote == '"':
		s.escaped = true
	case c == s.quote:
		s.quote = 0
	}
}

// scalarStart reports whether a quote here opens a quoted scalar: at the
// start of a line or after an indicator, not inside a plain word (don't).
func (s *nestingScanner) scalarStart() bool {
	switch s.prev {
	case 0, ':', ',', '[', '{', '-', '?':
		return true
	}
	return false
}

// deepNode returns the first mapping or list nested deeper than
// MaxNesting under n (the parsed tree, exactly), or nil.
func deepNode(n ast.Node, depth int) ast.Node {
	var children []ast.Node
	switch t := n.(type) {
	case *ast.DocumentNode:
		return deepNode(t.Body, depth)
	case *ast.TagNode:
		return deepNode(t.Value, depth)
	case *ast.MappingNode:
		for _, mv := range t.Values {
			children = append(children, mv.Value)
		}
	case *ast.MappingValueNode:
		children = []ast.Node{t.Value}
	case *ast.SequenceNode:
		children = t.Values
	default:
		return nil
	}
	if depth+1 > MaxNesting {
		return n
	}
	for _, c := range children {
		if d := deepNode(c, depth+1); d != nil {
			return d
		}
	}
	return nil
}
