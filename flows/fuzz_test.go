package flows

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
)

// fuzzSeeds returns the contents of every file under testdata/load.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	err := filepath.WalkDir(filepath.Join("testdata", "load"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		seeds = append(seeds, b)
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	if len(seeds) < 20 {
		f.Fatalf("only %d seeds in testdata/load", len(seeds))
	}
	return seeds
}

// FuzzLoadBytes checks that LoadBytes never panics on any input; that its
// error is always Problems, each with the file name and a position that is
// not negative; and that a loaded Set is sound (named flows with steps,
// unique names and step ids).
func FuzzLoadBytes(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{"", "---", "flows:", "flows: [1]", "steps: [[]]", "name: a\nsteps: [{kind: http}]", "\t", "{", "- - -", "a: &a [*a]", "*x", "!!binary x"} {
		f.Add([]byte(s))
	}
	opts := LoadOptions{Secrets: conf.SecretSource{LookupEnv: func(string) (string, bool) { return "", false }, CredentialsDir: "/nonexistent"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := LoadBytes(opts, "fuzz.yaml", data)
		if err != nil {
			ps, ok := err.(conf.Problems)
			if !ok {
				t.Fatalf("error is %T, not Problems: %v", err, err)
			}
			if set != nil {
				t.Fatal("both a Set and an error")
			}
			if len(ps) == 0 {
				t.Fatal("empty Problems as an error")
			}
			for _, p := range ps {
				checkProblem(t, p)
			}
			return
		}
		if set == nil {
			t.Fatal("nil Set without an error")
		}
		for _, w := range set.Warnings {
			checkProblem(t, w)
		}
		names := map[string]bool{}
		for _, fl := range set.Flows {
			if fl.Name == "" || names[fl.Name] || len(fl.Steps) == 0 {
				t.Fatalf("unsound flow %q (%d steps, duplicate %v)", fl.Name, len(fl.Steps), names[fl.Name])
			}
			names[fl.Name] = true
			ids := map[string]bool{}
			for _, s := range fl.Steps {
				if s.Step == nil || s.ID == "" || ids[s.ID] {
					t.Fatalf("flow %q: unsound step %+v", fl.Name, s)
				}
				ids[s.ID] = true
			}
		}
	})
}

func checkProblem(t *testing.T, p *conf.Problem) {
	t.Helper()
	if p == nil {
		t.Fatal("nil Problem")
	}
	if p.Pos.File != "fuzz.yaml" || p.Pos.Line < 0 || p.Pos.Column < 0 {
		t.Fatalf("bad position %+v in %q", p.Pos, p.Error())
	}
	if p.Message == "" {
		t.Fatalf("empty message at %v", p.Pos)
	}
}
