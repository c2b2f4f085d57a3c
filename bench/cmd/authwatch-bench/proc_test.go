package main

import (
	"os"
	"os/exec"
	"testing"
)

// TestProcStat: the fields read from /proc/PID/stat are this process's
// own: its parent, a CPU time that grows with work, and the CPU of a
// child it has waited for.
func TestProcStat(t *testing.T) {
	if got := ppid(os.Getpid()); got != os.Getppid() {
		t.Errorf("ppid = %d, want %d", got, os.Getppid())
	}
	before, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	reaped := reapedCPU(os.Getpid())
	// A child that burns a little CPU, waited for: the process's reaped
	// CPU cannot fall, and its own grows with the work done here.
	if err := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done").Run(); err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 100_000_000 {
		x ^= i
	}
	if x == 42 {
		t.Log("never") // keeps the loop
	}
	after, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("cpuSeconds did not grow with work: %v then %v", before, after)
	}
	if got := reapedCPU(os.Getpid()); got < reaped || got == 0 {
		t.Errorf("reapedCPU = %v after a child that burnt CPU (before: %v)", got, reaped)
	}
	if _, err := cpuSeconds(1 << 30); err == nil {
		t.Errorf("cpuSeconds of a pid that does not exist: no error")
	}
}
