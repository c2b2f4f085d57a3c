package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
)

// FuzzLoad: any file loads or fails with positioned problems, never a
// panic; an unknown-key problem points at a key, not at blank space.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"", "# c\n", "---\n", "state_dri: x\n", "http: {max_conections: 5}\n",
		"notifiers:\n  a: {kind: slack, chanel: x}\nroutes: [{name: r, default: true, notifiers: [a]}]\n",
		"\"we ird\": 1\nsilences: [{matcherz: {}}]\n", "listen: 9472\n", "[[[\n", "a: &x 1\nb: *x\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "authwatch.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path, true)
		var problems conf.Problems
		if err == nil || !errors.As(err, &problems) {
			return
		}
		lines := strings.Split(string(data), "\n")
		for _, p := range problems {
			if !strings.HasPrefix(p.Message, "unknown field ") || p.Pos.Line < 1 || p.Pos.Line > len(lines) {
				continue
			}
			// The key starts there (not the value after it, nor blank space).
			line := lines[p.Pos.Line-1]
			if col := p.Pos.Column; col < 1 || col > len(line) || line[col-1] == ' ' || line[col-1] == '\t' {
				t.Errorf("%s: column %d of line %q is no key", p.Error(), col, line)
			}
		}
	})
}

// FuzzIsConfigFile: the line scan never panics, and says no for anything
// with a top-level key of a flow.
func FuzzIsConfigFile(f *testing.F) {
	f.Add([]byte("state_dir: /x\n"))
	f.Add([]byte("name: a\nstate_dir: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if config.IsConfigFile(data) && strings.HasPrefix(string(data), "name: ") {
			t.Errorf("a file starting with name: taken for a configuration: %q", data)
		}
	})
}
