package flows

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/authwatch/authwatch/internal/conf"
)

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
	// AllowEmpty loads paths without a single flow file as an empty set
	// with a warning instead of failing with ErrNoFlowFiles: a fresh
	// install's empty flows.d is a valid configuration for the daemon.
	AllowEmpty bool
}

// ErrNoFlowFiles is Load's error when the paths hold no flow file (and
// AllowEmpty is not set).
var ErrNoFlowFiles = errors.New("no flow files (*.yaml, *.yml)")

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
	l := newLoader(LoadOptions{})
	if line, col, deep := tooDeep(data); deep {
		l.problem(Position{File: file, Line: line, Column: col}, "", nestingMessage)
		return l.problems
	}
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
		l.problems.Sort()
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
	if errors.Is(err, ErrNoFlowFiles) && opts.AllowEmpty {
		return &Set{Warnings: Problems{{Pos: Position{File: strings.Join(paths, ", ")}, Message: ErrNoFlowFiles.Error() + ": nothing is monitored"}}}, nil
	}
	if err != nil {
		return nil, err
	}
	l := newLoader(opts)
	var parsed []parsedFile
	for _, file := range files {
		data, err := readFlowFile(file)
		if err != nil {
			l.problem(Position{File: file}, "", err.Error())
			continue
		}
		if pf, ok := l.parse(file, data); ok {
			parsed = append(parsed, pf)
		}
	}
	l.decodeFiles(parsed)
	return l.result()
}

// LoadBytes loads flows from one in-memory file (name is used in messages).
func LoadBytes(opts LoadOptions, name string, data []byte) (*Set, error) {
	l := newLoader(opts)
	if pf, ok := l.parse(name, data); ok {
		l.decodeFiles([]parsedFile{pf})
	}
	return l.result()
}

// readFlowFile reads at most one byte more than a flow file may hold. It
// opens without blocking and refuses anything but a regular file: a named
// pipe in flows.d would otherwise hang every load.
func readFlowFile(path string) ([]byte, error) {
	if info, err := os.Stat(path); err != nil {
		return nil, err
	} else if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("a flow file must be a regular file, not %s", conf.FileTypeName(info.Mode()))
	}
	f, err := conf.OpenNonBlocking(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("a flow file must be a regular file")
	}
	return io.ReadAll(io.LimitReader(f, MaxFlowFileSize+1))
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
		return nil, fmt.Errorf("%w in %s", ErrNoFlowFiles, strings.Join(paths, ", "))
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

	secrets        map[Ref]error // each secret reference is read once per load
	secretsStalled bool          // a secret file did not answer in time
}

func newLoader(opts LoadOptions) *loader {
	return &loader{opts: opts, names: map[string]Position{}, secrets: map[Ref]error{}}
}

func (l *loader) result() (*Set, error) {
	l.problems.Sort()
	l.warnings.Sort()
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return &Set{Flows: l.flows, Warnings: l.warnings}, nil
}

func (l *loader) problem(pos Position, path, msg string) {
	l.problems = append(l.problems, &Problem{Pos: pos, Path: path, Message: msg})
}

// parsedFile is one flow file's YAML documents, parsed and checked for
// size, nesting and aliases, not yet decoded.
type parsedFile struct {
	name        string
	docs        []ast.Node
	hadProblems bool
}

// parse checks a file's size and nesting, then parses it; problems are
// recorded, and ok is false when nothing in it can be decoded.
func (l *loader) parse(name string, data []byte) (pf parsedFile, ok bool) {
	pf.name = name
	if len(data) > MaxFlowFileSize {
		l.problem(offsetPosition(name, data, MaxFlowFileSize), "", fmt.Sprintf("the file is larger than %d MiB, the limit for a flow file: split it", MaxFlowFileSize>>20))
		return pf, false
	}
	if line, col, deep := tooDeep(data); deep {
		l.problem(Position{File: name, Line: line, Column: col}, "", nestingMessage)
		return pf, false
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.yamlError(name, "", nil, err)
		return pf, false
	}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if n := deepNode(doc.Body, 0); n != nil {
			l.problem(pos(name, n), "", nestingMessage)
			pf.hadProblems = true
			continue
		}
		if n := firstAlias(doc.Body); n != nil {
			l.problem(pos(name, n), "", "YAML anchors and aliases are not supported in flow files: write the value out")
			pf.hadProblems = true
			continue
		}
		pf.docs = append(pf.docs, doc.Body)
	}
	return pf, true
}

var nestingMessage = fmt.Sprintf("nesting deeper than %d levels: this is not a flow file", MaxNesting)

// decodeFiles decodes every parsed file's flows, unless together they hold
// more than MaxFlows flows or MaxStepsInSet steps: then none is decoded.
func (l *loader) decodeFiles(files []parsedFile) {
	if c, ok := countFlowSet(files); !ok {
		l.problem(c.at, c.path, c.msg)
		return
	}
	for _, pf := range files {
		before := len(l.flows) + len(l.problems)
		for _, body := range pf.docs {
			l.document(pf.name, body)
		}
		if len(l.flows)+len(l.problems) == before && !pf.hadProblems {
			l.warnings = append(l.warnings, &Problem{Pos: Position{File: pf.name}, Message: "this file defines no flows"})
		}
	}
}

// firstAlias finds an alias or anchor anywhere under n.
func firstAlias(n ast.Node) ast.Node {
	var found ast.Node
	ast.Walk(visitorFunc(func(n ast.Node) bool {
		if found != nil {
			return false
		}
		switch n.(type) {
		case *ast.AliasNode, *ast.AnchorNode:
			found = n
			return false
		}
		return true
	}), n)
	return found
}

type visitorFunc func(ast.Node) bool

func (f visitorFunc) Visit(n ast.Node) ast.Visitor {
	if f(n) {
		return f
	}
	return nil
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
		if field := pathAt(fallback, tk.Position.Line, tk.Position.Column); field != "" {
			path = conf.JoinPath(path, field)
		}
		l.problem(Position{File: file, Line: tk.Position.Line, Column: tk.Position.Column}, path, friendlyYAMLMessage(pe.GetMessage()))
		return
	}
	l.problem(pos(file, fallback), path, err.Error())
}

func pos(file string, n ast.Node) Position {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && !m.IsFlowStyle {
		n = m.Values[0].Key // a block mapping's own token is its first ':'
	}
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

// decodeLoose decodes known keys only: unknown ones are reported, all at
// once, by unknownKeys.
func decodeLoose(n ast.Node, v any) error {
	return yaml.NodeToValue(n, v)
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
				if p, ok := walk(mv.Value, conf.JoinPath(path, pathKey(mv.Key.String()))); ok {
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

// DecodeNode decodes a YAML node (from a document being decoded, such as a
// notifier's settings) into v: every unknown key, type error and bad
// Template or Duration comes back as a FieldError with its path relative to
// n, so the caller can prefix it and point at file:line:column.
func DecodeNode(n ast.Node, v any) error {
	var errs []error
	if m, ok := n.(*ast.MappingNode); ok {
		for _, u := range unknownKeys(m, reflect.TypeOf(v), "") {
			errs = append(errs, FieldError{Path: u.path, Err: errors.New(u.msg)})
		}
	}
	if err := decodeLoose(n, v); err != nil {
		var pe interface {
			GetToken() *token.Token
			GetMessage() string
		}
		path := ""
		if errors.As(err, &pe) && pe.GetToken() != nil {
			path = pathAt(n, pe.GetToken().Position.Line, pe.GetToken().Position.Column)
			err = errors.New(friendlyYAMLMessage(pe.GetMessage()))
		}
		return errors.Join(append(errs, FieldError{Path: path, Err: err})...)
	}
	if err := walkLoadErrors(v, ""); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
