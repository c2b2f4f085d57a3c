package main

// Hostile and broken input through the real binary: secret references that
// would block or are not secrets, literal secrets, and oversized flow files.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hiHangBound only catches hangs: every command here ends in well under a
// second on an idle machine.
const hiHangBound = 90 * time.Second

// hiResult is how one authwatch process ended.
type hiResult struct {
	code           int
	stdout, stderr string
}

// hiStart starts the binary with args in dir.
func hiStart(t *testing.T, bin, dir string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return cmd, &stdout, &stderr
}

// hiExited reports how cmd ended, once it has.
func hiExited(cmd *exec.Cmd, stdout, stderr *bytes.Buffer) <-chan hiResult {
	out := make(chan hiResult, 1)
	go func() {
		cmd.Wait()
		out <- hiResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	}()
	return out
}

// hiBounded waits for the result, failing the test (and killing the
// process) after hiHangBound.
func hiBounded(t *testing.T, cmd *exec.Cmd, exited <-chan hiResult) hiResult {
	t.Helper()
	select {
	case res := <-exited:
		return res
	case <-time.After(hiHangBound):
		cmd.Process.Kill()
		res := <-exited
		t.Fatalf("authwatch %s still running after %s; stderr:\n%s", strings.Join(cmd.Args[1:], " "), hiHangBound, res.stderr)
		return res
	}
}

// hiRun runs the binary to completion.
func hiRun(t *testing.T, bin, dir string, args ...string) hiResult {
	t.Helper()
	cmd, stdout, stderr := hiStart(t, bin, dir, args...)
	return hiBounded(t, cmd, hiExited(cmd, stdout, stderr))
}

func hiWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hiTokenFlow is a client_credentials flow whose client_secret is secret
// (a reference or a literal), on line 8, column 20.
func hiTokenFlow(tokenURL, secret string) string {
	return "name: hard\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: " + tokenURL + "\n" +
		"    client_id: app\n    client_secret: " + secret + "\n    client_auth: client_secret_post\n"
}

// TestHardenInputProcess runs validate and check as real processes.
func TestHardenInputProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authwatch binary; skipped with -short")
	}
	bin := rnBuild(t)
	t.Run("a FIFO secret is refused by validate and check", func(t *testing.T) { t.Parallel(); hiTestFIFOSecret(t, bin) })
	t.Run("check ends on SIGTERM with a FIFO secret being read", func(t *testing.T) { t.Parallel(); hiTestFIFOSecretSIGTERM(t, bin) })
	t.Run("odd secret files are config problems", func(t *testing.T) { t.Parallel(); hiTestOddSecretFiles(t, bin) })
	t.Run("a literal client_secret is warned about and never shown", func(t *testing.T) { t.Parallel(); hiTestLiteralSecret(t, bin) })
	t.Run("flow files over a limit are refused where they pass it", func(t *testing.T) { t.Parallel(); hiTestFlowFileLimits(t, bin) })
}

// hiTestFIFOSecret: before, `validate` and `check` blocked forever opening
// a FIFO with no writer. Now both answer at once, exit 2, and point at the
// reference.
func hiTestFIFOSecret(t *testing.T, bin string) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "secret.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	hiWriteFile(t, filepath.Join(dir, "flow.yaml"), hiTokenFlow("http://127.0.0.1:9/token", "${file:"+fifo+"}"))
	want := "flow.yaml:8:20: steps[0].client_secret: ${file:" + fifo + "}: file " + fifo + " is a named pipe, not a regular file"
	for _, cmd := range []string{"validate", "check"} {
		res := hiRun(t, bin, dir, cmd, "flow.yaml")
		if res.code != exitInvalid || !strings.Contains(res.stderr, want) {
			t.Errorf("authwatch %s: exit %d, stderr:\n%s\nwant exit %d and %q", cmd, res.code, res.stderr, exitInvalid, want)
		}
	}
}

// hiTestFIFOSecretSIGTERM: a FIFO whose writer is present but silent. The
// test holds the write end; before, check opened the FIFO and blocked in
// read, and SIGTERM (caught to cancel the run) did not end it. Now check
// never reads it and ends by itself; SIGTERM is sent once the process has
// opened the FIFO, or not at all if it refused it first.
func hiTestFIFOSecretSIGTERM(t *testing.T, bin string) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "secret.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	hiWriteFile(t, filepath.Join(dir, "flow.yaml"), hiTokenFlow("http://127.0.0.1:9/token", "${file:"+fifo+"}"))
	cmd, stdout, stderr := hiStart(t, bin, dir, "check", "flow.yaml")

	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // returns once a reader opened it
		if err == nil {
			opened <- w
		}
	}()
	exited := hiExited(cmd, stdout, stderr)
	var res hiResult
	select {
	case w := <-opened:
		defer w.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		res = hiBounded(t, cmd, exited)
	case res = <-exited:
		// Refused before opening: release the test's own blocked writer.
		if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			defer r.Close()
			(<-opened).Close()
		}
	case <-time.After(hiHangBound):
		cmd.Process.Kill()
		t.Fatalf("check neither opened the FIFO nor ended within %s", hiHangBound)
	}
	if res.code != exitInvalid {
		t.Errorf("check: exit %d, want %d; stderr:\n%s", res.code, exitInvalid, res.stderr)
	}
}

// hiTestOddSecretFiles: /dev/zero was read as a 64 KiB secret of NULs and
// ended as internal_error; a file over 64 KiB was cut silently. Both are
// configuration problems now, pointed at.
func hiTestOddSecretFiles(t *testing.T, bin string) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big-secret")
	hiWriteFile(t, big, strings.Repeat("x", 64<<10+1))
	for ref, want := range map[string]string{
		"${file:/dev/zero}":   "flow.yaml:8:20: steps[0].client_secret: ${file:/dev/zero}: file /dev/zero is a device, not a regular file",
		"${file:" + big + "}": "flow.yaml:8:20: steps[0].client_secret: ${file:" + big + "}: file " + big + " is larger than the 64 KiB limit for a secret file",
	} {
		hiWriteFile(t, filepath.Join(dir, "flow.yaml"), hiTokenFlow("http://127.0.0.1:9/token", ref))
		for _, cmd := range []string{"validate", "check"} {
			res := hiRun(t, bin, dir, cmd, "flow.yaml")
			if res.code != exitInvalid || !strings.Contains(res.stderr, want) || strings.Contains(res.stdout+res.stderr, "internal_error") {
				t.Errorf("authwatch %s with %s: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and %q", cmd, ref, res.code, res.stdout, res.stderr, exitInvalid, want)
			}
		}
	}
}

// hiLiteralCanary is a literal client_secret in a flow file.
const hiLiteralCanary = "hunter2-literal-in-flow-file"

// hiTestLiteralSecret: a literal client_secret passed validate silently
// and, echoed by the token endpoint, showed in check's table and JSON.
// Now validate warns at its file:line:col, and no output shows it.
func hiTestLiteralSecret(t *testing.T, bin string) {
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client",
			"error_description": "client secret " + r.PostForm.Get("client_secret") + " is wrong"})
	}))
	defer idp.Close()
	dir := t.TempDir()
	hiWriteFile(t, filepath.Join(dir, "flow.yaml"), hiTokenFlow(idp.URL+"/token", hiLiteralCanary))

	res := hiRun(t, bin, dir, "validate", "flow.yaml")
	want := "warning: flow.yaml:8:20: steps[0].client_secret: a literal secret: move it into a secret reference such as ${env:NAME}, ${file:/path} or ${credential:NAME}"
	if res.code != exitOK || !strings.Contains(res.stderr, want) {
		t.Errorf("validate: exit %d, stderr:\n%s\nwant exit 0 and %q", res.code, res.stderr, want)
	}
	for _, args := range [][]string{{"validate"}, {"check"}, {"check", "--json"}} {
		res := hiRun(t, bin, dir, append(args, "flow.yaml")...)
		out := res.stdout + res.stderr
		if strings.Contains(out, hiLiteralCanary) {
			t.Errorf("authwatch %s shows the literal secret:\n%s", strings.Join(args, " "), out)
		}
		if args[0] == "check" && (res.code != exitFailed || !strings.Contains(out, "invalid_client") || !strings.Contains(out, "client secret [redacted")) {
			t.Errorf("authwatch %s: exit %d, want %d with the IdP's redacted echo:\n%s", strings.Join(args, " "), res.code, exitFailed, out)
		}
	}
}

// hiTestFlowFileLimits: before, nothing bounded a flow's steps, a set's
// flows or the nesting of block mappings and "- " chains (100,000 steps:
// 8.3 s and 838 MB), and a named pipe in the flows directory hung validate.
// Each is now refused at once, at the place it passes the limit, exit 2.
func hiTestFlowFileLimits(t *testing.T, bin string) {
	step := "  - {id: s%d, kind: http, url: \"http://127.0.0.1:9/\"}\n"
	var steps, flows strings.Builder
	steps.WriteString("name: big\nevery: 1m\nsteps:\n")
	for i := 0; i <= 200; i++ {
		fmt.Fprintf(&steps, step, i)
	}
	flows.WriteString("flows:\n")
	for i := 0; i <= 10_000; i++ {
		fmt.Fprintf(&flows, "- name: f%d\n  every: 1m\n  steps:\n"+step, i, 0)
	}
	for _, tt := range []struct{ name, src, want string }{
		{"steps.yaml", steps.String(), "steps.yaml:204:5: steps[200]: a flow holds at most 200 steps; this one has 201"},
		{"flows.yaml", flows.String(), "flows.yaml:40002:3: flows[10000]: more than 10000 flows"},
		{"nesting.yaml", "steps:\n  " + strings.Repeat("- ", 100_000) + "x\n", "nesting.yaml:2:131: nesting deeper than 64 levels"},
		{"size.yaml", "name: a\n" + strings.Repeat("#"+strings.Repeat("x", 1022)+"\n", 4<<10), "size.yaml:4097:1017: the file is larger than 4 MiB, the limit for a flow file"},
	} {
		dir := t.TempDir()
		hiWriteFile(t, filepath.Join(dir, tt.name), tt.src)
		res := hiRun(t, bin, dir, "validate", tt.name)
		if res.code != exitInvalid || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("validate %s: exit %d, stderr:\n%.2000s\nwant exit %d and %q", tt.name, res.code, res.stderr, exitInvalid, tt.want)
		}
	}
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := hiRun(t, bin, dir, "validate", ".")
	if want := "pipe.yaml: a flow file must be a regular file, not a named pipe"; res.code != exitInvalid || !strings.Contains(res.stderr, want) {
		t.Errorf("validate a directory holding a named pipe: exit %d, stderr:\n%s\nwant exit %d and %q", res.code, res.stderr, exitInvalid, want)
	}
}
