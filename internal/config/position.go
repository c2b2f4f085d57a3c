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

	"github.com/authwatch/authwatch/internal/conf"
)

// pointAtUnknownKeys moves each unknown-key problem from the key's value
// (where its path leads the decoder) to the key itself, as flow files show
// it: the caret goes under the misspelt word.
func pointAtUnknownKeys(data []byte, err error) error {
	var problems conf.Problems
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
			tk := key.GetToken()
			p.Pos.Line, p.Pos.Column = tk.Position.Line, keyColumn(data, tk.Position.Line, tk.Position.Column, tk.Value)
		}
	}
	slices.SortStableFunc(problems, func(a, b *conf.Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Column, b.Pos.Column), strings.Compare(a.Path, b.Path))
	})
	return problems
}

// keyColumn corrects a key's column that points at blank space, which the
// YAML parser reports for some odd layouts (a key whose ':' is on the next
// line, "0 \n:"; a tag in a flow mapping): the caret goes to the key's text
// nearest after it on the line, else before it, else (a key that is not
// UTF-8) to the next non-blank character.
func keyColumn(data []byte, line, col int, value string) int {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) || value == "" {
		return col
	}
	text := lines[line-1]
	if col >= 1 && col <= len(text) && text[col-1] != ' ' && text[col-1] != '\t' {
		return col
	}
	at := min(max(col-1, 0), len(text))
	if i := strings.Index(text[at:], value); i >= 0 {
		return at + i + 1
	}
	if i := strings.LastIndex(text[:at], value); i >= 0 {
		return i + 1
	}
	// The key's text is not on the line as the parser gives it (bytes that
	// are not UTF-8 come back as U+FFFD): the next non-blank character.
	if i := strings.IndexFunc(text[at:], func(r rune) bool { return r != ' ' && r != '\t' }); i >= 0 {
		return at + i + 1
	}
	return col
}

func isUnknownKey(p *conf.Problem) bool { return strings.HasPrefix(p.Message, "unknown field ") }

// keyNode returns the key node that path ends in under n, or nil. Keys are
// matched against the mapping's own keys (plain or quoted as in paths), so
// that a key holding '.', '"' or '[' is found too.
func keyNode(n ast.Node, path string) ast.Node {
	var key ast.Node
	for path != "" {
		path = strings.TrimPrefix(path, ".")
		switch node := n.(type) {
		case *ast.SequenceNode:
			m := indexSegment.FindStringSubmatch(path)
			if m == nil {
				return nil
			}
			i, err := strconv.Atoi(m[1])
			if err != nil || i >= len(node.Values) {
				return nil
			}
			n, key, path = node.Values[i], nil, path[len(m[0]):]
		case *ast.MappingNode:
			mv, rest := entryFor(node, path)
			if mv == nil {
				return nil
			}
			n, key, path = mv.Value, mv.Key, rest
		default:
			return nil
		}
	}
	return key
}

var indexSegment = regexp.MustCompile(`^\[(\d+)\]`)

// entryFor returns the entry of m whose key (plain or quoted) starts path
// as a whole segment, the longest such, and the rest of path.
func entryFor(m *ast.MappingNode, path string) (*ast.MappingValueNode, string) {
	var best *ast.MappingValueNode
	rest := ""
	for _, mv := range m.Values {
		k := mv.Key.String()
		for _, form := range []string{k, strconv.Quote(k)} {
			tail, ok := strings.CutPrefix(path, form)
			if ok && (tail == "" || tail[0] == '.' || tail[0] == '[') && (best == nil || len(tail) < len(rest)) {
				best, rest = mv, tail
			}
		}
	}
	return best, rest
}
