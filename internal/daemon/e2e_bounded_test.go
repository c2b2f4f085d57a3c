package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// hostileFiller is what a hostile target repeats: characters that grow
// when escaped for JSON (\u003c) and HTML (&lt;, &#34;), and multi-byte
// UTF-8 sequences that a byte cut could split.
const hostileFiller = `<"&>é€😀'`

func hostileText(n int) string {
	return strings.Repeat(hostileFiller, n/len(hostileFiller)+1)[:n]
}

// hostileTarget answers every flow of TestE2EEvidenceBounded with a
// failure that is as large as it can make it.
func hostileTarget() http.Handler {
	hugeChallenge := `Bearer error="invalid_token", error_description="` + strings.ReplaceAll(hostileText(8<<20), `"`, `'`) + `"`
	bigChallenge := `Bearer error="invalid_token", error_description="` + strings.ReplaceAll(hostileText(200<<10), `"`, `'`) + `"`
	hugeBody := hostileText(8 << 20)
	pad := strings.Repeat("a", 200<<10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/header-8mib":
			w.Header().Set("WWW-Authenticate", hugeChallenge)
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/header-200kib":
			w.Header().Set("WWW-Authenticate", bigChallenge)
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/body":
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(hugeBody))
		case r.URL.Path == "/cookies":
			for i := range 10000 {
				w.Header().Add("Set-Cookie", fmt.Sprintf("c%04d=1", i))
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
		case strings.HasPrefix(r.URL.Path, "/hop/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			if n >= 9 {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/hop/%d?pad=%s", n+1, pad), http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	})
}

// boundedDaemon starts a Main on existing flows and state directories (the
// state survives a restart) and returns it with a function that stops it.
func boundedDaemon(t *testing.T, flowsDir, stateDir string) (*e2eDaemon, func()) {
	t.Helper()
	d := &e2eDaemon{t: t, notify: &e2eNotifier{}, log: &e2eLog{}, flowsDir: flowsDir, stateDir: stateDir, reload: make(chan struct{}, 1)}
	cfg := config.Default()
	cfg.StateDir, cfg.FlowsDir, cfg.Listen = stateDir, flowsDir, "127.0.0.1:0"
	m, err := New(cfg, slog.New(slog.NewTextHandler(d.log, nil)), d.notify)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	d.m = m
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan error, 1)
	go func() { d.done <- m.Run(ctx, d.reload) }()
	addr := make(chan string, 1)
	go func() { addr <- m.Addr().String() }()
	select {
	case a := <-addr:
		d.base = "http://" + a
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("the daemon did not listen within 10s")
	}
	stop := func() {
		if err := d.stop(); err != nil {
			t.Errorf("daemon Run returned %v\nlog:\n%s", err, d.log.String())
		}
	}
	t.Cleanup(stop)
	return d, stop
}

// stateSize is the size of the state database and its WAL.
func stateSize(t *testing.T, stateDir string) int64 {
	t.Helper()
	var total int64
	for _, name := range []string{"authwatch.db", "authwatch.db-wal"} {
		fi, err := os.Stat(filepath.Join(stateDir, name))
		if err == nil {
			total += fi.Size()
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return total
}

// Bounds TestE2EEvidenceBounded asserts.
const (
	boundedRunsPerFlow  = 4
	boundedGrowthPerRun = 16 << 10 // state database growth per failed run, averaged
	boundedRecord       = 12 << 10 // one run's record (steps JSON and summary)
	boundedAnswer       = 1 << 20  // the flow's API answers and page
)

// TestE2EEvidenceBounded: a target answering 401 with an 8 MiB
// WWW-Authenticate (and 200 KiB, under the transport's limit), an 8 MiB
// body, 10,000 Set-Cookie lines, or a 10-hop redirect chain with 200 KiB
// Location URLs, run by the real daemon every second from five flows each:
// the state database grows by at most 16 KiB per failed run (measured
// after a checkpoint, averaged over every run), no run's record exceeds
// 12 KiB, and the flow's API answers and HTML page stay under 1 MiB, with
// a visible truncation marker where something was cut.
func TestE2EEvidenceBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a daemon run of several seconds; skipped with -short")
	}
	target := httptest.NewServer(hostileTarget())
	t.Cleanup(target.Close)
	variants := []string{"header-8mib", "header-200kib", "body", "cookies", "hop/0"}
	flowsDir, stateDir := t.TempDir(), filepath.Join(t.TempDir(), "state")
	var names []string
	for _, v := range variants {
		for i := range 5 {
			name := fmt.Sprintf("%s-%d", strings.ReplaceAll(v, "/", "-"), i)
			names = append(names, name)
			e2eWrite(t, flowsDir, name+".yaml", e2eHTTPFlow(name, "1s", target.URL+"/"+v, 200))
		}
	}
	countRuns := func() int {
		st, err := sqlite.Open(filepath.Join(stateDir, "authwatch.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		n := 0
		for _, name := range names {
			rs, err := st.Runs(context.Background(), name, 0)
			if err != nil {
				t.Fatal(err)
			}
			n += len(rs)
		}
		return n
	}
	// A first start creates the schema, the flows' states and their
	// incidents; its runs are not counted.
	d, stop := boundedDaemon(t, flowsDir, stateDir)
	e2eWaitFor(t, 60*time.Second, "a first run of every flow", func() bool {
		for _, name := range names {
			if st, _ := d.flowState(name); st.Runs == 0 {
				return false
			}
		}
		return true
	})
	stop()
	before := stateSize(t, stateDir)
	runsBefore := countRuns()
	d, stop = boundedDaemon(t, flowsDir, stateDir)
	var liveMax int64
	e2eWaitFor(t, 90*time.Second, fmt.Sprintf("%d more runs of every flow", boundedRunsPerFlow), func() bool {
		liveMax = max(liveMax, stateSize(t, stateDir))
		for _, name := range names {
			if st, _ := d.flowState(name); st.Runs < boundedRunsPerFlow+1 {
				return false
			}
		}
		return true
	})
	largestAnswer := checkAnswersBounded(t, d, names)
	largestRecord := 0
	for _, name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		runs, err := d.m.store.Runs(ctx, name, 0)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, run := range runs {
			if run.OK {
				t.Fatalf("%s: run %d passed; every run must fail", name, run.ID)
			}
			size := len(run.Steps) + len(run.Summary)
			largestRecord = max(largestRecord, size)
			if size > boundedRecord {
				t.Errorf("%s: run %d (%s) is recorded in %d bytes, want at most %d", name, run.ID, run.Reason, size, boundedRecord)
			}
			if !utf8.Valid(run.Steps) || !utf8.ValidString(run.Summary) {
				t.Errorf("%s: run %d: a cut split a UTF-8 sequence", name, run.ID)
			}
		}
	}
	stop()
	after := stateSize(t, stateDir)
	runs := countRuns() - runsBefore
	perRun := float64(after-before) / float64(runs)
	t.Logf("state database: %d -> %d bytes over %d failed runs: %.0f bytes per run (live with WAL: up to %d bytes); "+
		"the largest record %d bytes, the largest answer %d bytes", before, after, runs, perRun, liveMax, largestRecord, largestAnswer)
	if perRun > boundedGrowthPerRun {
		t.Errorf("the state database grew by %.0f bytes per failed run, want at most %d", perRun, boundedGrowthPerRun)
	}
}

// checkAnswersBounded reads each flow's API answers and page and checks
// their sizes, and that what was cut says so. It returns the largest size.
func checkAnswersBounded(t *testing.T, d *e2eDaemon, names []string) int {
	t.Helper()
	largest := 0
	for _, name := range names {
		for _, path := range []string{"/api/v1/flows/" + name, "/api/v1/flows/" + name + "/runs", "/flows/" + name} {
			status, body, err := boundedGet(d.base + path)
			if err != nil || status != http.StatusOK {
				t.Errorf("GET %s: %d %v", path, status, err)
				continue
			}
			largest = max(largest, len(body))
			if len(body) > boundedAnswer {
				t.Errorf("GET %s: %d bytes, want at most %d", path, len(body), boundedAnswer)
			}
			if strings.HasPrefix(name, "header-200kib") || strings.HasPrefix(name, "cookies") || strings.HasPrefix(name, "body") {
				if strings.HasSuffix(path, "/runs") && !strings.Contains(body, "…truncated") {
					t.Errorf("GET %s: no truncation marker", path)
				}
			}
		}
	}
	return largest
}

// boundedGet reads an answer whatever its size, with a deadline that only
// catches hangs.
func boundedGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
