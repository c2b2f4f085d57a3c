package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestE2EGoroutinesDoNotGrow: 20 flows every 1s (passing and failing HTTP
// calls, client_credentials tokens) for 20s in process. Once the daemon has
// settled, the number of goroutines does not grow and the live heap stays
// bounded: a check of leaks, not a timed performance assertion. Not
// parallel: goroutines are counted process-wide.
func TestE2EGoroutinesDoNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s run; skipped with -short")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"leak-at","token_type":"Bearer","expires_in":300}`))
		case "/fail":
			http.Error(w, "no", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	t.Cleanup(srv.Close)
	secretDir := t.TempDir()
	e2eWrite(t, secretDir, "secret", "leak-secret")
	secret := filepath.Join(secretDir, "secret")
	files := map[string]string{}
	const n = 20
	for i := range n {
		name := fmt.Sprintf("leak-%02d", i)
		switch i % 4 {
		case 0, 1:
			files[name+".yaml"] = e2eHTTPFlow(name, "1s", srv.URL+"/ok", 200)
		case 2:
			files[name+".yaml"] = e2eHTTPFlow(name, "1s", srv.URL+"/fail", 200)
		case 3:
			files[name+".yaml"] = fmt.Sprintf(`name: %s
every: 1s
steps:
  - id: token
    kind: client_credentials
    token_url: %q
    client_id: leak-client
    client_secret: ${file:%s}
  - id: call
    kind: http
    url: %q
    auth: {bearer: "${steps.token.access_token}"}
`, name, srv.URL+"/token", secret, srv.URL+"/ok")
		}
	}
	d := e2eStart(t, files, e2eOptions{})

	const (
		total  = 20 * time.Second
		settle = 6 * time.Second
		sample = 250 * time.Millisecond
	)
	type point struct {
		at         time.Duration
		goroutines int
	}
	var points []point
	var heapSettled, heapEnd uint64
	start := time.Now()
	for i := 0; time.Since(start) < total && i < int(total/sample)+8; i++ {
		time.Sleep(sample)
		points = append(points, point{time.Since(start), runtime.NumGoroutine()})
		if heapSettled == 0 && time.Since(start) >= settle {
			heapSettled = liveHeap()
		}
		if i%8 == 0 {
			_, _ = d.get("/metrics") // the HTTP side is exercised too
		}
	}
	heapEnd = liveHeap()

	// The floor of each window: runs in progress come and go within a
	// window and raise its peak (more on a busy machine, where they
	// overlap); leaked goroutines stay and raise its floor.
	floor := func(from, to time.Duration) (m int) {
		m = -1
		for _, p := range points {
			if p.at >= from && p.at < to && (m < 0 || p.goroutines < m) {
				m = p.goroutines
			}
		}
		return m
	}
	early, late := floor(settle, settle+5*time.Second), floor(total-5*time.Second, total+time.Second)
	t.Logf("goroutines: floor %d at %s-%s, %d in the last 5s; live heap %d KB settled, %d KB at the end",
		early, settle, settle+5*time.Second, late, heapSettled>>10, heapEnd>>10)
	if late > early+n/2 {
		t.Errorf("the goroutine floor grew from %d to %d over %s with %d flows", early, late, total-settle, n)
	}
	if heapEnd > 2*heapSettled+8<<20 {
		t.Errorf("live heap grew from %d KB to %d KB", heapSettled>>10, heapEnd>>10)
	}
	for i := range n {
		name := fmt.Sprintf("leak-%02d", i)
		if st, ok := d.flowState(name); !ok || st.Runs < 10 {
			t.Errorf("%s ran %d times in %s, want about 20", name, st.Runs, total)
		}
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	// After the stop, the daemon's goroutines are gone (the test server's
	// idle connections close with it in cleanup, so allow a few).
	before := points[0].goroutines
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("goroutines after stop: %d (at the first sample %d)", runtime.NumGoroutine(), before)
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
