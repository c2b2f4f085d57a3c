// Package testenv holds helpers for tests that need real tools and servers:
// the repository root, free ports, executables that must be installed, and a
// real OpenID Provider (see NodeOIDCProvider). Standard library only.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// aptPackages maps an executable to the Debian package that provides it.
var aptPackages = map[string]string{
	"node":                    "nodejs (Node.js 20 or later; Debian bookworm's nodejs 18 is too old for oidc-provider 9)",
	"npm":                     "npm (or a nodejs build that bundles npm)",
	"faketime":                "faketime",
	"curl":                    "curl",
	"openssl":                 "openssl",
	"nginx":                   "nginx-light",
	"prometheus-alertmanager": "prometheus-alertmanager",
	"certutil":                "libnss3-tools",
	"groff":                   "groff-base",
}

// inCI reports whether the CI environment variable is set: there, a missing
// tool is a broken machine, not a reason to skip.
func inCI() bool { return os.Getenv("CI") != "" }

// unavailable fails the test in CI and skips it elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format+" (CI is set, so this is a failure, not a skip)", args...)
	}
	t.Skipf(format, args...)
}

// Require makes sure the executable tool is on PATH. When it is not, the test
// fails if the CI environment variable is non-empty (CI must have it) and is
// skipped otherwise, naming the apt-get package that provides it.
func Require(t testing.TB, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err == nil {
		return
	}
	pkg, ok := aptPackages[tool]
	if !ok {
		pkg = "the package that provides " + tool
	}
	unavailable(t, "%s not found on PATH; install it with: apt-get install %s", tool, pkg)
}

// RepoRoot returns the directory holding go.mod, walking up from the working
// directory (a package directory while `go test` runs).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; prefer letting a server
// bind port 0 and report its port where the server can do that.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen on 127.0.0.1:0: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
