package conf

import (
	"errors"
	"fmt"
	"github.com/goccy/go-yaml/ast"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Template is a string that may reference secrets and earlier steps' outputs:
//
//	${env:NAME}          an environment variable (a secret)
//	${file:/path}        a file's content, trailing newline trimmed (a secret)
//	${credential:NAME}   a systemd credential from $CREDENTIALS_DIRECTORY (a secret)
//	${steps.ID.NAME}     an output of an earlier step, e.g. ${steps.token.access_token}
//
// "$${" writes a literal "${". References are parsed at load and resolved at
// run time, on every run, so a rotated secret is picked up without a restart;
// the resolved value is never kept in the flow.
type Template struct {
	raw   string
	parts []templatePart
	err   error
	// secretField marks a secret-bearing field (client_secret, password...):
	// its value is redacted even when written as a literal.
	secretField bool
}

// RefKind is what a reference names: a secret source or a step's output.
type RefKind string

// The reference kinds, as written before the colon or dot.
const (
	RefEnv        RefKind = "env"
	RefFile       RefKind = "file"
	RefCredential RefKind = "credential"
	RefStep       RefKind = "steps"
)

type templatePart struct {
	literal string
	ref     *Ref
}

// Ref is one ${...} reference in a Template.
type Ref struct {
	Kind   RefKind
	Name   string // env var, file path, credential name, or step id
	Output string // for step references: the output name
}

// IsSecret reports whether the reference names a secret source.
func (r Ref) IsSecret() bool { return r.Kind != RefStep }

func (r Ref) String() string {
	if r.Kind == RefStep {
		return "${steps." + r.Name + "." + r.Output + "}"
	}
	return "${" + string(r.Kind) + ":" + r.Name + "}"
}

var (
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	credName     = regexp.MustCompile(`^[A-Za-z0-9_.@-]+$`)
	stepOutputID = regexp.MustCompile(`^steps\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$`)
)

// NewTemplate parses s; a malformed reference is kept as the template's
// error and reported by validation with the field's position.
func NewTemplate(s string) Template {
	t := Template{raw: s}
	t.parts, t.err = parseTemplate(s)
	return t
}

// LiteralTemplate is a template of s as it is, "${" included: for values
// that come from elsewhere than a flow file, such as a command-line flag.
func LiteralTemplate(s string) Template {
	if s == "" {
		return Template{}
	}
	return Template{raw: s, parts: []templatePart{{literal: s}}}
}

// UnmarshalText implements encoding.TextUnmarshaler (used by the YAML decoder).
func (t *Template) UnmarshalText(b []byte) error {
	*t = NewTemplate(string(b))
	return nil
}

// UnmarshalYAML implements yaml.NodeUnmarshaler. A plain scalar is taken
// as written: decoding it as YAML first would turn client_id: 0123 into
// "83". (A node, not bytes: goccy formats the whole file for every
// BytesUnmarshaler value, which made loading quadratic in file size.)
func (t *Template) UnmarshalYAML(node ast.Node) error {
	*t = templateFromNode(node)
	return nil
}

func templateFromNode(node ast.Node) Template {
	for {
		tagged, ok := node.(*ast.TagNode) // !!str 0123: the value as written
		if !ok {
			break
		}
		node = tagged.Value
	}
	switch n := node.(type) {
	case *ast.StringNode:
		return NewTemplate(n.Value)
	case *ast.LiteralNode:
		return NewTemplate(n.Value.Value)
	case *ast.NullNode:
		return Template{}
	case *ast.MappingNode, *ast.MappingValueNode:
		return Template{raw: n.String(), err: fmt.Errorf("must be a string, got a mapping")}
	case *ast.SequenceNode:
		return Template{raw: n.String(), err: fmt.Errorf("must be a string, got a list")}
	case nil:
		return Template{}
	}
	if tk := node.GetToken(); tk != nil {
		return NewTemplate(tk.Value) // a number or boolean, kept as written
	}
	return NewTemplate(node.String())
}

// MarshalText shows the template as written: references, never values.
func (t Template) MarshalText() ([]byte, error) { return []byte(t.raw), nil }

// String returns the template as written.
func (t Template) String() string { return t.raw }

// IsZero reports whether the template is empty.
func (t Template) IsZero() bool { return t.raw == "" }

// Refs returns the template's references.
func (t Template) Refs() []Ref {
	var refs []Ref
	for _, p := range t.parts {
		if p.ref != nil {
			refs = append(refs, *p.ref)
		}
	}
	return refs
}

// LoadErr is the error of a malformed reference, reported with the
// field's position.
func (t Template) LoadErr() error { return t.err }

// IsLiteral reports whether the template is text only, without references.
func (t Template) IsLiteral() bool {
	return t.err == nil && t.raw != "" && len(t.Refs()) == 0
}

// parseTemplate splits s into literals and references. Its errors give the
// position of the problem, never the text: the field may hold a literal
// secret (a password with "${" in it).
func parseTemplate(s string) ([]templatePart, error) {
	var parts []templatePart
	full := s
	at := func(i int) int { // 1-based character position of s[i] in full
		return utf8.RuneCountInString(full[:len(full)-len(s)+i]) + 1
	}
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			parts = append(parts, templatePart{literal: s})
			break
		}
		if i > 0 && s[i-1] == '$' { // "$${" is an escaped "${"
			parts = append(parts, templatePart{literal: s[:i-1] + "${"})
			s = s[i+2:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed reference at character %d: write ${kind:name}, or $${ for a literal ${", at(i))
		}
		ref, err := parseRef(s[i+2 : i+end])
		if err != nil {
			return nil, fmt.Errorf("bad reference at character %d: %w", at(i), err)
		}
		parts = append(parts, templatePart{literal: s[:i]}, templatePart{ref: &ref})
		s = s[i+end+1:]
	}
	return parts, nil
}

func parseRef(body string) (Ref, error) {
	if m := stepOutputID.FindStringSubmatch(body); m != nil {
		return Ref{Kind: RefStep, Name: m[1], Output: m[2]}, nil
	}
	kind, name, ok := strings.Cut(body, ":")
	switch {
	case ok && kind == "env" && envName.MatchString(name):
		return Ref{Kind: RefEnv, Name: name}, nil
	case ok && kind == "file" && strings.HasPrefix(name, "/"):
		return Ref{Kind: RefFile, Name: name}, nil
	case ok && kind == "credential" && credName.MatchString(name):
		return Ref{Kind: RefCredential, Name: name}, nil
	}
	return Ref{}, errors.New("expected ${env:NAME}, ${file:/absolute/path}, ${credential:NAME} or ${steps.ID.OUTPUT}")
}

// ExpandSecrets resolves a template that may reference secrets but not
// steps (configuration outside flows: notifier URLs, API keys). It is read
// afresh on every call, so a rotated secret is used without a restart.
func (t Template) ExpandSecrets(src SecretSource) (string, error) {
	return t.Expand(func(ref Ref) (string, error) {
		if ref.Kind == RefStep {
			return "", fmt.Errorf("%s: step outputs are not available here", ref)
		}
		return src.Resolve(ref)
	})
}

// Expand writes the template out with each reference replaced by what
// resolve returns for it, in order; it stops at the first error, which is
// the template's own load error when it has one.
func (t Template) Expand(resolve func(Ref) (string, error)) (string, error) {
	if t.err != nil {
		return "", t.err
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref == nil {
			b.WriteString(p.literal)
			continue
		}
		v, err := resolve(*p.ref)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// MarkSecretField marks the template as the value of a secret-bearing field
// (client_secret, password...): its expansion is redacted even when it is
// written as a literal.
func (t *Template) MarkSecretField() { t.secretField = true }

// SecretField reports whether MarkSecretField was called.
func (t Template) SecretField() bool { return t.secretField }

// HasStepRefs reports whether the template references step outputs.
func (t Template) HasStepRefs() bool {
	for _, r := range t.Refs() {
		if r.Kind == RefStep {
			return true
		}
	}
	return false
}
