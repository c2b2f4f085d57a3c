package conf

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml/parser"
)

// sample is a configuration as a package below flows would declare one.
type sample struct {
	Listen  string            `yaml:"listen"`
	Timeout Duration          `yaml:"timeout"`
	URL     Template          `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Retry   struct {
		Attempts int `yaml:"attempts"`
	} `yaml:"retry"`
}

func (s *sample) Validate() error {
	if s.Listen == "" {
		return FieldErrorf("listen", "required")
	}
	if s.Retry.Attempts > 10 {
		return PrefixErrors("retry", FieldErrorf("attempts", "must be 0..10, got %d", s.Retry.Attempts))
	}
	return nil
}

// TestDecodeFile: values decode; a field type's load error and a Validate
// error point at their field's line and column; a file that is not one
// mapping says so.
func TestDecodeFile(t *testing.T) {
	var ok sample
	if err := DecodeFile("a.yaml", []byte("listen: 127.0.0.1:9472\ntimeout: 1d\nurl: https://x/${env:P}\n"), &ok); err != nil {
		t.Fatal(err)
	}
	if ok.Timeout.Std().Hours() != 24 || len(ok.URL.Refs()) != 1 {
		t.Errorf("decoded %+v", ok)
	}
	tests := []struct{ name, yaml, want string }{
		{"bad duration", "listen: x\ntimeout: 5 minutes\n", `a.yaml:2:10: timeout: bad duration "5 minutes": write e.g. 500ms, 30s, 5m, 1h, 1d, 1w`},
		{"bad reference", "listen: x\nurl: ${nope}\n", "a.yaml:2:6: url: bad reference at character 1: expected ${env:NAME}"},
		{"validate", "timeout: 1s\n", "a.yaml:1:1: listen: required"},
		{"validate nested", "listen: x\nretry:\n  attempts: 11\n", "a.yaml:3:13: retry.attempts: must be 0..10, got 11"},
		{"type", "listen: x\nretry: {attempts: many}\n", "a.yaml:2:19: retry.attempts: expected a number, got a string"},
		{"list", "- a\n", "a.yaml:1:1: expected a mapping"},
		{"two documents", "listen: a\n---\nlisten: b\n", "a.yaml: expected exactly one YAML document"},
		// go-yaml v1.19 panicked decoding a bare tag into a map or list
		// (found by FuzzLoad): a positioned error instead.
		{"empty tag", "listen: x\nheaders: ! \n", "a.yaml:2:10: a tag (!) with no value after it"},
		{"empty named tag", "listen: x\nheaders: !foo\n", "a.yaml:2:10: a tag (!foo) with no value after it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sample
			err := DecodeFile("a.yaml", []byte(tt.yaml), &s)
			if _, isProblems := err.(Problems); !isProblems || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %v (%T)\nwant %s…", err, err, tt.want)
			}
		})
	}
}

// TestDecodeNodeReportsEverything: every unknown key (with a suggestion,
// at any depth, a map's keys quoted in paths) and every bad field value
// comes back at once, as FieldErrors relative to the node.
func TestDecodeNodeReportsEverything(t *testing.T) {
	f, err := parser.ParseBytes([]byte("listn: x\ntimeout: soon\nurl: ${env:}\nretry: {atempts: 2, colour: red}\nheaders: {X-A.b: c}\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	err = DecodeNode(f.Docs[0].Body, &sample{})
	got := err.Error()
	for _, want := range []string{
		`listn: unknown field "listn"; did you mean "listen"?`,
		`retry.atempts: unknown field "atempts"; did you mean "attempts"?`,
		`retry.colour: unknown field "colour"; valid fields here: attempts`,
		`timeout: bad duration "soon"`,
		`url: bad reference at character 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if n := len(flatten(err)); n != 5 {
		t.Errorf("%d errors, want 5:\n%s", n, got)
	}
}

// TestNestingGuards: the document's mapping is level 1, so a value may
// open MaxNesting-1 lists. The exact check on a parsed tree refuses one
// more; the text scan before parsing, a guard that counts only brackets,
// refuses the bracket past MaxNesting, where it stands.
func TestNestingGuards(t *testing.T) {
	nested := func(n int) string { return "a: " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n" }
	for _, c := range []struct {
		lists int
		deep  bool
	}{{MaxNesting - 1, false}, {MaxNesting, true}} {
		f, err := parser.ParseBytes([]byte(nested(c.lists)), 0)
		if err != nil {
			t.Fatal(err)
		}
		if p := DeepNodeProblem("n.yaml", f.Docs[0].Body); (p != nil) != c.deep {
			t.Errorf("%d lists: DeepNodeProblem = %v, want a problem: %v", c.lists, p, c.deep)
		}
	}
	if p := NestingProblem("n.yaml", []byte(nested(MaxNesting))); p != nil {
		t.Errorf("%d brackets: %v", MaxNesting, p)
	}
	past := []byte(nested(MaxNesting + 1))
	const want = "n.yaml:1:68: nesting deeper than 64 levels: this is not a flow file"
	if p := NestingProblem("n.yaml", past); p == nil || p.Error() != want {
		t.Errorf("%d brackets: %v, want %s", MaxNesting+1, p, want)
	}
	if err := DecodeFile("n.yaml", past, &sample{}); err == nil || err.Error() != want {
		t.Errorf("DecodeFile = %v, want %s", err, want)
	}
}
