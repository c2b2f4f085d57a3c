package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestE2EStatusPageStatesFromMemory: the daemon's overview shows each run
// as soon as it is recorded (from the daemon's memory, with its figures),
// and after a restart, before any new run is done, the states the store
// kept (the store stays the source of what came before the start).
func TestE2EStatusPageStatesFromMemory(t *testing.T) {
	t.Parallel()
	// The first call answers, the next ones hang: probe's state then holds still.
	var calls atomic.Int32
	hang := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(api.Close)
	t.Cleanup(func() { close(hang) }) // before api.Close: cleanups run last first
	type row struct {
		Name, State string
		Runs        int64
		LastRunID   int64     `json:"last_run_id"`
		LatencyMS   []float64 `json:"latency_ms"`
	}
	overview := func(d *e2eDaemon) map[string]row {
		code, body := d.get("/api/v1/flows")
		var page struct{ Flows []row }
		if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil {
			t.Fatalf("/api/v1/flows: %d %v\n%s", code, err, body)
		}
		out := map[string]row{}
		for _, r := range page.Flows {
			out[r.Name] = r
		}
		return out
	}

	d := e2eStart(t, map[string]string{"probe.yaml": e2eHTTPFlow("probe", "1s", api.URL, 200)}, e2eOptions{})
	e2eWaitFor(t, 30*time.Second, "the first run of probe", func() bool { st, ok := d.flowState("probe"); return ok && st.Runs >= 1 })
	stored, _ := d.flowState("probe")
	got := overview(d)["probe"]
	if got.State != "passing" || got.Runs != 1 || got.LastRunID != stored.LastRunID || len(got.LatencyMS) != 1 {
		t.Fatalf("after its run, probe shows %+v; want passing, 1 run, run %d, its latency", got, stored.LastRunID)
	}
	if err := d.stop(); err != nil { // the hanging run is recorded as cancelled
		t.Fatal(err)
	}

	// Restarted on a target that holds the run: the page shows the stored state.
	holding, held, release := e2eHoldingServer(t)
	d2 := e2eStart(t, map[string]string{"probe.yaml": e2eHTTPFlow("probe", "1s", holding.URL, 200)},
		e2eOptions{stateDir: d.stateDir, flowsDir: t.TempDir()})
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the restarted daemon did not run probe")
	}
	stored, _ = d2.flowState("probe")
	got = overview(d2)["probe"]
	release()
	if got.State != "passing" || got.Runs != stored.Runs || got.LastRunID != stored.LastRunID {
		t.Errorf("restarted, before its next run is done, probe shows %+v; want the stored state: passing, %d runs, run %d", got, stored.Runs, stored.LastRunID)
	}
}
