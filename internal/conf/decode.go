package conf

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// DecodeFile decodes one YAML document into v strictly (unknown keys are
// errors), then calls v.Validate; every problem comes back as Problems with
// file:line:column. It lets other configuration files share the flow
// files' error reporting.
func DecodeFile(file string, data []byte, v interface{ Validate() error }) error {
	var ps Problems
	if p := NestingProblem(file, data); p != nil {
		return append(ps, p)
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		ps.AddYAMLError(file, "", nil, err)
		return ps
	}
	if len(f.Docs) != 1 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		ps.Add(Position{File: file}, "", "expected exactly one YAML document")
		return ps
	}
	body := f.Docs[0].Body
	m, ok := body.(*ast.MappingNode)
	if !ok {
		ps.Add(PositionOf(file, body), "", "expected a mapping")
		return ps
	}
	if t := emptyTag(m); t != nil {
		ps.Add(PositionOf(file, t), "", "a tag ("+t.Start.Value+") with no value after it")
		return ps
	}
	if err := decodeStrict(m, v); err != nil {
		ps.AddYAMLError(file, "", m, err)
		return ps
	}
	ps.AddFieldErrors(file, "", m, LoadErrors(v))
	if len(ps) == 0 {
		ps.AddFieldErrors(file, "", m, v.Validate())
	}
	if len(ps) > 0 {
		ps.Sort()
		return ps
	}
	return nil
}

// DecodeNode decodes a YAML node (from a document being decoded, such as a
// notifier's settings) into v: every unknown key, type error and bad
// Template or Duration comes back as a FieldError with its path relative to
// n, so the caller can prefix it and point at file:line:column.
func DecodeNode(n ast.Node, v any) error {
	var errs []error
	if m, ok := n.(*ast.MappingNode); ok {
		for _, u := range UnknownKeys(m, reflect.TypeOf(v), "") {
			errs = append(errs, FieldError{Path: u.Path, Err: errors.New(u.Message)})
		}
	}
	if err := decodeLoose(n, v); err != nil {
		var pe yamlError
		path := ""
		if errors.As(err, &pe) && pe.GetToken() != nil {
			path = pathAt(n, pe.GetToken().Position.Line, pe.GetToken().Position.Column)
			err = errors.New(friendlyYAMLMessage(pe.GetMessage()))
		}
		return errors.Join(append(errs, FieldError{Path: path, Err: err})...)
	}
	if err := LoadErrors(v); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// yamlError is what go-yaml's errors tell: where and what.
type yamlError interface {
	GetToken() *token.Token
	GetMessage() string
}

// Add records a problem.
func (ps *Problems) Add(pos Position, path, msg string) {
	*ps = append(*ps, &Problem{Pos: pos, Path: path, Message: msg})
}

// AddYAMLError records a go-yaml error at its token's position, naming the
// field under fallback that the position falls on (path is its prefix).
func (ps *Problems) AddYAMLError(file, path string, fallback ast.Node, err error) {
	var pe yamlError
	if errors.As(err, &pe) && pe.GetToken() != nil {
		tk := pe.GetToken()
		if field := pathAt(fallback, tk.Position.Line, tk.Position.Column); field != "" {
			path = JoinPath(path, field)
		}
		ps.Add(Position{File: file, Line: tk.Position.Line, Column: tk.Position.Column}, path, friendlyYAMLMessage(pe.GetMessage()))
		return
	}
	ps.Add(PositionOf(file, fallback), path, err.Error())
}

// AddFieldErrors records each FieldError in err (a single error or an
// errors.Join tree) at the position of its field in m, whose path is path;
// any other error at m itself. A field that already has a problem gets no
// second one: the first is the cause.
func (ps *Problems) AddFieldErrors(file, path string, m *ast.MappingNode, err error) {
	if err == nil {
		return
	}
	for _, e := range flatten(err) {
		var fe FieldError
		if !errors.As(e, &fe) {
			ps.Add(PositionOf(file, m), path, e.Error())
			continue
		}
		full, at := JoinPath(path, fe.Path), PositionOf(file, Locate(m, fe.Path))
		if ps.has(at, full) {
			continue
		}
		ps.Add(at, full, fe.Err.Error())
	}
}

func (ps Problems) has(at Position, path string) bool {
	for _, p := range ps {
		if p.Pos == at && p.Path == path {
			return true
		}
	}
	return false
}

// PositionOf is where node n starts in file.
func PositionOf(file string, n ast.Node) Position {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && !m.IsFlowStyle {
		n = m.Values[0].Key // a block mapping's own token is its first ':'
	}
	if n == nil || n.GetToken() == nil {
		return Position{File: file}
	}
	p := n.GetToken().Position
	return Position{File: file, Line: p.Line, Column: p.Column}
}

var (
	typeErrorPattern = regexp.MustCompile(`^cannot unmarshal (\S+) into Go (?:struct field \S+|value) of type (\S+)$`)
	dupKeyPattern    = regexp.MustCompile(`already defined at \[(\d+):(\d+)\]`)
)

// friendlyYAMLMessage rewrites decoder messages that speak Go into ones
// that speak YAML.
func friendlyYAMLMessage(msg string) string {
	if m := typeErrorPattern.FindStringSubmatch(msg); m != nil {
		out := fmt.Sprintf("expected %s, got %s", yamlTypeWord(m[2]), yamlTypeWord(m[1]))
		if yamlTypeWord(m[2]) == "a string" && yamlTypeWord(m[1]) == "a mapping" {
			out += ` (inside { } or [ ], quote values that contain ":", e.g. "api:read")`
		}
		return out
	}
	if m := dupKeyPattern.FindStringSubmatch(msg); m != nil {
		return dupKeyPattern.ReplaceAllString(msg, "already defined at line "+m[1]+", column "+m[2])
	}
	if strings.Contains(msg, "mapping value is not allowed in this context") {
		return msg + " (check the indentation, or quote a value that contains \": \")"
	}
	return msg
}

func yamlTypeWord(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "bool":
		return "true or false"
	case "int", "int64", "uint64", "float64":
		return "a number"
	case "string":
		return "a string"
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case strings.Contains(goType, "."):
		return "a mapping"
	}
	return goType
}

func decodeStrict(n ast.Node, v any) (err error) {
	defer RecoverDecode(&err)
	return yaml.NodeToValue(n, v, yaml.Strict())
}

// decodeLoose decodes known keys only: unknown ones are reported, all at
// once, by UnknownKeys.
func decodeLoose(n ast.Node, v any) (err error) {
	defer RecoverDecode(&err)
	return yaml.NodeToValue(n, v)
}

// RecoverDecode turns a panic of the YAML decoder into an error: a file
// is hostile input, and a reload must never take the daemon down (go-yaml
// v1.19 panicked on a tag with no value under a list field; emptyTag now
// reports that one with its position).
func RecoverDecode(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("the YAML decoder could not read this document (%v)", r)
	}
}

// emptyTag returns the first tag under n with no value after it ("key: !"),
// or nil; "!!null" alone is a null, not an empty tag.
func emptyTag(n ast.Node) *ast.TagNode {
	for _, t := range ast.Filter(ast.TagType, n) {
		tag, ok := t.(*ast.TagNode)
		if !ok || tag.Start == nil || tag.Start.Value == "!!null" {
			continue
		}
		if _, null := tag.Value.(*ast.NullNode); tag.Value == nil || null {
			return tag
		}
	}
	return nil
}

// pathAt returns the field path of the value at line:col under n, so a
// decoder error (which knows only a position) can name its field.
func pathAt(n ast.Node, line, col int) string {
	var walk func(n ast.Node, path string) (string, bool)
	walk = func(n ast.Node, path string) (string, bool) {
		if n == nil {
			return "", false
		}
		if tk := n.GetToken(); tk != nil && tk.Position.Line == line && tk.Position.Column == col && path != "" {
			return path, true
		}
		switch t := n.(type) {
		case *ast.MappingNode:
			for _, mv := range t.Values {
				if p, ok := walk(mv.Value, JoinPath(path, PathKey(mv.Key.String()))); ok {
					return p, true
				}
			}
		case *ast.SequenceNode:
			for i, v := range t.Values {
				if p, ok := walk(v, fmt.Sprintf("%s[%d]", path, i)); ok {
					return p, true
				}
			}
		}
		return "", false
	}
	p, _ := walk(n, "")
	return p
}
