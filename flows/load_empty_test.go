package flows_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// TestLoadEmptyDirectory: a directory without flow files (a fresh
// install's flows.d) is an error by default (check has nothing to run) and
// an empty set with a warning naming the directory when AllowEmpty is set
// (the daemon, validate); a missing path stays an error either way.
func TestLoadEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("put flows here"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := flows.Load(flows.LoadOptions{}, dir); !errors.Is(err, flows.ErrNoFlowFiles) {
		t.Errorf("Load(empty dir) = %v, want ErrNoFlowFiles", err)
	}
	set, err := flows.Load(flows.LoadOptions{AllowEmpty: true}, dir)
	if err != nil || len(set.Flows) != 0 {
		t.Fatalf("Load(empty dir, AllowEmpty) = %v, %v; want an empty set", set, err)
	}
	if len(set.Warnings) != 1 || !strings.Contains(set.Warnings[0].Error(), dir+": no flow files") {
		t.Errorf("warnings %v, want one naming %s", set.Warnings, dir)
	}
	if _, err := flows.Load(flows.LoadOptions{AllowEmpty: true}, filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Load(missing dir, AllowEmpty) succeeded")
	}
}
