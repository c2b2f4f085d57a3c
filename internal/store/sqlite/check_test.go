package sqlite

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// filledDB creates a closed database of a few hundred pages and returns its path.
func filledDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authwatch.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		record(t, s, sampleRun("flow-"+string(rune('a'+i%26)), i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// overwrite writes n random bytes at off (negative: from the end).
func overwrite(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if off < 0 {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		off += fi.Size()
	}
	junk := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(junk, off); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesCorruptDatabase(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check Check
		off   int64
		n     int
	}{
		{"garbage in the last page, quick_check", CheckQuick, -4096, 4096},
		{"garbage in the last page, integrity_check", CheckFull, -4096, 4096},
		{"garbage in a middle page", CheckQuick, 40 * 4096, 4096},
		{"garbage in the header", CheckQuick, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filledDB(t)
			overwrite(t, path, tc.off, tc.n)
			s, err := OpenWith(path, Options{Check: tc.check})
			if err == nil {
				s.Close()
				t.Fatal("a corrupt database was opened")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			for _, want := range []string{"authwatch.db", "will not start", "mkdir ", "mv "} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			runSuggestedCommand(t, err, "start afresh: ")
			s, err = OpenWith(path, Options{Check: tc.check})
			if err != nil {
				t.Fatalf("after the suggested command: %v", err)
			}
			s.Close()
		})
	}
}

// runSuggestedCommand runs the shell command an error message ends with,
// after prefix, as an operator would paste it.
func runSuggestedCommand(t *testing.T, err error, prefix string) {
	t.Helper()
	_, cmd, ok := strings.Cut(err.Error(), prefix)
	if !ok {
		t.Fatalf("no command after %q in: %v", prefix, err)
	}
	if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

// TestOpenNoneSkipsTheCheck shows what the check is for: without it, a
// database with a garbage page opens and fails later, mid-run.
func TestOpenNoneSkipsTheCheck(t *testing.T) {
	path := filledDB(t)
	overwrite(t, path, -4096, 4096)
	s, err := OpenWith(path, Options{Check: CheckNone})
	if err != nil {
		t.Skipf("the damage is visible without a check too: %v", err)
	}
	s.Close()
}

func TestOpenRefusesLostDatabase(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		path := filledDB(t)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			_ = os.Remove(p)
		}
		_, err := Open(path)
		if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "is missing") || !strings.Contains(err.Error(), "rm "+markerPath(path)) {
			t.Fatalf("want ErrLost naming the marker, got %v", err)
		}
	})
	t.Run("zero length", func(t *testing.T) {
		path := filledDB(t)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "is empty (0 bytes)") {
			t.Fatalf("want ErrLost, got %v", err)
		}
		runSuggestedCommand(t, err, "to start afresh on purpose, run: ")
		s, err := Open(path)
		if err != nil {
			t.Fatalf("after the suggested command: %v", err)
		}
		s.Close()
	})
	t.Run("fresh start after the marker is removed", func(t *testing.T) {
		path := filledDB(t)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(markerPath(path)); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if st, _ := s.FlowStates(context.Background()); len(st) != 0 {
			t.Fatalf("fresh database has %d flow states", len(st))
		}
	})
	t.Run("an existing database without a marker gets one", func(t *testing.T) {
		path := filledDB(t)
		if err := os.Remove(markerPath(path)); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := os.Stat(markerPath(path)); err != nil {
			t.Fatalf("no marker after opening: %v", err)
		}
	})
}
