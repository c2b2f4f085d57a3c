//go:build !linux

package browser

import (
	"os/exec"
	"time"
)

// isolate does nothing here: process groups and the parent-death signal are
// only set up on Linux, the platform the daemon runs on.
func isolate(*exec.Cmd) {}

// reap does nothing here; chromedp kills the browser process itself.
func reap(int, string, time.Duration) {}

// processes knows no process here.
func processes(int, string) []int { return nil }

// memBytes is unknown here.
func memBytes(int, string) int64 { return 0 }
