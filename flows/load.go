package flows

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// maxFlowFileSize bounds a flow file: anything larger is a mistake.
const maxFlowFileSize = 4 << 20

// Set is a loaded, validated set of flows.
type Set struct {
	Flows    []*Flow
	Warnings Problems // not fatal: e.g. a secret that is not set here
}

// Flow returns the flow with the given name.
func (s *Set) Flow(name string) (*Flow, bool) {
	for _, f := range s.Flows {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// LoadOptions tune loading.
type LoadOptions struct {
	// Secrets is used to warn about unset secret references (never to keep
	// their values).
	Secrets SecretSource
	// Defaults apply to flows that do not set the field themselves.
	Defaults Defaults
}

// Defaults are flow settings a daemon configuration can set for all flows.
type Defaults struct {
	Timeout   time.Duration
	ClockSkew time.Duration
}

func (d Defaults) apply(f *Flow) {
	if f.Timeout.IsZero() && d.Timeout > 0 {
		f.Timeout = Dur(d.Timeout)
	}
	if f.ClockSkew.IsZero() && d.ClockSkew > 0 {
		f.ClockSkew = Dur(d.ClockSkew)
	}
}

// DecodeFile decodes one YAML document into v strictly (unknown keys are
// errors), then calls v.Validate; every problem comes back as Problems with
// file:line:column. It lets other configuration files share the flow
// files' error reporting.
func DecodeFile(file string, data []byte, v interface{ Validate() error }) error {
	l := &loader{names: map[string]Position{}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.yamlError(file, "", nil, err)
		return l.problems
	}
	if len(f.Docs) != 1 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		l.problem(Position{File: file}, "", "expected exactly one YAML document")
		return l.problems
	}
	body := f.Docs[0].Body
	m, ok := body.(*ast.MappingNode)
	if !ok {
		l.problem(pos(file, body), "", "expected a mapping")
		return l.problems
	}
	if err := decodeStrict(m, v); err != nil {
		l.yamlError(file, "", m, err)
		return l.problems
	}
	l.fieldErrors(file, "", m, walkLoadErrors(v, ""))
	if len(l.problems) == 0 {
		l.fieldErrors(file, "", m, v.Validate())
	}
	if len(l.problems) > 0 {
		l.problems.sort()
		return l.problems
	}
	return nil
}

// Load reads flows from files and directories (every *.yaml and *.yml in a
// directory, in name order). Each file is parsed on its own, and every
// problem in every file is reported at once as Problems, each pointing at
// file:line:column. Nothing is partially loaded: an error means no Set.
func Load(opts LoadOptions, paths ...string) (*Set, error) {
	files, err := expandPaths(paths)
	if err != nil {
		return nil, err
	}
	l := &loader{opts: opts, names: map[string]Position{}}
	for _, file := range files {
		data, err := readFlowFile(file)
		if err != nil {
			l.problem(Position{File: file}, "", err.Error())
			continue
		}
		l.file(file, data)
	}
	return l.result()
}

// LoadBytes loads flows from one in-memory file (name is used in messages).
func LoadBytes(opts LoadOptions, name string, data []byte) (*Set, error) {
	l := &loader{opts: opts, names: map[string]Position{}}
	l.file(name, data)
	return l.result()
}

func readFlowFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > maxFlowFileSize {
		return nil, fmt.Errorf("file is %d bytes; flow files are limited to %d", info.Size(), maxFlowFileSize)
	}
	return os.ReadFile(path)
}

func expandPaths(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no flow files (*.yaml, *.yml) in %s", strings.Join(paths, ", "))
	}
	return files, nil
}

// loader accumulates flows and problems across files.
type loader struct {
	opts     LoadOptions
	flows    []*Flow
	problems Problems
	warnings Problems
	names    map[string]Position
}

func (l *loader) result() (*Set, error) {
	l.problems.sort()
	l.warnings.sort()
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return &Set{Flows: l.flows, Warnings: l.warnings}, nil
}

func (l *loader) problem(pos Position, path, msg string) {
	l.problems = append(l.problems, &Problem{Pos: pos, Path: path, Message: msg})
}

func (l *loader) file(name string, data []byte) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.yamlError(name, "", nil, err)
		return
	}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		l.document(name, doc.Body)
	}
}

// document is either {flows: [...]} or a single flow.
func (l *loader) document(file string, body ast.Node) {
	m, ok := body.(*ast.MappingNode)
	if !ok {
		l.problem(pos(file, body), "", "expected a flow (a mapping with name and steps) or a mapping with a flows list")
		return
	}
	flowsNode := mappingValue(m, "flows")
	if flowsNode == nil {
		l.flow(file, "", m)
		return
	}
	if len(m.Values) > 1 {
		for _, mv := range m.Values {
			if key := mv.Key.String(); key != "flows" {
				l.problem(pos(file, mv.Key), "", fmt.Sprintf("unknown top-level key %q: a flow file holds `flows:` or a single flow", key))
			}
		}
	}
	seq, ok := flowsNode.(*ast.SequenceNode)
	if !ok {
		l.problem(pos(file, flowsNode), "flows", "must be a list of flows")
		return
	}
	for i, n := range seq.Values {
		fm, ok := n.(*ast.MappingNode)
		if !ok {
			l.problem(pos(file, n), fmt.Sprintf("flows[%d]", i), "must be a mapping with name and steps")
			continue
		}
		l.flow(file, fmt.Sprintf("flows[%d]", i), fm)
	}
}

// yamlError turns a go-yaml error into a Problem at its token's position.
func (l *loader) yamlError(file, path string, fallback ast.Node, err error) {
	var pe interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &pe) && pe.GetToken() != nil {
		tk := pe.GetToken()
		l.problem(Position{File: file, Line: tk.Position.Line, Column: tk.Position.Column}, path, pe.GetMessage())
		return
	}
	l.problem(pos(file, fallback), path, err.Error())
}

func pos(file string, n ast.Node) Position {
	if n == nil || n.GetToken() == nil {
		return Position{File: file}
	}
	p := n.GetToken().Position
	return Position{File: file, Line: p.Line, Column: p.Column}
}

// mappingValue returns the value node of key in m, or nil.
func mappingValue(m *ast.MappingNode, key string) ast.Node {
	for _, mv := range m.Values {
		if mv.Key.String() == key {
			return mv.Value
		}
	}
	return nil
}

// without returns a copy of m without the given keys.
func without(m *ast.MappingNode, keys ...string) *ast.MappingNode {
	out := *m
	out.Values = nil
	for _, mv := range m.Values {
		if !slices.Contains(keys, mv.Key.String()) {
			out.Values = append(out.Values, mv)
		}
	}
	return &out
}

func decodeStrict(n ast.Node, v any) error {
	return yaml.NodeToValue(n, v, yaml.Strict())
}
