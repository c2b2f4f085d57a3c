package main

// The command line as users meet it: flags anywhere, help on stdout with
// exit 0, usage and configuration errors exit 2 with a message that says
// what is valid, and the version with its licence.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/authwatch/authwatch/internal/testenv"
)

// clFlowsDir writes two flows whose token endpoint refuses at once
// (127.0.0.1:1), so that check ends quickly and fails.
func clFlowsDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		flow := fmt.Sprintf("name: %s\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: http://127.0.0.1:1/token\n    client_id: c\n    client_secret: ${env:CL_UNSET_SECRET}\n", name)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(flow), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// clConfig writes authwatch.yaml with the given extra content, its state
// and flows directories in a new directory.
func clConfig(t *testing.T, extra string) (cfg, flowsDir string) {
	t.Helper()
	dir := t.TempDir()
	flowsDir = clFlowsDir(t, "alpha")
	cfg = filepath.Join(dir, "authwatch.yaml")
	content := fmt.Sprintf("state_dir: %q\nlisten: 127.0.0.1:0\nflows_dir: %q\nwatch: false\n%s", filepath.Join(dir, "state"), flowsDir, extra)
	if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, flowsDir
}

// TestCLIFlagsAnywhere: before, a flag after a path was taken as a path
// (`check DIR --json` → "stat --json", exit 2).
func TestCLIFlagsAnywhere(t *testing.T) {
	dir := clFlowsDir(t, "alpha", "beta")
	code, stdout, stderr := runCmd(t, "check", dir, "--json", "--flow", "beta")
	if code != exitFailed {
		t.Fatalf("check DIR --json: exit %d, want %d (the flow fails); stderr:\n%s", code, exitFailed, stderr)
	}
	lines := jsonLines(t, stdout)
	if len(lines) < 2 || lines[len(lines)-2]["flow"] != "beta" || lines[len(lines)-1]["type"] != "summary" {
		t.Errorf("check DIR --json --flow beta printed:\n%s", stdout)
	}
	// Go's flag package accepted one dash before a long name: it still works.
	if code, stdout, stderr := runCmd(t, "check", "-json", dir); code != exitFailed || !json.Valid([]byte(strings.SplitN(stdout, "\n", 2)[0])) {
		t.Errorf("check -json DIR: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestCLIHelp: -h and --help print the command's help to stdout and exit 0
// (before, `validate -h` exited 2 with help on stderr and `notify test -h`
// took -h for a route's name).
func TestCLIHelp(t *testing.T) {
	for _, cmd := range [][]string{{}, {"validate"}, {"check"}, {"diagnose"}, {"notify"}, {"notify", "test"}, {"run"}, {"demo"}, {"version"}, {"completion"}} {
		for _, flag := range []string{"-h", "--help"} {
			args := append(append([]string{}, cmd...), flag)
			code, stdout, stderr := runCmd(t, args...)
			if code != exitOK || !strings.Contains(stdout, "Usage:") || stderr != "" {
				t.Errorf("authwatch %s: exit %d, want 0 with Usage on stdout\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
			}
		}
	}
	if code, stdout, _ := runCmd(t, "help", "check"); code != exitOK || !strings.Contains(stdout, "--parallel") {
		t.Errorf("authwatch help check: exit %d\n%s", code, stdout)
	}
}

// TestCLIUsageErrors: every usage error exits 2 and says what went wrong
// on stderr, with nothing on stdout.
func TestCLIUsageErrors(t *testing.T) {
	dir := clFlowsDir(t, "alpha")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"chekc"}, "check"},
		{[]string{"check", "--no-such-flag", dir}, "unknown flag: --no-such-flag"},
		{[]string{"check", "--parallel", "many", dir}, "--parallel"},
		{[]string{"diagnose"}, "URL"},
		{[]string{"diagnose", "https://a.example", "https://b.example"}, "URL"},
		{[]string{"run", "extra"}, "extra"},
		{[]string{"notify"}, "test"},
		{[]string{"notify", "test"}, "ROUTE"},
		{[]string{"demo", "--color"}, "--color"},
	} {
		code, stdout, stderr := runCmd(t, tt.args...)
		if code != exitInvalid || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("authwatch %q: exit %d, want %d and %q on stderr\nstdout:\n%s\nstderr:\n%s", tt.args, code, exitInvalid, tt.want, stdout, stderr)
		}
	}
}

// TestCLIUnknownNamesListValidOnes: an unknown flow or route name is a usage
// error that lists the names there are.
func TestCLIUnknownNamesListValidOnes(t *testing.T) {
	dir := clFlowsDir(t, "alpha", "beta", "gamma")
	code, _, stderr := runCmd(t, "check", "--flow", "nope", dir)
	if want := "no flow named nope; flows: alpha, beta, gamma"; code != exitInvalid || !strings.Contains(stderr, want) {
		t.Errorf("check --flow nope: exit %d, stderr %q; want %d and %q", code, stderr, exitInvalid, want)
	}
	cfg, _ := clConfig(t, "notifiers:\n  journal: {kind: log}\nroutes:\n  - {name: oncall, notifiers: [journal]}\n  - {name: all, default: true, notifiers: [journal]}\n")
	code, stdout, stderr := runCmd(t, "notify", "test", "nope", "--config", cfg)
	if want := "no route named nope in " + cfg + "; routes: oncall, all"; code != exitInvalid || !strings.Contains(stderr, want) || stdout != "" {
		t.Errorf("notify test nope: exit %d, stderr %q; want %d and %q", code, stderr, exitInvalid, want)
	}
	code, stdout, stderr = runCmd(t, "notify", "test", "--config", cfg, "oncall")
	if code != exitOK || !strings.Contains(stdout, "journal") {
		t.Errorf("notify test --config FILE oncall: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestCLIVersion: `version` and `--version` print the build and the licence.
func TestCLIVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _ := runCmd(t, args...)
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "authwatch dev (commit ") ||
			lines[1] != "licence: Apache-2.0 (third-party: see /usr/share/doc/authwatch or the source)" {
			t.Errorf("authwatch %s: exit %d\n%s", args[0], code, stdout)
		}
	}
}

// TestCLIRunConfigErrorsExit2: before, `run` exited 1 on a missing flows
// directory, and a --listen without a host was refused as "beyond loopback
// without authentication".
func TestCLIRunConfigErrorsExit2(t *testing.T) {
	cfg, flowsDir := clConfig(t, "")
	code, _, stderr := runCmd(t, "run", "--config", cfg, "--listen", "9472")
	if want := "listen must be host:port, e.g. 127.0.0.1:9472"; code != exitInvalid || !strings.Contains(stderr, want) || strings.Contains(stderr, "beyond loopback") {
		t.Errorf("run --listen 9472: exit %d, stderr:\n%s\nwant %d and %q", code, stderr, exitInvalid, want)
	}
	missing := filepath.Join(flowsDir, "missing")
	code, _, stderr = runCmd(t, "run", "--config", cfg, "--flows", missing)
	if code != exitInvalid || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "does not exist") {
		t.Errorf("run --flows MISSING: exit %d, stderr:\n%s\nwant %d naming %s", code, stderr, exitInvalid, missing)
	}
}

// TestCLICompletion: completion scripts for the three shells, generated
// from the same command tree as the parser.
func TestCLICompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_authwatch", "zsh": "#compdef authwatch", "fish": "complete -c authwatch"} {
		code, stdout, stderr := runCmd(t, "completion", shell)
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("completion %s: exit %d, stdout lacks %q; stderr:\n%s", shell, code, want, stderr)
		}
	}
}

// TestCLIManPage: `authwatch man` is authwatch(1) in roff, generated from
// the command tree: every command and flag is in it, with the sections a
// packaged manual has, and groff renders it without a warning.
func TestCLIManPage(t *testing.T) {
	code, page, stderr := runCmd(t, "man")
	if code != exitOK || stderr != "" {
		t.Fatalf("man: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(strings.TrimPrefix(page, ".nh\n"), `.TH "AUTHWATCH" "1"`) {
		t.Errorf("the page does not start with .TH AUTHWATCH 1:\n%.200s", page)
	}
	for _, section := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS", "FILES", "SEE ALSO"} {
		if !strings.Contains(page, "\n.SH "+section+"\n") {
			t.Errorf("no section %s", section)
		}
	}
	for _, file := range []string{"/etc/authwatch/authwatch.yaml", "/etc/authwatch/flows.d", "/var/lib/authwatch"} {
		if !strings.Contains(page, file) {
			t.Errorf("FILES lacks %s", file)
		}
	}
	root := newRoot(installed)
	for _, c := range manCommands(root) {
		if !strings.Contains(page, ".SS "+c.CommandPath()+"\n") {
			t.Errorf("no .SS %s", c.CommandPath())
		}
		c.NonInheritedFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && !strings.Contains(page, `\fB--`+f.Name+`\fP`) {
				t.Errorf("%s: flag --%s is not on the page", c.CommandPath(), f.Name)
			}
		})
	}
	if strings.Contains(page, ".SS authwatch man\n") || strings.Contains(page, ".SS authwatch help") {
		t.Error("the page lists the hidden man command or help")
	}
	testenv.Require(t, "groff")
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-P-cbou") // -P-cbou: plain text, no bold or underline
	cmd.Stdin = strings.NewReader(page)
	var out, warnings bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &warnings
	if err := cmd.Run(); err != nil || warnings.Len() > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, warnings.String())
	}
	if text := out.String(); !strings.Contains(text, "authwatch validate") || !strings.Contains(text, "EXIT STATUS") {
		t.Errorf("the rendered page lacks its commands:\n%.2000s", text)
	}
}

// clRunWith runs the command with the default paths of p.
func clRunWith(t *testing.T, p paths, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runWith(t.Context(), p, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCLIValidateConfig: `validate --config FILE` checks the daemon's
// configuration, every problem at once with its position and a suggestion,
// then the flows of its flows_dir.
func TestCLIValidateConfig(t *testing.T) {
	cfg, _ := clConfig(t, "")
	code, stdout, stderr := runCmd(t, "validate", "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "ok: "+cfg) || !strings.Contains(stdout, "ok: 1 flows, 1 steps") {
		t.Errorf("validate --config GOOD: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	bad, _ := clConfig(t, "max_concurent: 8\nnotifiers:\n  chat: {kind: slack, url: \"${env:SLACK_URL}\", chanel: \"#ops\"}\nroutes:\n  - {name: all, default: true, notifiers: [chat]}\nstore_check: fast\n")
	code, stdout, stderr = runCmd(t, "validate", "--config", bad)
	if code != exitInvalid || stdout != "" {
		t.Errorf("validate --config BAD: exit %d, stdout %q", code, stdout)
	}
	if caret := "\n     5 | max_concurent: 8\n       | ^\n"; !strings.Contains(stderr, caret) {
		t.Errorf("no caret under max_concurent:\n%s", stderr)
	}
	for _, want := range []string{
		bad + `:5:1: max_concurent: unknown field "max_concurent"; did you mean "max_concurrent"?`,
		bad + `:7:48: notifiers.chat.chanel: unknown field "chanel"; did you mean "channel"?`,
		bad + `:10:14: store_check: must be quick, full or none`,
		"3 problems in " + bad + ": the configuration is invalid",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// run reports the same, all of them (before: the first, without a suggestion).
	code, _, runStderr := runCmd(t, "run", "--config", bad)
	if code != exitInvalid || !strings.Contains(runStderr, `did you mean "max_concurrent"?`) || !strings.Contains(runStderr, `did you mean "channel"?`) {
		t.Errorf("run --config BAD: exit %d, stderr:\n%s", code, runStderr)
	}
}

// TestCLIValidateConfigAsFlowFile: before, `validate authwatch.yaml` read the
// daemon's configuration as a flow file and printed 9 wrong problems.
func TestCLIValidateConfigAsFlowFile(t *testing.T) {
	sample, err := os.ReadFile("../../systemd/authwatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "authwatch.yaml")
	if err := os.WriteFile(cfg, sample, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "validate", cfg)
	want := cfg + ": this is authwatch's own configuration, not a flow file: authwatch validate --config " + cfg
	if code != exitInvalid || !strings.Contains(stderr, want) || strings.Count(stderr, cfg+":") != 1 {
		t.Errorf("validate authwatch.yaml: exit %d, stderr:\n%s\nwant %d and only %q", code, stderr, exitInvalid, want)
	}
}

// TestCLIValidateDefaults: `validate` alone checks the installed
// configuration and its flows_dir, an empty flows_dir (a fresh install) is
// valid, and with nothing installed it says so.
func TestCLIValidateDefaults(t *testing.T) {
	cfg, flowsDir := clConfig(t, "")
	code, stdout, stderr := clRunWith(t, paths{config: cfg, flowsDir: "/nonexistent/flows.d"}, "validate")
	if code != exitOK || !strings.Contains(stdout, "ok: "+cfg) || !strings.Contains(stdout, "ok: 1 flows") {
		t.Errorf("validate with an installed config: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if err := os.Remove(filepath.Join(flowsDir, "alpha.yaml")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = clRunWith(t, paths{config: cfg, flowsDir: "/nonexistent/flows.d"}, "validate")
	if code != exitOK || !strings.Contains(stdout, "ok: 0 flows") || !strings.Contains(stderr, "no flow files") {
		t.Errorf("validate with an empty flows_dir: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = clRunWith(t, paths{config: filepath.Join(flowsDir, "none.yaml"), flowsDir: flowsDir}, "validate")
	if code != exitOK || !strings.Contains(stdout, "ok: 0 flows") {
		t.Errorf("validate with only an installed flows dir: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = clRunWith(t, paths{config: "/nonexistent/authwatch.yaml", flowsDir: "/nonexistent/flows.d"}, "validate")
	if code != exitInvalid || !strings.Contains(stderr, "nothing to check: neither /nonexistent/authwatch.yaml nor /nonexistent/flows.d exists") {
		t.Errorf("validate with nothing installed: exit %d, stderr:\n%s", code, stderr)
	}
	empty, _ := clConfig(t, "")
	if err := os.WriteFile(empty, []byte("# everything at its default\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "validate", "--config", empty, flowsDir); code != exitOK {
		t.Errorf("validate --config COMMENT-ONLY: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestCLIManPageDate: the page is dated by SOURCE_DATE_EPOCH or the commit,
// never by the clock, so that a package is reproducible.
func TestCLIManPageDate(t *testing.T) {
	for _, tt := range []struct{ epoch, commit, want string }{
		{"1765000000", "2026-01-02T03:04:05Z", "2025-12-06"},
		{"", "2026-01-02T03:04:05Z", "2026-01-02"},
		{"", "", ""},
		{"yesterday", "", ""},
	} {
		if got := manDate(tt.epoch, tt.commit); got != tt.want {
			t.Errorf("manDate(%q, %q) = %q, want %q", tt.epoch, tt.commit, got, tt.want)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1765000000")
	if _, page, _ := runCmd(t, "man"); !strings.Contains(page, `.TH "AUTHWATCH" "1" "2025-12-06"`) {
		t.Errorf("SOURCE_DATE_EPOCH does not date the page:\n%.200s", page)
	}
}
