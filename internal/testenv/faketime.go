package testenv

import (
	"path/filepath"
	"testing"
)

// Faketime returns the argv prefix that runs a command under libfaketime
// with its clock shifted by offset: "env LD_PRELOAD=…/libfaketime.so.1
// FAKETIME=+2h". Pass it as the wrapper of NodeOIDCProvider or as
// NginxOptions.Wrapper. Without libfaketime (Debian package faketime) the
// test is skipped, or fails when CI is set.
//
// It preloads the library itself rather than running the faketime wrapper:
// the wrapper makes a named semaphore and shared memory per process
// (/dev/shm/sem.faketime_sem_PID) that outlive it when cleanup kills it, and
// a later wrapper that draws the same PID then refuses to start
// ("faketime: sem_open: File exists"); seen in CI. The library makes the
// same pair when it runs without the wrapper, but a stale pair there only
// means no sharing, which a relative offset does not need. The command also
// runs as the process itself, so signals reach it.
//
// offset is libfaketime's relative form: a sign, a number and a unit
// (s, m, h, d or y), e.g. "-2h" or "+90s". faketime cannot skew a Go
// program (Go reads the clock without libc): wrap a C or Node process.
func Faketime(t testing.TB, offset string) []string {
	t.Helper()
	Require(t, "env")
	lib := libfaketime()
	if lib == "" {
		unavailable(t, "libfaketime.so.1 not found; install it with: apt-get install %s", aptPackages["faketime"])
	}
	return []string{"env", "LD_PRELOAD=" + lib, "FAKETIME=" + offset}
}

// libfaketime finds Debian's libfaketime.so.1 (multiarch directory first).
func libfaketime() string {
	for _, pattern := range []string{
		"/usr/lib/*/faketime/libfaketime.so.1",
		"/usr/lib/faketime/libfaketime.so.1",
		"/usr/local/lib/faketime/libfaketime.so.1",
	} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}
