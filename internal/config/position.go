package config

import (
	"cmp"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/authwatch/authwatch/flows"
)

// pointAtUnknownKeys moves each unknown-key problem from the key's value
// (where its path leads the decoder) to the key itself, as flow files show
// it: the caret goes under the misspelt word.
func pointAtUnknownKeys(data []byte, err error) error {
	var problems flows.Problems
	if !errors.As(err, &problems) || !slices.ContainsFunc(problems, isUnknownKey) {
		return err // nothing to move: do not parse again (the file may be too deep to)
	}
	f, perr := parser.ParseBytes(data, 0)
	if perr != nil || len(f.Docs) == 0 || f.Docs[0] == nil {
		return err
	}
	for _, p := range problems {
		if !isUnknownKey(p) {
			continue
		}
		if key := keyNode(f.Docs[0].Body, p.Path); key != nil && key.GetToken() != nil {
			p.Pos.Line, p.Pos.Column = key.GetToken().Position.Line, key.GetToken().Position.Column
		}
	}
	slices.SortStableFunc(problems, func(a, b *flows.Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Column, b.Pos.Column), strings.Compare(a.Path, b.Path))
	})
	return problems
}

func isUnknownKey(p *flows.Problem) bool { return strings.HasPrefix(p.Message, "unknown field ") }

// pathSegment is one step of a problem's path: a key, a quoted key or an
// index, each after an optional dot.
var pathSegment = regexp.MustCompile(`^\.?(?:"((?:[^"\\]|\\.)*)"|([^."\[]+)|\[(\d+)\])`)

// keyNode returns the key node that path ends in under n, or nil.
func keyNode(n ast.Node, path string) ast.Node {
	var key ast.Node
	for path != "" && n != nil {
		m := pathSegment.FindStringSubmatch(path)
		if m == nil {
			return nil
		}
		path = path[len(m[0]):]
		switch {
		case m[3] != "":
			i, _ := strconv.Atoi(m[3])
			seq, ok := n.(*ast.SequenceNode)
			if !ok || i >= len(seq.Values) {
				return nil
			}
			n, key = seq.Values[i], nil
		default:
			name := m[2]
			if m[1] != "" {
				name, _ = strconv.Unquote(`"` + m[1] + `"`)
			}
			n, key = mappingEntry(n, name)
		}
	}
	return key
}

// mappingEntry returns the value and key of name in a mapping node.
func mappingEntry(n ast.Node, name string) (value, key ast.Node) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return nil, nil
	}
	for _, mv := range m.Values {
		if mv.Key.String() == name {
			return mv.Value, mv.Key
		}
	}
	return nil, nil
}
