package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockFileName is the state directory's lock (as Prometheus's data
// directory has one): two daemons on one state directory would run every
// flow and page every incident twice.
const lockFileName = "lock"

// stateLock is an exclusive flock on the state directory's lock file,
// which holds the holder's PID. The kernel releases it when the process
// ends however it ends, so a crash leaves no stale lock.
type stateLock struct{ f *os.File }

// lockStateDir takes the state directory's lock, or says which process
// holds it.
func lockStateDir(dir string) (*stateLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := lockHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("the state directory %s is in use by another authwatch (%s, which holds %s): "+
				"one daemon per state directory; stop it, or give this one another --state-dir", dir, holder, path)
		}
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	return &stateLock{f: f}, nil
}

// lockHolder names the PID the lock file holds (the holder writes it just
// after locking: it may not be there yet).
func lockHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:n]))); err == nil && pid > 0 {
		return "PID " + strconv.Itoa(pid)
	}
	return "PID not yet written"
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// release empties the lock file and unlocks it (closing releases the flock).
func (l *stateLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}
