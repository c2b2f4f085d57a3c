package daemon

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestE2EWaitRecorded: the daemon records the time a run spent in its wait
// steps beside the run's duration, so that latency figures can leave it
// out.
func TestE2EWaitRecorded(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	d := e2eStart(t, map[string]string{"waits.yaml": `name: waits
every: 1s
timeout: 10s
steps:
  - id: call
    kind: http
    url: "` + srv.URL + `/"
  - id: pause
    kind: wait
    wait: 150ms
`}, e2eOptions{})
	e2eWaitFor(t, 20*time.Second, "a run of waits", func() bool { return len(d.runs("waits")) > 0 })
	run := d.runs("waits")[0]
	var steps []struct {
		Step       string  `json:"step"`
		DurationMS float64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(run.Steps, &steps); err != nil {
		t.Fatal(err)
	}
	var pauseMS float64
	for _, s := range steps {
		if s.Step == "pause" {
			pauseMS = s.DurationMS
		}
	}
	if !run.OK || run.WaitedMS < 150 || run.WaitedMS > run.DurationMS || math.Abs(run.WaitedMS-pauseMS) > 0.001 { // the step line rounds its own way
		t.Errorf("run ok %v, duration %v ms, waited %v ms; want ok, the wait step's %v ms waited", run.OK, run.DurationMS, run.WaitedMS, pauseMS)
	}
}
