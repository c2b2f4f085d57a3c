// Package browser runs headless Chromium sessions for the login steps whose
// login page needs JavaScript.
//
// A [Pool] limits how many browsers run at once. Each [Session] is a fresh
// browser process with a fresh temporary profile directory. The process runs
// in its own process group, with SIGKILL as its parent-death signal, and the
// whole group is killed when the session's context ends or [Session.Close] is
// called; the profile directory is removed then too. Nothing of a session
// outlives it: no process, no directory, no goroutine.
package browser

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// ErrNoBrowser is returned by [Pool.Open] when no Chromium executable was
// found. It is a configuration error: install the Debian package "chromium"
// or set the executable's path.
var ErrNoBrowser = errors.New(`no Chromium executable found (install the Debian package "chromium", or set the browser's path)`)

// ErrBusy is returned, together with the context's error, when the context of
// [Pool.Open] ends while every browser of the pool is in use.
var ErrBusy = errors.New("browser pool full")

// DefaultMax is the number of concurrent browsers of a pool whose
// PoolOptions.Max is 0.
const DefaultMax = 2

// candidates are the executables looked for when PoolOptions.ExecPath is
// empty, in this order: on PATH first, then in /usr/bin.
var candidates = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}

// PoolOptions configures a [Pool].
type PoolOptions struct {
	// ExecPath is the browser executable. Empty means the first of
	// chromium, chromium-browser, google-chrome-stable and google-chrome
	// found on PATH or in /usr/bin.
	ExecPath string
	// Max is the number of browsers that may run at once; 0 means DefaultMax.
	Max int
	// TempDir is where the profile directories are made; empty means
	// os.TempDir().
	TempDir string
}

// Pool starts browser sessions, at most Max at a time. It is safe for
// concurrent use. The zero Pool is not usable: make one with [NewPool].
type Pool struct {
	opts  PoolOptions
	slots chan struct{}

	once     sync.Once
	execPath string
	execErr  error
}

// NewPool returns a pool. It starts nothing and looks for no executable: the
// first [Pool.Open] does.
func NewPool(o PoolOptions) *Pool {
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	return &Pool{opts: o, slots: make(chan struct{}, o.Max)}
}

// Max is the number of browsers the pool runs at once.
func (p *Pool) Max() int { return cap(p.slots) }

// ExecPath returns the browser executable the pool uses, or an error that
// wraps ErrNoBrowser.
func (p *Pool) ExecPath() (string, error) {
	p.once.Do(func() { p.execPath, p.execErr = findExec(p.opts.ExecPath) })
	return p.execPath, p.execErr
}

// findExec resolves the browser executable: want itself when set, else the
// first candidate on PATH or in /usr/bin.
func findExec(want string) (string, error) {
	if want != "" {
		path, err := exec.LookPath(want)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrNoBrowser, want, err)
		}
		return path, nil
	}
	for _, name := range candidates {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
		path := filepath.Join("/usr/bin", name)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("%w: looked for %v on PATH and in /usr/bin", ErrNoBrowser, candidates)
}

// acquire takes a slot, or returns ErrBusy and the context's error when ctx
// ends first.
func (p *Pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: all %d browsers in use: %w", ErrBusy, cap(p.slots), context.Cause(ctx))
	}
}

func (p *Pool) release() { <-p.slots }

// Open starts a browser session. It waits for a free slot, bounded by ctx,
// and starts the browser. The session lives until ctx ends or
// [Session.Close] is called, whichever is first; the caller must call Close
// in any case, which frees the slot as soon as it returns.
func (p *Pool) Open(ctx context.Context, o SessionOptions) (*Session, error) {
	path, err := p.ExecPath()
	if err != nil {
		return nil, err
	}
	stop, err := parseStopAt(o.StopAt)
	if err != nil {
		return nil, err
	}
	if err := p.acquire(ctx); err != nil {
		return nil, err
	}
	s, err := start(ctx, path, p.opts.TempDir, o, stop, p.release)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return s, nil
}

// profilePrefix names the profile directories of sessions.
const profilePrefix = "authwatch-browser-"

// RemoveStale removes the profile directories that the sessions of an
// earlier run left in the pool's TempDir: a process killed with SIGKILL
// closes no session. Its browsers die with it (their parent-death signal),
// but their directories stay. A directory goes only when no process uses
// it and it has not changed for olderThan, so that the live sessions of
// another process sharing TempDir are safe. It returns how many it removed.
func (p *Pool) RemoveStale(olderThan time.Duration) (int, error) {
	dirs, err := filepath.Glob(filepath.Join(cmp.Or(p.opts.TempDir, os.TempDir()), profilePrefix+"*"))
	if err != nil {
		return 0, err
	}
	var n int
	var errs []error
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < olderThan || len(processes(0, dir)) > 0 {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
