package flows

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/authwatch/authwatch/internal/conf"
)

// Set is a loaded, validated set of flows.
type Set struct {
	Flows    []*Flow
	Warnings conf.Problems // not fatal: e.g. a secret that is not set here
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
	Secrets conf.SecretSource
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
		f.Timeout = conf.Dur(d.Timeout)
	}
	if f.ClockSkew.IsZero() && d.ClockSkew > 0 {
		f.ClockSkew = conf.Dur(d.ClockSkew)
	}
}

// Load reads flows from files and directories (every *.yaml and *.yml in a
// directory, in name order). Each file is parsed on its own, and every
// problem in every file is reported at once as Problems, each pointing at
// file:line:column. Nothing is partially loaded: an error means no Set.
func Load(opts LoadOptions, paths ...string) (*Set, error) {
	files, err := expandPaths(paths)
	if errors.Is(err, ErrNoFlowFiles) && opts.AllowEmpty {
		return &Set{Warnings: conf.Problems{{Pos: conf.Position{File: strings.Join(paths, ", ")}, Message: ErrNoFlowFiles.Error() + ": nothing is monitored"}}}, nil
	}
	if err != nil {
		return nil, err
	}
	l := newLoader(opts)
	// One file at a time: its bytes and syntax tree are garbage once its
	// flows are decoded. (Holding every file's tree until all were parsed
	// made the syntax trees of 10,000 files live at once at start.)
	for _, file := range files {
		data, err := readFlowFile(file)
		if err != nil {
			l.problems.Add(conf.Position{File: file}, "", err.Error())
			continue
		}
		if pf, ok := l.parse(file, data); ok {
			l.decodeFile(pf)
		}
	}
	return l.result()
}

// LoadBytes loads flows from one in-memory file (name is used in messages).
func LoadBytes(opts LoadOptions, name string, data []byte) (*Set, error) {
	l := newLoader(opts)
	if pf, ok := l.parse(name, data); ok {
		l.decodeFile(pf)
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
	problems conf.Problems
	warnings conf.Problems
	names    map[string]conf.Position

	secrets        map[conf.Ref]error // each secret reference is read once per load
	secretsStalled bool               // a secret file did not answer in time

	// count counts flows and steps against the set limits as files are
	// decoded; overLimit is set at the first file that passes one.
	count     setCounter
	overLimit bool
	// decodeProblems are the problems found decoding files, apart from
	// those of reading and parsing them: a set over a limit reports only
	// where it passes the limit (and the files it could not parse), as
	// when every file was counted before any was decoded.
	decodeProblems conf.Problems
}

func newLoader(opts LoadOptions) *loader {
	return &loader{opts: opts, names: map[string]conf.Position{}, secrets: map[conf.Ref]error{}}
}

func (l *loader) result() (*Set, error) {
	l.problems = append(l.problems, l.decodeProblems...)
	l.problems.Sort()
	l.warnings.Sort()
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return &Set{Flows: l.flows, Warnings: l.warnings}, nil
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
		l.problems.Add(offsetPosition(name, data, MaxFlowFileSize), "", fmt.Sprintf("the file is larger than %d MiB, the limit for a flow file: split it", MaxFlowFileSize>>20))
		return pf, false
	}
	if p := conf.NestingProblem(name, data); p != nil {
		l.problems = append(l.problems, p)
		return pf, false
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.problems.AddYAMLError(name, "", nil, err)
		return pf, false
	}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if p := conf.DeepNodeProblem(name, doc.Body); p != nil {
			l.problems = append(l.problems, p)
			pf.hadProblems = true
			continue
		}
		if n := firstAlias(doc.Body); n != nil {
			l.problems.Add(conf.PositionOf(name, n), "", "YAML anchors and aliases are not supported in flow files: write the value out")
			pf.hadProblems = true
			continue
		}
		pf.docs = append(pf.docs, doc.Body)
	}
	return pf, true
}

// decodeFile decodes a parsed file's flows, unless with the files before
// it the set holds more than MaxFlows flows or MaxStepsInSet steps: then
// this file's flows are not decoded, nor those of any file after it, and
// the flows decoded so far are dropped (with their problems): the set is
// refused at the place it passes the limit.
func (l *loader) decodeFile(pf parsedFile) {
	if l.overLimit {
		return
	}
	for _, body := range pf.docs {
		if !l.count.document(pf.name, body) {
			l.overLimit = true
			l.flows, l.warnings, l.decodeProblems = nil, nil, nil
			l.problems.Add(l.count.at, l.count.path, l.count.msg)
			return
		}
	}
	parseProblems := len(l.problems)
	before := len(l.flows)
	for _, body := range pf.docs {
		l.document(pf.name, body)
	}
	if len(l.flows) == before && len(l.problems) == parseProblems && !pf.hadProblems {
		l.warnings = append(l.warnings, &conf.Problem{Pos: conf.Position{File: pf.name}, Message: "this file defines no flows"})
	}
	l.decodeProblems = append(l.decodeProblems, l.problems[parseProblems:]...)
	l.problems = l.problems[:parseProblems]
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

// document is either {flows: [...]} or a single flow.
func (l *loader) document(file string, body ast.Node) {
	m, ok := body.(*ast.MappingNode)
	if !ok {
		l.problems.Add(conf.PositionOf(file, body), "", "expected a flow (a mapping with name and steps) or a mapping with a flows list")
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
				l.problems.Add(conf.PositionOf(file, mv.Key), "", fmt.Sprintf("unknown top-level key %q: a flow file holds `flows:` or a single flow", key))
			}
		}
	}
	seq, ok := flowsNode.(*ast.SequenceNode)
	if !ok {
		l.problems.Add(conf.PositionOf(file, flowsNode), "flows", "must be a list of flows")
		return
	}
	for i, n := range seq.Values {
		fm, ok := n.(*ast.MappingNode)
		if !ok {
			l.problems.Add(conf.PositionOf(file, n), fmt.Sprintf("flows[%d]", i), "must be a mapping with name and steps")
			continue
		}
		l.flow(file, fmt.Sprintf("flows[%d]", i), fm)
	}
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

// decodeLoose decodes known keys only: unknown ones are reported, all at
// once, by conf.UnknownKeys.
func decodeLoose(n ast.Node, v any) (err error) {
	defer conf.RecoverDecode(&err) // a hostile file must not panic the daemon
	return yaml.NodeToValue(n, v)
}
