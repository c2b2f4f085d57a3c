package flows_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/load/*.golden from the current output")

// loadAllSet is a secret source in which every environment variable is set, so
// that golden files hold errors only, whatever the test host's environment.
func loadAllSet() conf.SecretSource {
	return conf.SecretSource{LookupEnv: func(string) (string, bool) { return "set", true }}
}

// loadBadInputs lists testdata/load/bad-*: each .yaml file, and each directory
// (loaded as a whole, for problems that span files).
func loadBadInputs(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join("testdata", "load", "bad-*"))
	if err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, m := range matches {
		if strings.HasSuffix(m, ".golden") {
			continue
		}
		inputs = append(inputs, m)
	}
	if len(inputs) < 20 {
		t.Fatalf("found only %d bad-* inputs in testdata/load", len(inputs))
	}
	return inputs
}

// loadNormalizeKinds replaces the list of valid kinds by {{kinds}}, so that a
// new step kind does not change every golden that lists them.
// TestLoadUnknownKindListsKinds checks the list itself.
func loadNormalizeKinds(s string) string {
	var names []string
	for _, k := range flows.Kinds() {
		names = append(names, k.Name)
	}
	return strings.ReplaceAll(s, strings.Join(names, ", "), "{{kinds}}")
}

func loadGoldenPath(input string) string {
	return strings.TrimSuffix(input, ".yaml") + ".golden"
}

// TestLoadBadGolden loads every testdata/load/bad-* input and compares the
// exact problem lines (file:line:col: path: message) with its .golden file.
// Run with -update to rewrite the goldens, then review every one by eye.
func TestLoadBadGolden(t *testing.T) {
	for _, input := range loadBadInputs(t) {
		t.Run(filepath.Base(input), func(t *testing.T) {
			set, err := flows.Load(flows.LoadOptions{Secrets: loadAllSet()}, input)
			if err == nil {
				t.Fatalf("Load(%s) succeeded with %d flows; want problems", input, len(set.Flows))
			}
			var ps conf.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load(%s) error is %T, want conf.Problems: %v", input, err, err)
			}
			for _, p := range ps {
				if p.Pos.File == "" || p.Pos.Line <= 0 || p.Pos.Column <= 0 {
					t.Errorf("problem without a full position: %q", p.Error())
				}
			}
			got := loadNormalizeKinds(err.Error()) + "\n"
			golden := loadGoldenPath(input)
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./flows -run TestLoadBadGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestLoadBadOneLinePerProblem checks that each golden line is one problem
// and that Problems.Error is exactly the lines of the problems.
func TestLoadBadOneLinePerProblem(t *testing.T) {
	for _, input := range loadBadInputs(t) {
		t.Run(filepath.Base(input), func(t *testing.T) {
			_, err := flows.Load(flows.LoadOptions{Secrets: loadAllSet()}, input)
			var ps conf.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error is %T, want conf.Problems", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(ps) {
				t.Fatalf("%d lines for %d problems: a message spans lines:\n%s", len(lines), len(ps), err)
			}
			for i, p := range ps {
				if lines[i] != p.Error() {
					t.Errorf("line %d = %q, want %q", i, lines[i], p.Error())
				}
				if !strings.HasPrefix(p.Error(), p.Pos.String()+": ") {
					t.Errorf("problem %q does not start with its position", p.Error())
				}
			}
		})
	}
}

// TestLoadAllProblemsAtOnce checks the count of problems in files with
// several mistakes, so that a loader that stops early cannot pass even if
// its golden were regenerated carelessly.
func TestLoadAllProblemsAtOnce(t *testing.T) {
	tests := []struct {
		name  string
		input string
		min   int
		want  []string // substrings, one per expected problem
	}{
		{
			name: "several flows", input: "bad-many.yaml", min: 13,
			want: []string{
				"flows[0].every: must be at least 1s, got 10ms",
				`flows[0].steps[0].url: must be an absolute http(s) URL, got "not-a-url"`,
				"flows[0].steps[1].expect.status: must be 100..599, got 700",
				"flows[1].cron: bad cron expression",
				"flows[1].labels.bad-label:",
				"flows[1].steps[0].password: required",
				"flows[1].steps[1].method: must be one of",
				`has no output "acces_token"`,
				`flows[2].name: flow name "first" is already used at testdata/load/bad-many.yaml:3:`,
				"flows[2].steps[0].origin: must be an absolute http(s) URL",
				"flows[2].steps[1].client_id: required",
				"flows[2].steps[1].client_secret: required for client_secret_basic",
				"flows[2].steps[1].refresh_token: required, e.g. ${steps.login.refresh_token}",
			},
		},
		{
			name: "schedules", input: "bad-schedule.yaml", min: 3,
			want: []string{
				"flows[0].cron: give either every or cron, not both",
				"flows[1].cron: bad cron expression",
				"flows[2].every: must be at least 1s, got 100ms",
			},
		},
		{
			name: "step ids", input: "bad-step-ids.yaml", min: 3,
			want: []string{
				`steps[0].id: required`,
				`steps[1].id: must be lower-case letters, digits and _, starting with a letter (got "Get-Orders")`,
				`steps[3].id: step id "api" is already used at testdata/load/bad-step-ids.yaml:9:`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flows.Load(flows.LoadOptions{Secrets: loadAllSet()}, filepath.Join("testdata", "load", tt.input))
			var ps conf.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error is %T, want conf.Problems: %v", err, err)
			}
			if len(ps) < tt.min {
				t.Errorf("%d problems, want at least %d:\n%v", len(ps), tt.min, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no problem mentions %q in:\n%v", w, err)
				}
			}
		})
	}
}

// TestLoadNothingPartial checks that a file with one bad flow beside good
// ones yields no Set at all.
func TestLoadNothingPartial(t *testing.T) {
	set, err := flows.Load(flows.LoadOptions{Secrets: loadAllSet()}, filepath.Join("testdata", "load", "bad-dup-names"))
	if err == nil || set != nil {
		t.Fatalf("Load = %v, %v; want nil and problems", set, err)
	}
}

func TestLoadPathErrors(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{name: "missing path", path: filepath.Join(empty, "nope.yaml"), want: "no such file or directory"},
		{name: "directory without flow files", path: empty, want: "no flow files (*.yaml, *.yml) in " + empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flows.Load(flows.LoadOptions{}, tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%s) = %v, want an error containing %q", tt.path, err, tt.want)
			}
		})
	}
}
