package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout   = 90 * time.Second // a loaded 2-CPU CI machine has taken over 30 s to start node
	npmCITimeout   = 5 * time.Minute
	lockWaitLimit  = npmCITimeout + time.Minute
	stopGrace      = 5 * time.Second
	installStamp   = ".authwatch-npm-ci" // inside node_modules
	installLock    = ".npm-ci.lock"      // beside package.json, git-ignored
	minNodeMajor   = 20
	maxOutputBytes = 1 << 20
)

// NodeIdP is a running test OpenID Provider (testdata/oidc-provider/server.mjs,
// the npm package oidc-provider).
type NodeIdP struct {
	// Issuer is the issuer the provider announces (ISSUER, or by default
	// http://127.0.0.1:PORT).
	Issuer string
	// URL is where the provider listens: http://127.0.0.1:PORT. It differs
	// from Issuer when ISSUER names another host; endpoints in discovery are
	// built from the request's Host, so they follow URL.
	URL string
	// Cmd is the started process: node, or the wrapper (e.g. faketime) that
	// runs node. It leads its own process group.
	Cmd *exec.Cmd

	out  *syncBuffer
	stop func()
}

// Stop stops the provider and waits until it exited, e.g. to start it
// again on the same PORT with other settings. Cleanup stops it anyway.
func (p *NodeIdP) Stop() { p.stop() }

// Output returns what the provider printed so far (stdout and stderr).
func (p *NodeIdP) Output() string { return p.out.String() }

// ProviderDir returns testdata/oidc-provider in the repository.
func ProviderDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "testdata", "oidc-provider")
}

// NodeOIDCProvider starts testdata/oidc-provider/server.mjs and returns once
// it printed READY. env is added to the test's environment (PORT defaults to
// 0, a free port); see testdata/oidc-provider/README.md for the switches
// (ACCESS_TOKEN_TTL, KEY_SET, JWKS_KEYS, ISSUER, ...). wrapper, when given,
// is a command prefix that runs node, e.g. Faketime(t, "+2h").
//
// It runs `npm ci` first when node_modules is missing or was installed from
// another package-lock.json (once, under a file lock shared by concurrent
// test processes). Cleanup stops the process group and waits for it. Without
// node, npm or the wrapper on PATH the test is skipped, or fails when CI is
// set.
func NodeOIDCProvider(t testing.TB, env map[string]string, wrapper ...string) *NodeIdP {
	t.Helper()
	Require(t, "node")
	requireNodeVersion(t)
	if len(wrapper) > 0 {
		Require(t, wrapper[0])
	}
	dir := ProviderDir(t)
	ensureNodeModules(t, dir)

	nodePath, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	args := append(append([]string{}, wrapper...), nodePath, "server.mjs")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = providerEnv(env)
	// Its own process group, so cleanup reaches node even under a wrapper
	// (a wrapper may fork node and not pass signals on).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = stopGrace

	out := &syncBuffer{}
	lines := &lineWatcher{out: out, ready: make(chan struct{})}
	cmd.Stdout = lines
	cmd.Stderr = out
	// The server exits when this pipe closes (EXIT_ON_STDIN_EOF=1): if the
	// test binary dies without running cleanup, the kernel closes it.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("testenv: stdin pipe: %v", err)
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %q: %v", strings.Join(args, " "), err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	idp := &NodeIdP{Cmd: cmd, out: out}
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			stdin.Close()
			stopGroup(t, pgid, exited)
		})
	}
	idp.stop = stop
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("testenv: oidc-provider output:\n%s", out.String())
		}
	})

	select {
	case <-lines.ready:
	case <-exited:
		t.Fatalf("testenv: oidc-provider exited before READY (%v); output:\n%s", waitErr, out.String())
	case <-time.After(readyTimeout):
		stop()
		t.Fatalf("testenv: oidc-provider printed no READY within %s; output:\n%s", readyTimeout, out.String())
	}
	idp.Issuer, idp.URL = lines.result()
	if idp.URL == "" {
		idp.URL = idp.Issuer
	}
	t.Logf("testenv: oidc-provider %s ready in %s (pid %d)", idp.Issuer, time.Since(start).Round(time.Millisecond), pgid)
	return idp
}

// providerEnv is the test's environment plus env, with PORT=0 by default.
func providerEnv(env map[string]string) []string {
	merged := map[string]string{"PORT": "0"}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			merged[k] = v
		}
	}
	merged["EXIT_ON_STDIN_EOF"] = "1"
	for k, v := range env {
		merged[k] = v
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+merged[k])
	}
	return out
}

// stopGroup sends SIGTERM to the process group pgid, waits for its leader,
// then SIGKILLs whatever is left of the group and waits until no live
// process remains in it.
func stopGroup(t testing.TB, pgid int, exited <-chan struct{}) {
	t.Helper()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(stopGrace):
			t.Errorf("testenv: oidc-provider (pid %d) did not exit after SIGKILL", pgid)
			return
		}
	}
	// The leader is gone; a wrapper's child may outlive it for a moment.
	deadline := time.Now().Add(stopGrace)
	for {
		alive := LiveGroupMembers(pgid)
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("testenv: processes %v of group %d still alive after cleanup", alive, pgid)
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
}

// LiveGroupMembers lists the processes in process group pgid that are not
// zombies, read from /proc (Linux).
func LiveGroupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.`)

func requireNodeVersion(t testing.TB) {
	t.Helper()
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatalf("testenv: node --version: %v", err)
	}
	m := nodeVersion.FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		t.Fatalf("testenv: cannot parse node --version output %q", out)
	}
	if major, _ := strconv.Atoi(m[1]); major < minNodeMajor {
		unavailable(t, "node %s is too old for oidc-provider 9; need Node.js %d or later", strings.TrimSpace(string(out)), minNodeMajor)
	}
}

var installed sync.Map // dir -> lock file hash that is known to be installed

// ensureNodeModules runs `npm ci` in dir unless node_modules was installed
// from the current package-lock.json. A flock on dir/.npm-ci.lock keeps
// concurrent test processes from installing at the same time.
func ensureNodeModules(t testing.TB, dir string) {
	t.Helper()
	lockJSON, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	sum := sha256.Sum256(lockJSON)
	want := hex.EncodeToString(sum[:])
	if v, ok := installed.Load(dir); ok && v == want {
		return
	}

	f, err := os.OpenFile(filepath.Join(dir, installLock), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("testenv: open npm ci lock: %v", err)
	}
	defer f.Close()
	if err := flockWait(f, lockWaitLimit); err != nil {
		t.Fatalf("testenv: lock %s: %v", f.Name(), err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)

	stamp := filepath.Join(dir, "node_modules", installStamp)
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err == nil {
			installed.Store(dir, want)
			return
		}
	}

	Require(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), npmCITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: npm ci in %s failed after %s: %v\n%s", dir, time.Since(start).Round(time.Millisecond), err, out)
	}
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	installed.Store(dir, want)
	t.Logf("testenv: npm ci in %s took %s", dir, time.Since(start).Round(time.Millisecond))
}

// flockWait takes an exclusive flock on f, giving up after limit.
func flockWait(f *os.File, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still held by another process after %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, capped in size.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutputBytes - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWatcher copies the server's stdout to out and picks up the LISTEN and
// READY lines.
type lineWatcher struct {
	out     *syncBuffer
	mu      sync.Mutex
	partial []byte
	listen  string
	issuer  string
	ready   chan struct{}
	done    bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.out.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		switch {
		case strings.HasPrefix(line, "LISTEN "):
			w.listen = strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))
		case strings.HasPrefix(line, "READY ") && !w.done:
			w.issuer = strings.TrimSpace(strings.TrimPrefix(line, "READY "))
			w.done = true
			close(w.ready)
		}
	}
	if len(w.partial) > 64*1024 {
		w.partial = nil
	}
	return len(p), nil
}

func (w *lineWatcher) result() (issuer, listen string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.issuer, w.listen
}
