package flows_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// hardHangBound only catches hangs: nothing here should take a second.
const hardHangBound = 60 * time.Second

// hardWithin runs fn and fails the test if it has not returned within
// hardHangBound (a blocked read of a secret file would never return).
func hardWithin(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(hardHangBound):
		t.Fatalf("%s: still running after %s (blocked on a secret file?)", what, hardHangBound)
	}
}

// hardSecretFile is one kind of file a ${file:} reference can name.
type hardSecretFile struct {
	name string
	make func(t *testing.T, path string) // creates the file at path
	want string                          // in the message
}

func hardUnusableSecretFiles() []hardSecretFile {
	return []hardSecretFile{
		{"fifo without a writer", hardMkfifo, "is a named pipe, not a regular file"},
		{"fifo with a silent writer", func(t *testing.T, path string) {
			hardMkfifo(t, path)
			// O_RDWR on a FIFO does not wait for a reader: it holds the
			// write end open, so a plain read blocks for data forever.
			w, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
		}, "is a named pipe, not a regular file"},
		{"char device /dev/zero", func(t *testing.T, path string) { hardSymlink(t, "/dev/zero", path) }, "is a device, not a regular file"},
		{"unix socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, "is a socket, not a regular file"},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory, not a regular file"},
		{"over 64 KiB", func(t *testing.T, path string) {
			tplWriteFile(t, path, strings.Repeat("s", 64<<10+1))
		}, "is larger than the 64 KiB limit for a secret file"},
		{"a NUL byte", func(t *testing.T, path string) {
			tplWriteFile(t, path, "secret\x00value\n")
		}, "contains a NUL byte"},
	}
}

func hardMkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func hardSymlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func hardTokenFlow(url, secretPath string) string {
	return "name: hard\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: " + url + "/token\n" +
		"    client_id: app\n    client_secret: ${file:" + secretPath + "}\n"
}

// TestSecretFileRefusedAtLoad checks that a ${file:} naming something other
// than a small regular file is a positioned load error, returned at once:
// before, a FIFO hung validate, check and a reload forever (in open or in
// read), /dev/zero was read as a 64 KiB secret of NULs, and a file over
// 64 KiB was cut silently.
func TestSecretFileRefusedAtLoad(t *testing.T) {
	for _, tt := range hardUnusableSecretFiles() {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			tt.make(t, path)
			var err error
			hardWithin(t, "LoadBytes", func() {
				_, err = flows.LoadBytes(flows.LoadOptions{}, "s.yaml", []byte(hardTokenFlow("https://idp.example.com", path)))
			})
			var ps conf.Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("err = %v, want one problem", err)
			}
			want := "s.yaml:8:20: steps[0].client_secret: ${file:" + path + "}: file " + path + " " + tt.want
			if got := ps[0].Error(); !strings.HasPrefix(got, want) {
				t.Errorf("problem:\n%s\nwant it to start with:\n%s", got, want)
			}
		})
	}
}

// TestSecretFileRefusedAtRun checks the same files at run time (the file a
// loaded flow names was replaced since): credentials_missing naming the
// reference, no request made, never internal_error and never a hang.
func TestSecretFileRefusedAtRun(t *testing.T) {
	for _, tt := range hardUnusableSecretFiles() {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rc, url := tplStartTarget(t)
			path := filepath.Join(dir, "secret")
			tplWriteFile(t, path, "good-secret-value\n")
			f := tplLoadFlow(t, hardTokenFlow(url, path))
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			tt.make(t, path)
			var res *flows.Result
			hardWithin(t, "Run", func() { res = tplRunner(nil, "").Run(context.Background(), f) })
			fl := res.Failure()
			if res.OK || fl == nil {
				t.Fatalf("run passed")
			}
			want := "${file:" + path + "}: file " + path + " " + tt.want
			if fl.Reason != flows.ReasonCredentialsMissing || !strings.HasPrefix(fl.Summary, want) {
				t.Errorf("failure = %s: %s\nwant credentials_missing starting with %q", fl.Reason, fl.Summary, want)
			}
			if got := rc.requests(); len(got) != 0 {
				t.Errorf("%d requests were made without the secret", len(got))
			}
		})
	}
}

// TestSecretFileAtTheLimit checks that a secret of exactly 64 KiB is read
// whole (the limit is inclusive) and a symlink to a regular file is fine.
func TestSecretFileAtTheLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	value := strings.Repeat("k", 64<<10)
	tplWriteFile(t, path, value)
	hardSymlink(t, path, filepath.Join(dir, "link"))
	for _, p := range []string{path, filepath.Join(dir, "link")} {
		got, err := conf.SecretSource{}.Resolve(hardFileRef(t, p))
		if err != nil || got != value {
			t.Errorf("Resolve(%s) = %d bytes, %v; want %d bytes", p, len(got), err, len(value))
		}
	}
}

// hardFileRef parses ${file:path} the way a flow file would.
func hardFileRef(t *testing.T, path string) conf.Ref {
	t.Helper()
	refs := conf.NewTemplate("${file:" + path + "}").Refs()
	if len(refs) != 1 {
		t.Fatalf("refs = %v", refs)
	}
	return refs[0]
}
