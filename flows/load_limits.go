package flows

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"

	"github.com/authwatch/authwatch/internal/conf"
)

// Limits on flow files. Each is far above any real configuration and far
// below what makes a load slow: past them the file is a mistake (or a
// generator gone wrong), and it is refused at the place it passes the
// limit rather than loaded for seconds and hundreds of megabytes.
const (
	// MaxFlowFileSize bounds one flow file.
	MaxFlowFileSize = 4 << 20
	// MaxStepsPerFlow bounds the steps of one flow (100,000 steps took
	// 8.3 s and 838 MB to load).
	MaxStepsPerFlow = 200
	// MaxNesting bounds how deep mappings and lists nest, the document's
	// own mapping being level 1 (a flow's deepest field is about level 10).
	MaxNesting = 64
	// MaxFlows bounds the flows of a whole set of files (10,000 one-step
	// flows load in about 1.6 s with 160 MB resident).
	MaxFlows = 10_000
	// MaxStepsInSet bounds the steps of a whole set of files: the two caps
	// above would otherwise allow 2,000,000 steps (minutes and tens of GB).
	// 50,000 steps load in about 6 s with 420 MB resident.
	MaxStepsInSet = 50_000
)

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

// offsetPosition is the line and column of byte offset in data.
func offsetPosition(file string, data []byte, offset int) Position {
	line, col := 1, 1
	for _, c := range data[:offset] {
		col++
		if c == '\n' {
			line, col = line+1, 1
		}
	}
	return Position{File: file, Line: line, Column: col}
}

// setCounter counts flows and steps across every parsed file, before any
// is decoded, and finds the first that passes MaxFlows or MaxStepsInSet.
type setCounter struct {
	flows, steps int
	at           Position
	path, msg    string
}

// countFlowSet reports whether the parsed files are within the set limits;
// if not, the counter says where and why.
func countFlowSet(files []parsedFile) (setCounter, bool) {
	var c setCounter
	for _, pf := range files {
		for _, body := range pf.docs {
			if !c.document(pf.name, body) {
				return c, false
			}
		}
	}
	return c, true
}

func (c *setCounter) document(file string, body ast.Node) bool {
	m, ok := body.(*ast.MappingNode)
	if !ok {
		return true
	}
	list, ok := mappingValue(m, "flows").(*ast.SequenceNode)
	if !ok {
		return c.flow(file, "", m)
	}
	for i, n := range list.Values {
		if !c.flow(file, fmt.Sprintf("flows[%d]", i), n) {
			return false
		}
	}
	return true
}

func (c *setCounter) flow(file, path string, n ast.Node) bool {
	if c.flows++; c.flows > MaxFlows {
		c.at, c.path, c.msg = pos(file, n), path, fmt.Sprintf("more than %d flows: a set of flow files holds at most %d", MaxFlows, MaxFlows)
		return false
	}
	m, _ := n.(*ast.MappingNode)
	if m == nil {
		return true
	}
	steps, _ := mappingValue(m, "steps").(*ast.SequenceNode)
	if steps == nil {
		return true
	}
	if c.steps+len(steps.Values) > MaxStepsInSet {
		i := MaxStepsInSet - c.steps
		c.at, c.path = pos(file, steps.Values[i]), conf.JoinPath(path, fmt.Sprintf("steps[%d]", i))
		c.msg = fmt.Sprintf("more than %d steps: a set of flow files holds at most %d", MaxStepsInSet, MaxStepsInSet)
		return false
	}
	c.steps += len(steps.Values)
	return true
}
