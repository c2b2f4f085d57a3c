package conf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecretReadDeadline checks the deadline on a secret read that blocks
// inside the kernel, as a read from a hung NFS server does. The blocking
// call is real: opening a FIFO for reading without O_NONBLOCK waits for a
// writer. (The production open never blocks there; this stands in for a
// regular file on a stalled mount, which a test cannot make.) The first
// read gives up after its deadline; a second read of the same path while
// the first is still stuck fails at once instead of blocking another
// thread; once the stuck read returns, the path is read again.
func TestSecretReadDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stalled")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// The read under the deadline: a real open that blocks in the kernel.
	blockingRead := func() (string, error) {
		f, err := os.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		return "", nil
	}
	const limit = 200 * time.Millisecond // the deadline under test, not a timing assertion

	_, err := readSecretFileWithin(path, "file "+path, limit, blockingRead)
	if !errors.Is(err, ErrSecretMissing) || !errors.As(err, new(stalledError)) {
		t.Fatalf("err = %v, want a stalled read", err)
	}
	if want := "file " + path + " could not be read within 200ms"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want %q", err, want)
	}

	_, err = readSecretFileWithin(path, "file "+path, time.Hour, blockingRead)
	if err == nil || !strings.Contains(err.Error(), "an earlier read has not returned") {
		t.Fatalf("second read: err = %v, want refused at once", err)
	}

	// Release the stuck open: a writer arrives and goes, the read ends.
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, stuck := stalledSecretReads.Load(path); !stuck {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the released read never cleared its path")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
