package config_test

// authwatch.yaml is checked like flow files: every problem at once, each
// at file:line:column, unknown keys with the closest valid name; an empty
// file is the defaults; a flow file is told apart from it.

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
)

// TestLoadReportsEveryProblemAtOnce: before, the strict decoder stopped at
// the first unknown key, without a suggestion, and hid the rest.
func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	file, _, err := load(t, `state_dri: /var/lib/authwatch
listen: 127.0.0.1:9464
flows_dir: /etc/authwatch/flows.d
max_concurent: 8
http:
  max_conections: 5
retention:
  max_age: 720h
  max_run_per_flow: 10
store_check: fast
`)
	checkProblems(t, file, err, []want{
		{1, 1, "state_dri", `unknown field "state_dri"; did you mean "state_dir"?`},
		{4, 1, "max_concurent", `did you mean "max_concurrent"?`},
		{6, 3, "http.max_conections", `did you mean "max_connections"?`},
		{9, 3, "retention.max_run_per_flow", `did you mean "max_runs_per_flow"?`},
		{10, 14, "store_check", "must be quick, full or none"},
	})
	var problems conf.Problems
	if errors.As(err, &problems) && len(problems) != 5 {
		t.Errorf("%d problems, want 5:\n%v", len(problems), err)
	}
}

// TestLoadUnknownNotifierKeySuggests: a notifier's own keys get the same.
func TestLoadUnknownNotifierKeySuggests(t *testing.T) {
	file, _, err := load(t, "notifiers:\n  chat:\n    kind: slack\n    url: ${env:SLACK_URL}\n    chanel: \"#ops\"\nroutes:\n  - {name: all, default: true, notifiers: [chat]}\n")
	checkProblems(t, file, err, []want{{5, 5, "notifiers.chat.chanel", `did you mean "channel"?`}})
}

// TestLoadEmptyConfig: before, an empty or comment-only file was "expected
// exactly one YAML document"; it is the defaults, as no file is.
func TestLoadEmptyConfig(t *testing.T) {
	for name, content := range map[string]string{
		"empty":        "",
		"blank":        "\n\n  \n",
		"comments":     "# authwatch.yaml: everything is at its default.\n# listen: 127.0.0.1:9464\n",
		"document end": "---\n# nothing yet\n",
	} {
		_, c, err := load(t, content)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(c, config.Default()) {
			t.Errorf("%s: %+v, want the defaults", name, c)
		}
	}
}

// TestCheckListen: a bare port is the usual mistake, and the message shows
// its loopback form (before, --listen 9472 was refused as "beyond loopback
// without authentication").
func TestCheckListen(t *testing.T) {
	for addr, want := range map[string]string{
		"9472":           `listen must be host:port, e.g. 127.0.0.1:9472, got "9472"`,
		"localhost":      `listen must be host:port, e.g. 127.0.0.1:9464, got "localhost"`,
		"127.0.0.1:9464": "",
		"[::1]:9464":     "",
		":9464":          "",
	} {
		err := config.CheckListen(addr)
		if got := errString(err); got != want {
			t.Errorf("CheckListen(%q) = %q, want %q", addr, got, want)
		}
	}
	file, _, err := load(t, "listen: \"9472\"\n")
	checkProblems(t, file, err, []want{{1, 9, "listen", "must be host:port, e.g. 127.0.0.1:9472"}})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestIsConfigFile tells authwatch.yaml from flow files by its top-level
// keys, so that `validate authwatch.yaml` can say what it is.
func TestIsConfigFile(t *testing.T) {
	for file, want := range map[string]bool{
		"../../systemd/authwatch.yaml":   true,
		"testdata/full.yaml":             true,
		"../../flows.d/okta.yaml":        false,
		"../../flows.d/keycloak.yaml":    false,
		"../../internal/demo/flows.yaml": false,
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := config.IsConfigFile(data); got != want {
			t.Errorf("IsConfigFile(%s) = %v, want %v", filepath.Base(file), got, want)
		}
	}
	for content, want := range map[string]bool{
		"":                                   false,
		"state_dir: /x\n":                    true,
		"name: a\nsteps: []\nstate_dir: x\n": false, // a flow with a typo is a flow
		"flows: []\n":                        false,
		"- a\n- b\n":                         false,
		"notifiers: {}\nfoo: [\n":            true, // lines, not YAML: the file's own problems come with --config
		"# state_dir: x\n":                   false,
		"  state_dir: x\n":                   false, // not top-level
	} {
		if got := config.IsConfigFile([]byte(content)); got != want {
			t.Errorf("IsConfigFile(%q) = %v, want %v", content, got, want)
		}
	}
}

// TestLoadRefusesOddFiles: --config /dev/zero, a named pipe or a huge file
// is an error at once (before: read to the end, or blocked on the pipe).
func TestLoadRefusesOddFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", config.MaxFileSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "the configuration must be a regular file",
		fifo:        "the configuration must be a regular file",
		big:         "the configuration is larger than 4 MiB",
	} {
		if _, err := config.Load(path, true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s): %v, want %q", path, err, want)
		}
	}
}

// TestLoadDeepFileIsQuick: a deeply nested file is refused by the nesting
// limit before any parser sees it, empty-file detection included.
func TestLoadDeepFileIsQuick(t *testing.T) {
	file, _, err := load(t, strings.Repeat("[", 200000))
	if err == nil || !strings.HasPrefix(err.Error(), file+":1:65: nesting deeper than 64 levels") {
		t.Errorf("Load of a deep file: %v", err)
	}
}
