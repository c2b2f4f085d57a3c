package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// secretFileCap bounds a secret file; a larger one is refused, never cut.
const secretFileCap = 64 << 10

// SecretReadTimeout bounds reading one secret file (stat, open and read): a
// stalled network filesystem must not hang validate, check, a run or a
// reload. Local files are read in microseconds.
const SecretReadTimeout = 5 * time.Second

// SecretSource resolves ${env:…}, ${file:…} and ${credential:…} references.
// Values are read on every run, so a rotated secret is used without restart.
type SecretSource struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// CredentialsDir is systemd's $CREDENTIALS_DIRECTORY (default: read from
	// the environment on each lookup).
	CredentialsDir string
}

// ErrSecretMissing marks an unset, empty or unreadable secret: a warning at
// load (it may be set only where the daemon runs), credentials_missing at
// run time.
var ErrSecretMissing = errors.New("secret missing")

// ErrSecretRefused marks a secret file that cannot be used as it is (not a
// regular file, too large, binary): an error at load, credentials_missing
// at run time (it is an ErrSecretMissing too).
var ErrSecretRefused = fmt.Errorf("%w, refused", ErrSecretMissing)

// SecretMessage returns a secret error's message without its marker, and
// whether err is a secret problem (missing or refused) at all.
func SecretMessage(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	for _, marker := range []error{ErrSecretRefused, ErrSecretMissing} {
		if errors.Is(err, marker) {
			return strings.TrimPrefix(err.Error(), marker.Error()+": "), true
		}
	}
	return err.Error(), false
}

// Resolve returns the value a secret reference names.
func (s SecretSource) Resolve(ref Ref) (string, error) {
	switch ref.Kind {
	case RefEnv:
		lookup := s.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(ref.Name)
		if !ok || v == "" {
			return "", fmt.Errorf("%w: environment variable %s is %s", ErrSecretMissing, ref.Name, unsetOrEmpty(ok))
		}
		return v, nil
	case RefFile:
		return readSecretFile(ref.Name, "file "+ref.Name)
	case RefCredential:
		dir := s.CredentialsDir
		if dir == "" {
			dir = s.env("CREDENTIALS_DIRECTORY")
		}
		if dir == "" {
			return "", fmt.Errorf("%w: credential %s: $CREDENTIALS_DIRECTORY is not set (add LoadCredential=%s:/path to the unit)", ErrSecretMissing, ref.Name, ref.Name)
		}
		return readSecretFile(filepath.Join(dir, ref.Name), "credential "+ref.Name)
	}
	return "", fmt.Errorf("reference %s is not a secret", ref)
}

func (s SecretSource) env(name string) string {
	if s.LookupEnv != nil {
		v, _ := s.LookupEnv(name)
		return v
	}
	return os.Getenv(name)
}

func readSecretFile(path, what string) (string, error) {
	return readSecretFileWithin(path, what, SecretReadTimeout, func() (string, error) { return readSecretFileNow(path, what) })
}

// stalledSecretReads holds the paths whose read outlived its deadline and
// has not returned yet: one stuck read per path at most, so a hung mount
// cannot pile up a blocked thread per run.
var stalledSecretReads sync.Map

type secretRead struct {
	value string
	err   error
}

// readSecretFileWithin reads a secret file in its own goroutine and gives
// up after limit. A read still blocked then (a hung NFS server) is left to
// finish on its own; the path is refused until it does.
func readSecretFileWithin(path, what string, limit time.Duration, read func() (string, error)) (string, error) {
	if since, stuck := stalledSecretReads.Load(path); stuck {
		return "", fmt.Errorf("%w: %s: an earlier read has not returned for %s (a stalled network filesystem?)",
			ErrSecretMissing, what, time.Since(since.(time.Time)).Round(time.Second))
	}
	done := make(chan secretRead, 1)
	go func() {
		v, err := read()
		done <- secretRead{v, err}
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.value, r.err
	case <-timer.C:
	}
	stalledSecretReads.Store(path, time.Now().Add(-limit))
	go func() {
		<-done
		stalledSecretReads.Delete(path)
	}()
	return "", stalledError{fmt.Sprintf("%s could not be read within %s (a stalled network filesystem?)", what, limit)}
}

// stalledError is a secret read that outlived its deadline: a missing
// secret for this run, and a reason for a load to stop reading others.
type stalledError struct{ msg string }

func (e stalledError) Error() string { return ErrSecretMissing.Error() + ": " + e.msg }

// Is makes a stalled read a missing secret.
func (e stalledError) Is(target error) bool { return target == ErrSecretMissing }

// IsStalled reports whether err is a secret read that outlived
// SecretReadTimeout: a load that met one need not wait for other files on
// what is likely the same stalled mount.
func IsStalled(err error) bool { return errors.As(err, new(stalledError)) }

// OpenNonBlocking opens for reading without blocking (secret and flow
// files): opening a FIFO that has no writer would wait for one forever.
func OpenNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
}

func readSecretFileNow(path, what string) (string, error) {
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return "", notRegular(what, info.Mode()) // a socket cannot even be opened
	}
	f, err := OpenNonBlocking(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s does not exist", ErrSecretMissing, what)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrSecretMissing, what, errors.Unwrap(err))
	}
	defer f.Close()
	info, err := f.Stat() // the file opened, whatever the path names now
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrSecretMissing, what, err)
	}
	if !info.Mode().IsRegular() {
		return "", notRegular(what, info.Mode())
	}
	b, err := io.ReadAll(io.LimitReader(f, secretFileCap+1))
	if err != nil {
		return "", fmt.Errorf("%w: reading %s: %v", ErrSecretMissing, what, err)
	}
	return secretFileValue(what, b)
}

// secretFileValue checks and trims a secret file's content.
func secretFileValue(what string, b []byte) (string, error) {
	switch {
	case len(b) > secretFileCap:
		return "", fmt.Errorf("%w: %s is larger than the %d KiB limit for a secret file", ErrSecretRefused, what, secretFileCap>>10)
	case bytes.IndexByte(b, 0) >= 0:
		return "", fmt.Errorf("%w: %s contains a NUL byte: a secret file holds text", ErrSecretRefused, what)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrSecretMissing, what)
	}
	return v, nil
}

func notRegular(what string, mode fs.FileMode) error {
	return fmt.Errorf("%w: %s is %s, not a regular file: a secret file must be a plain file", ErrSecretRefused, what, FileTypeName(mode))
}

// FileTypeName names a file type for messages: "a named pipe".
func FileTypeName(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

func unsetOrEmpty(set bool) string {
	if set {
		return "empty"
	}
	return "not set"
}
