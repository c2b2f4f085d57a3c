package notify_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	flowsPackage = "github.com/authwatch/authwatch/flows"
	confPackage  = "github.com/authwatch/authwatch/internal/conf"
)

// TestNotifyDoesNotImportFlows: no package under notify/, nor any of their
// tests, depends on the flow engine, directly or through another package.
// Notifiers read their configuration with internal/conf, which sits below
// both; a notifier that needs more of a flow than the Event says gets it
// through Deps (ReasonLayer). Checked with `go list -deps -test ./...`
// from notify/, which names the importers when it fails.
func TestNotifyDoesNotImportFlows(t *testing.T) {
	deps := listDeps(t)
	if !slices.ContainsFunc(deps, func(l string) bool { return strings.HasPrefix(l, confPackage+" ") }) {
		t.Fatalf("%s is not among notify's dependencies: the listing is wrong\n%s", confPackage, strings.Join(deps, "\n"))
	}
	var importers []string
	for _, line := range deps {
		pkg, imports, _ := strings.Cut(line, " ")
		if pkg == flowsPackage {
			t.Errorf("notify/... depends on %s", flowsPackage)
		}
		if slices.Contains(strings.Fields(imports), flowsPackage) {
			importers = append(importers, pkg)
		}
	}
	if len(importers) > 0 {
		t.Errorf("imported by: %s", strings.Join(importers, ", "))
	}
}

// listDeps lists every package notify/... and its tests depend on, one
// "path imports..." line each.
func listDeps(t *testing.T) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goBin, err = filepath.Join(os.Getenv("GOROOT"), "bin", "go"), nil
	}
	if err != nil {
		t.Fatalf("no go command to list packages with: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "list", "-deps", "-test", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderrOf(err))
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
