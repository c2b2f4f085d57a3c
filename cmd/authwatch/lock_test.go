package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunOneDaemonPerStateDir: a second `authwatch run` on the state
// directory of a running one refuses at once, exit 1, naming the directory
// and the running daemon's PID (both would otherwise run every flow and
// page twice); once the first stops, the directory is free again, and a
// first daemon killed with SIGKILL does not block the next start (the lock
// is an flock, released by the kernel with the process).
func TestRunOneDaemonPerStateDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authwatch binary; skipped with -short")
	}
	bin := rnBuild(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	flow := "name: idle\nevery: 1h\nsteps:\n  - id: call\n    kind: http\n    url: http://127.0.0.1:1/\n    expect: {status: 200}\n"
	cfg := rnSetup(t, stateDir, map[string]string{"idle.yaml": flow})
	first := rnStart(t, bin, cfg, nil, true)

	second := rnStart(t, bin, cfg, nil, false)
	select {
	case <-second.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("a second daemon on the same state directory still runs after 15s; output:\n%s", second.out.String())
	}
	out := second.out.String()
	if code := second.cmd.ProcessState.ExitCode(); code != exitFailed {
		t.Errorf("second daemon: exit %d, want %d", code, exitFailed)
	}
	pid := fmt.Sprint(first.cmd.Process.Pid)
	if !strings.Contains(out, stateDir) || !strings.Contains(out, "PID "+pid) || strings.Contains(out, "authwatch started") {
		t.Errorf("second daemon's output does not refuse naming %s and PID %s:\n%s", stateDir, pid, out)
	}
	t.Logf("second daemon: %s", lastLine(out))

	if st, _ := first.stop(syscall.SIGTERM, 30*time.Second); !st.Success() {
		t.Fatalf("first daemon: %v", st)
	}
	third := rnStart(t, bin, cfg, nil, true)
	if err := third.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-third.exited
	rnStart(t, bin, cfg, nil, true) // SIGKILL left the lock file, not the lock
}
