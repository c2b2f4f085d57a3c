package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// The crash test's child process: it is this test binary, run with
// -test.run=^TestHelperProcess$ and these variables set.
const (
	helperDBEnv   = "AUTHWATCH_STORE_CRASH_DB"
	helperIterEnv = "AUTHWATCH_STORE_CRASH_ITER"
)

// crashFlows are the flows the child records, one goroutine each.
var crashFlows = []string{"crash-a", "crash-b"}

// TestCrashSafety kills a child that writes runs and secrets in a tight loop
// with SIGKILL at random moments, and checks after each kill that the
// database opens, passes integrity_check, and holds everything the child
// reported as committed.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop skipped with -short")
	}
	const iterations = 20
	path := filepath.Join(t.TempDir(), "authwatch.db")
	var c crashLog
	for iter := range iterations {
		delay := time.Duration(20+rand.IntN(181)) * time.Millisecond
		runs, secrets := c.runChild(t, path, iter, delay)
		c.verify(t, path, iter)
		t.Logf("iteration %2d: killed after %3d ms: %4d runs, %3d secret versions committed",
			iter, delay.Milliseconds(), runs, secrets)
	}
	t.Logf("%d kills: %d runs and %d secret versions reported committed, all found after reopening",
		iterations, len(c.runs), c.secrets)
}

// crashLog is what the children reported as committed.
type crashLog struct {
	runs       []string // summaries of committed runs
	lastSecret int      // highest secret version reported
	secrets    int      // secret versions reported
}

// runChild starts a child writing to path, kills it after delay and records
// the complete lines it printed. It returns how many runs and secret
// versions the child reported.
func (c *crashLog) runChild(t *testing.T, path string, iter int, delay time.Duration) (runs, secrets int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperDBEnv+"="+path, helperIterEnv+"="+strconv.Itoa(iter))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string)
	go func() { lines <- completeLines(stdout) }()
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	got := <-lines
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v (not killed); stderr:\n%s", err, stderr.Bytes())
	}
	for _, line := range got {
		kind, value, _ := strings.Cut(line, " ")
		switch kind {
		case "run":
			c.runs = append(c.runs, value)
			runs++
		case "secret":
			v, err := strconv.Atoi(value)
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			c.lastSecret = max(c.lastSecret, v)
			c.secrets++
			secrets++
		default:
			t.Fatalf("child printed %q; stderr:\n%s", line, stderr.Bytes())
		}
	}
	return runs, secrets
}

// completeLines reads r to the end and returns the lines that ended with a
// newline: a line cut by the kill is dropped.
func completeLines(r io.Reader) []string {
	var out []string
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return out
		}
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
}

// verify reopens the database and checks it against the log.
func (c *crashLog) verify(t *testing.T, path string, iter int) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("after kill %d: Open: %v", iter, err)
	}
	defer s.Close()
	var check string
	if err := s.read.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("after kill %d: integrity_check = %q, %v", iter, check, err)
	}
	stored := map[string]bool{}
	for _, flow := range crashFlows {
		runs, err := s.Runs(ctx, flow, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			stored[r.Summary] = true
		}
		st, _, err := s.FlowState(ctx, flow)
		if err != nil || st.Runs != int64(len(runs)) {
			t.Errorf("after kill %d: %s: state counts %d runs, history has %d (%v)", iter, flow, st.Runs, len(runs), err)
		}
	}
	for _, id := range c.runs {
		if !stored[id] {
			t.Errorf("after kill %d: run %s was reported committed but is missing", iter, id)
		}
	}
	v, ok, err := s.LoadSecret(ctx, "refresh")
	n, _ := strconv.Atoi(v)
	if c.secrets > 0 && (err != nil || !ok || n < c.lastSecret) {
		t.Errorf("after kill %d: secret version %q (%v, %v), want >= %d", iter, v, ok, err, c.lastSecret)
	}
}

// TestHelperProcess is the crash test's child: it records runs of each
// crash flow and saves new secret versions until it is killed, printing a
// line after each commit. Run alone, it skips.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperDBEnv)
	if path == "" {
		t.Skip("the child of TestCrashSafety")
	}
	iter, _ := strconv.Atoi(os.Getenv(helperIterEnv))
	if err := crashChild(path, iter); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

// crashChild writes until killed, or for at most 20 s should the parent be
// gone. Secret versions grow across iterations: iter*1e6 + n.
func crashChild(path string, iter int) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex // one write(2) per line
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	errs := make(chan error, len(crashFlows)+1)
	for _, flow := range crashFlows {
		go func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("%d/%d", iter, i)
				r := store.Run{Flow: flow, Start: time.Now(), OK: i%3 != 0, Summary: id, Steps: sampleSteps}
				if _, err := s.RecordRun(ctx, r); err != nil {
					errs <- err
					return
				}
				report("run %s", id)
			}
			errs <- nil
		}()
	}
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			v := iter*1_000_000 + i
			if err := s.SaveSecret(ctx, "refresh", strconv.Itoa(v)); err != nil {
				errs <- err
				return
			}
			report("secret %d", v)
		}
		errs <- nil
	}()
	var all error
	for range len(crashFlows) + 1 {
		if err := <-errs; err != nil && !errors.Is(err, context.DeadlineExceeded) {
			all = errors.Join(all, err)
		}
	}
	return errors.Join(all, s.Close())
}
