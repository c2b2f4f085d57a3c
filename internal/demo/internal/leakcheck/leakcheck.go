// Package leakcheck lets the demo's tests assert that a server's Close left no
// goroutine behind, without a dependency outside go.mod.
package leakcheck

import (
	"runtime"
	"testing"
	"time"
)

// Baseline returns the current goroutine count, to be passed to Check later.
func Baseline() int { return runtime.NumGoroutine() }

// Check fails t unless the goroutine count drops back to baseline within a few
// seconds (closed connections wind down asynchronously), and then dumps all
// stacks so the leak can be found.
func Check(t testing.TB, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
