package browser

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets TestParentKilled run this binary as the parent that dies.
func TestMain(m *testing.M) {
	if os.Getenv("AUTHWATCH_BROWSER_CHILD") == "1" {
		child()
		return
	}
	os.Exit(m.Run())
}

// child opens a session, prints its process group and profile directory,
// and waits to be killed.
func child() {
	p := NewPool(PoolOptions{ExecPath: chromiumPath, Max: 1, TempDir: os.Getenv("AUTHWATCH_BROWSER_TMP")})
	s, err := p.Open(context.Background(), SessionOptions{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(s.PID(), s.ProfileDir())
	time.Sleep(time.Minute)
}

// TestParentKilled kills the daemon's process with SIGKILL, so that no Close
// runs: the browser and its helpers must go anyway.
func TestParentKilled(t *testing.T) {
	needChromium(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "AUTHWATCH_BROWSER_CHILD=1", "AUTHWATCH_BROWSER_TMP="+tmp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %q %v", line, err)
	}
	f := strings.Fields(line)
	pgid, err := strconv.Atoi(f[0])
	if err != nil || len(f) != 2 {
		t.Fatalf("child said %q", line)
	}
	dir := f[1]
	if n := len(groupProcesses(pgid)); n < 2 {
		t.Fatalf("%d processes in group %d", n, pgid)
	}
	for _, pid := range usingDir(dir) {
		if g, _, _ := procStat(pid); g != pgid {
			t.Errorf("browser process %d is in group %d, not %d", pid, g, pgid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(groupProcesses(pgid))+len(usingDir(dir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of group %d, %v using %s, outlived their parent", groupProcesses(pgid), pgid, usingDir(dir), dir)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The next run of the daemon removes the profile directory left behind.
	p := NewPool(PoolOptions{ExecPath: chromiumPath, TempDir: tmp})
	if n, err := p.RemoveStale(0); n != 1 || err != nil {
		t.Errorf("RemoveStale = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("profile dir after RemoveStale: %v", err)
	}
}

// usingDir lists the processes with --user-data-dir=dir on their command
// line, without touching them.
func usingDir(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if _, state, ok := procStat(pid); !ok || state == 'Z' {
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if arg == "--user-data-dir="+dir {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
