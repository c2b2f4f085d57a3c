package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunStoreUnwritableShown: a real fault (the database and its WAL made
// immutable under a running daemon) shows where operators look: the
// systemd status line (STATUS= on NOTIFY_SOCKET) says "state store
// unwritable", every status page shows the banner, /api/v1/flows has
// state_store.writable false; once the files take writes again, all three
// say so.
func TestRunStoreUnwritableShown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authwatch binary; skipped with -short")
	}
	ftNeedRoot(t, "chattr")
	bin := rnBuild(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	flow := "name: local\nevery: 1s\nsteps:\n  - id: call\n    kind: http\n    url: http://127.0.0.1:1/\n    expect: {status: 200}\n"
	cfg := rnSetup(t, stateDir, map[string]string{"local.yaml": flow})
	sock := ssNotifySocket(t)
	p := rnStart(t, bin, cfg, map[string]string{"NOTIFY_SOCKET": sock.path}, true)
	const healthy = "1 flow, 1 failing, 1 incident open; last reload ok"
	rnWaitFor(t, 30*time.Second, "STATUS="+healthy, func() bool { return sock.has(healthy) })

	files := []string{filepath.Join(stateDir, "authwatch.db"), filepath.Join(stateDir, "authwatch.db-wal")}
	chattr := func(flag string) {
		if out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput(); err != nil {
			t.Fatalf("chattr %s: %v %s", flag, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("chattr", append([]string{"-i"}, files...)...).Run() })
	chattr("+i")
	// the monitor's own incident opens too: 2 incidents
	const broken = "1 flow, 1 failing, 2 incidents open; last reload ok; state store unwritable (results held in memory)"
	rnWaitFor(t, 60*time.Second, "STATUS="+broken, func() bool { return sock.has(broken) })
	for _, path := range []string{"/", "/flows/local", "/incidents"} {
		if body := ssGet(t, p, path); !strings.Contains(body, "State store unwritable since") || !strings.Contains(body, "results and pages are held in memory") {
			t.Errorf("GET %s while the store is immutable: no banner", path)
		}
	}
	var api struct {
		StateStore struct {
			Writable bool   `json:"writable"`
			Since    string `json:"unwritable_since"`
		} `json:"state_store"`
	}
	if err := json.Unmarshal([]byte(ssGet(t, p, "/api/v1/flows")), &api); err != nil || api.StateStore.Writable || api.StateStore.Since == "" {
		t.Errorf("/api/v1/flows state_store while the store is immutable: %+v (%v)", api.StateStore, err)
	}

	chattr("-i")
	rnWaitFor(t, 90*time.Second, "STATUS= healthy again", func() bool { return sock.last() == healthy })
	if body := ssGet(t, p, "/"); strings.Contains(body, "State store unwritable since") {
		t.Errorf("the banner stays once the store takes writes again")
	}
	t.Logf("status lines: %q", sock.all())
}

func ssGet(t *testing.T, p *rnProc, path string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(p.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// ssSocket is a NOTIFY_SOCKET that keeps the STATUS= lines it receives.
type ssSocket struct {
	path     string
	mu       sync.Mutex
	statuses []string
}

func (s *ssSocket) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.statuses)
}

func (s *ssSocket) has(status string) bool { return slices.Contains(s.all(), status) }

func (s *ssSocket) last() string {
	all := s.all()
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

func ssNotifySocket(t *testing.T) *ssSocket {
	dir, err := os.MkdirTemp("", "aw-status-") // a short path: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &ssSocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if status, ok := strings.CutPrefix(line, "STATUS="); ok {
					s.mu.Lock()
					s.statuses = append(s.statuses, status)
					s.mu.Unlock()
				}
			}
		}
	}()
	return s
}
