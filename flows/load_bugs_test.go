package flows_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

func loadProblems(t *testing.T, src string) []string {
	t.Helper()
	_, err := flows.LoadBytes(flows.LoadOptions{Secrets: loadAllSet()}, "x.yaml", []byte(src))
	if err == nil {
		return nil
	}
	var ps conf.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T: %v", err, err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return out
}

func loadAssertHas(t *testing.T, got []string, want ...string) {
	t.Helper()
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no problem contains %q in:\n%s", w, all)
		}
	}
}

// TestBugPositionsOfMappings: conf.PositionOf() of a block mapping is its token, which
// goccy/go-yaml sets to the first ':' — so "missing field" problems, flow
// Source and step Source point at a colon instead of the step or flow.
func TestBugPositionsOfMappings(t *testing.T) {
	src := `name: a
every: 1m
steps:
  - id: api
    kind: http
  - id: api
    kind: http
    url: https://api.example.com
`
	loadAssertHas(t, loadProblems(t, src),
		"x.yaml:4:5: steps[0].url: required",                                   // the step, not the ':' at 4:7
		`x.yaml:6:9: steps[1].id: step id "api" is already used at x.yaml:4:5`) // the offending id value; the first step's start

	set, err := flows.LoadBytes(flows.LoadOptions{}, "y.yaml", []byte("name: a\nevery: 1m\nsteps: [{id: a, kind: http, url: \"https://x\"}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Flows[0].Source; got.Line != 1 || got.Column != 1 {
		t.Errorf("Flow.Source = %v, want y.yaml:1:1", got)
	}
}

// TestBugValidationHiddenByEarlierProblems: the loader skips Validate when
// any earlier problem was found in the step (a bad id, a bad duration), and
// skips a flow's steps entirely when the flow has an unknown key, so the
// user fixes one thing, reloads, and meets the next. All problems must be
// reported at once.
func TestBugValidationHiddenByEarlierProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "bad status hides bad url",
			src:  "name: a\nevery: 1m\nsteps:\n  - id: a\n    kind: http\n    url: not-a-url\n    expect: {status: 700}\n",
			want: []string{"steps[0].expect.status: must be 100..599", `steps[0].url: must be an absolute http(s) URL, got "not-a-url"`},
		},
		{
			name: "missing id hides the step's own problems",
			src:  "name: a\nevery: 1m\nsteps:\n  - kind: refresh\n    token_url: https://idp.example.com/token\n",
			want: []string{"steps[0].id: required", "steps[0].client_id: required", "steps[0].refresh_token: required"},
		},
		{
			name: "unknown flow key hides every step problem",
			src:  "name: a\nevery: 1m\nlables: {a: b}\nsteps:\n  - id: Bad\n    kind: htp\n",
			want: []string{`unknown field "lables"`, "steps[0].id:", `steps[0].kind: unknown step kind "htp"`},
		},
		{
			name: "unknown step key hides the other unknown key and bad values",
			src:  "name: a\nevery: 1m\nsteps:\n  - id: a\n    kind: http\n    urll: https://x\n    methd: GET\n    expect: {status: 700}\n",
			want: []string{`unknown field "urll"`, `unknown field "methd"`, "must be 100..599"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { loadAssertHas(t, loadProblems(t, tt.src), tt.want...) })
	}
}

// TestProblemOrderStable: problems from map fields (headers, extract,
// params, labels) used to come out in Go's random map order; loader.result
// now sorts them by position.
func TestProblemOrderStable(t *testing.T) {
	src := `name: a
every: 1m
labels: {a-1: x, b-2: x, c-3: x, d-4: x}
steps:
  - id: api
    kind: http
    url: https://api.example.com
    expect:
      headers: {A: {}, B: {}, C: {}, D: {}, E: {}, F: {}}
`
	first := strings.Join(loadProblems(t, src), "\n")
	for range 20 {
		if got := strings.Join(loadProblems(t, src), "\n"); got != first {
			t.Fatalf("problem order changed between loads:\n%s\n---\n%s", first, got)
		}
	}
}

// TestBugYAMLAnchors: YAML anchors and aliases are common for shared steps
// and labels; the loader decodes sub-nodes without the document's anchors
// and does not unwrap *ast.AnchorNode, so they fail with misleading
// messages ("could not find alias", "a step must be a mapping").
func TestBugYAMLAnchors(t *testing.T) {
	tests := []struct{ name, src string }{
		{"alias of a mapping", "name: a\nevery: 1m\nlabels: &l {team: x}\nsteps:\n  - id: a\n    kind: http\n    url: https://x\n    headers: *l\n"},
		{"anchored step", "name: a\nevery: 1m\nsteps:\n  - &s\n    id: a\n    kind: http\n    url: https://x\n"},
		{"aliased steps", "flows:\n  - name: a\n    every: 1m\n    steps: &s [{id: a, kind: http, url: \"https://x\"}]\n  - name: b\n    every: 1m\n    steps: *s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadProblems(t, tt.src)
			if len(got) != 1 || !strings.Contains(got[0], "anchors and aliases are not supported") {
				t.Errorf("want one clear rejection of anchors, got:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

// TestBugStatusNotAnInteger: `status: 200.5` is silently read as 200.
func TestBugStatusNotAnInteger(t *testing.T) {
	got := loadProblems(t, "name: a\nevery: 1m\nsteps:\n  - {id: a, kind: http, url: \"https://x\", expect: {status: 200.5}}\n")
	loadAssertHas(t, got, "steps[0].expect.status: must be a status code or a list of them, got 200.5")
}

// TestBugUnclearMessages lists messages that mislead or leak Go internals.
func TestBugUnclearMessages(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		notWant []string
	}{
		{
			// load_flow.go:64: a bad every also says "a schedule is required".
			name: "bad every is not a missing schedule",
			src:  "name: a\nevery: 60\nsteps: [{id: a, kind: http, url: \"https://x\"}]\n",
			want: []string{`x.yaml:2:8: every: bad duration "60"`}, notWant: []string{"a schedule is required"},
		},
		{
			// load_flow.go:62 and :106: "required" for a value that was given.
			name: "invalid id is not missing",
			src:  "name: a\nevery: 1m\nsteps: [{id: Get-Orders, kind: http, url: \"https://x\"}]\n",
			want: []string{`steps[0].id: `, `"Get-Orders"`}, notWant: []string{"id: required"},
		},
		{
			// load.go:166 yamlError: goccy's type error names Go types and
			// loses the field path.
			name: "wrong type names the field, not Go types",
			src:  "name: a\nevery: 1m\nsteps: [{id: a, kind: http, url: \"https://x\", cookies: maybe}]\n",
			want: []string{"steps[0].cookies:"}, notWant: []string{"Go struct field", "HTTPStep.Cookies"},
		},
		{
			// load.go:166: goccy's duplicate-key message shows "[2:1]".
			name: "duplicate key names the line",
			src:  "name: a\nevery: 1m\nevery: 2m\nsteps: [{id: a, kind: http, url: \"https://x\"}]\n",
			want: []string{`x.yaml:3:1: `, `"every"`, "line 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadProblems(t, tt.src)
			loadAssertHas(t, got, tt.want...)
			for _, nw := range tt.notWant {
				if strings.Contains(strings.Join(got, "\n"), nw) {
					t.Errorf("message contains %q:\n%s", nw, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// TestBugProblemPathsQuoteKeys: map keys (labels, headers, extract) go into
// problem paths raw, so a quoted YAML key with a newline splits one problem
// over two lines (and can forge a line in CI output); a key with a '.'
// also cannot be located.
func TestBugProblemPathsQuoteKeys(t *testing.T) {
	tests := []struct{ name, src string }{
		{"label", "name: a\nevery: 1m\nlabels: {\"bad\\nkey\": x}\nsteps: [{id: a, kind: http, url: \"https://x\"}]\n"},
		{"header check", "name: a\nevery: 1m\nsteps: [{id: a, kind: http, url: \"https://x\", expect: {headers: {\"X\\nY\": {}}}}]\n"},
		{"extract", "name: a\nevery: 1m\nsteps: [{id: a, kind: http, url: \"https://x\", extract: {\"a\\nb\": {header: X}}}]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadProblems(t, tt.src)
			if len(got) != 1 {
				t.Fatalf("%d problems: %q", len(got), got)
			}
			if strings.Contains(got[0], "\n") {
				t.Errorf("problem spans lines: %q", got[0])
			}
		})
	}
}

// TestBugTemplatePlainScalars: Template.UnmarshalYAML takes a plain scalar
// "as written" (to keep client_id: 0123), but "as written" also keeps a
// multi-line plain scalar's line break and indentation (YAML folds them to
// one space) and keeps a !!str tag inside the value.
func TestBugTemplatePlainScalars(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"multi-line plain scalar", "https://x.example/a\n      /b", "https://x.example/a /b"},
		{"!!str tag", "!!str 0123", "0123"},
		{"number as written", "0123", "0123"},
		{"comment dropped", "abc # note", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "name: a\nevery: 1m\nsteps:\n  - id: a\n    kind: http\n    url: https://x.example\n    body: " + tt.yaml + "\n"
			set, err := flows.LoadBytes(flows.LoadOptions{}, "x.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if got := set.Flows[0].Steps[0].Step.(*flows.HTTPStep).Body.String(); got != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
		})
	}
}
