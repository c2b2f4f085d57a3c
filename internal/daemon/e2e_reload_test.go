package daemon

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// e2eBroken is a flow file that must be rejected, with the position and
// message the rejection must carry.
type e2eBroken struct {
	name    string
	content string
	want    string // "c.yaml:LINE:COL: message" as it must appear in /healthz
}

var e2eBrokenFiles = []e2eBroken{
	{"syntax", "name: broken\nevery: 1s\nsteps: [\n  - id: x\n", "c.yaml:3:8: sequence end token ']' not found"},
	{"unknown-kind", "name: broken\nevery: 1s\nsteps:\n  - id: x\n    kind: teleport\n    url: http://127.0.0.1/\n",
		`c.yaml:5:11: steps[0].kind: unknown step kind "teleport"`},
}

// TestE2EReload: a flow file that does not load (a YAML syntax error; an
// unknown step kind) is rejected as a whole: the old flows keep running and
// landing in the store, /healthz says degraded with the positioned error,
// authwatch_config_last_reload_successful is 0. Fixing the file reloads:
// the unchanged flow keeps its schedule (same next run time, a run every
// interval, its streak), the removed flow stops (state, metrics), the new one
// starts; the Notifier hears Reloading then Ready for each reload. Both
// triggers: Main.Reload, and the fsnotify watcher on the flows directory.
func TestE2EReload(t *testing.T) {
	for _, watch := range []bool{false, true} {
		for _, b := range e2eBrokenFiles {
			name := "Reload/" + b.name
			if watch {
				name = "watcher/" + b.name
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e2eReloadCase(t, watch, b)
			})
		}
	}
}

func e2eReloadCase(t *testing.T, watch bool, broken e2eBroken) {
	hits := &e2eHits{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.inc(r.URL.Path) }))
	t.Cleanup(srv.Close)
	keepFile := e2eHTTPFlow("keep", "1s", srv.URL+"/keep", 200)
	d := e2eStart(t, map[string]string{
		"keep.yaml": keepFile,
		"gone.yaml": e2eHTTPFlow("gone", "1s", srv.URL+"/gone", 200),
	}, e2eOptions{watch: watch})
	reload := func() {
		if !watch {
			d.m.Reload()
		} // else the watcher saw the files change
	}
	nruns := func(flow string) int { return len(d.runs(flow)) }
	e2eWaitFor(t, 5*time.Second, "first runs of keep and gone", func() bool { return nruns("keep") >= 1 && nruns("gone") >= 1 })

	// 1. A broken file: rejected, the old flows keep running.
	e2eWrite(t, d.flowsDir, "c.yaml", broken.content)
	reload()
	var h map[string]any
	// /healthz and the metrics are updated one after the other.
	e2eWaitFor(t, 5*time.Second, "/healthz degraded and the failure counted", func() bool {
		h = d.healthz()
		v, _ := e2eMetric(d.metrics(), "authwatch_config_reloads_total", `result="failure"`)
		return h["status"] == "degraded" && v >= 1
	})
	if msg, _ := h["last_reload_error"].(string); !strings.Contains(msg, broken.want) {
		t.Errorf("/healthz last_reload_error = %q, want it to contain %q", msg, broken.want)
	}
	if h["flows"] != float64(2) {
		t.Errorf("/healthz flows = %v after a rejected reload, want the old 2", h["flows"])
	}
	m := d.metrics()
	if v, ok := e2eMetric(m, "authwatch_config_last_reload_successful", ""); !ok || v != 0 {
		t.Errorf("authwatch_config_last_reload_successful = %v (present %v) after a rejected reload, want 0", v, ok)
	}
	if v, _ := e2eMetric(m, "authwatch_config_reloads_total", `result="failure"`); v < 1 {
		t.Errorf("authwatch_config_reloads_total{result=failure} = %v, want >= 1", v)
	}
	if v, ok := e2eMetric(m, "authwatch_flows", ""); !ok || v != 2 {
		t.Errorf("authwatch_flows = %v after a rejected reload, want 2", v)
	}
	// slog's text handler quotes the value: compare with the quoted form.
	if log, q := d.log.String(), strconv.Quote(broken.want); !strings.Contains(log, "reload rejected") || !strings.Contains(log, q[1:len(q)-1]) {
		t.Errorf("the log does not say the reload was rejected with %q", broken.want)
	}
	k0, g0 := nruns("keep"), nruns("gone")
	e2eWaitFor(t, 5*time.Second, "keep and gone to run twice more after the rejected reload", func() bool {
		return nruns("keep") >= k0+2 && nruns("gone") >= g0+2
	})
	if _, ok := d.flowState("broken"); ok {
		t.Errorf("the rejected flow ran")
	}

	// 2. Fixed: c.yaml now defines "new", gone.yaml is deleted, keep.yaml is
	// untouched.
	keepBefore, _ := d.flowState("keep")
	nextBefore, okBefore := d.m.sched.NextRun("keep")
	fixed := e2eHTTPFlow("new", "1s", srv.URL+"/new", 200)
	if watch {
		// Saved the way editors do: a temporary file renamed over the old.
		e2eWrite(t, d.flowsDir, "c.yaml.tmp", fixed)
		if err := os.Rename(filepath.Join(d.flowsDir, "c.yaml.tmp"), filepath.Join(d.flowsDir, "c.yaml")); err != nil {
			t.Fatal(err)
		}
	} else {
		e2eWrite(t, d.flowsDir, "c.yaml", fixed)
	}
	if err := os.Remove(filepath.Join(d.flowsDir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	reload()
	e2eWaitFor(t, 5*time.Second, "/healthz ok and the success counted after the fix", func() bool {
		h = d.healthz()
		v, _ := e2eMetric(d.metrics(), "authwatch_config_reloads_total", `result="success"`)
		return h["status"] == "ok" && v >= 1
	})
	if h["flows"] != float64(2) || h["last_reload_error"] != nil {
		t.Errorf("/healthz after the fix: %v, want ok with 2 flows and no error", h)
	}
	nextAfter, okAfter := d.m.sched.NextRun("keep")
	goneAt := nruns("gone")
	if !okBefore || !okAfter {
		t.Errorf("NextRun(keep): ok %v before, %v after", okBefore, okAfter)
	} else if diff := nextAfter.Sub(nextBefore); diff < 0 || diff%time.Second > 5*time.Millisecond && diff%time.Second < time.Second-5*time.Millisecond {
		// A run may have fired between the two reads: the next run then
		// moved by whole intervals, never by a fraction of one.
		t.Errorf("keep's next run moved from %s to %s (by %s) over the reload, want the same schedule", nextBefore.Format(time.StampMicro), nextAfter.Format(time.StampMicro), diff)
	}
	m = d.metrics()
	if v, ok := e2eMetric(m, "authwatch_config_last_reload_successful", ""); !ok || v != 1 {
		t.Errorf("authwatch_config_last_reload_successful = %v after the fixed reload, want 1", v)
	}
	if v, _ := e2eMetric(m, "authwatch_config_reloads_total", `result="success"`); v < 1 {
		t.Errorf("authwatch_config_reloads_total{result=success} = %v, want >= 1", v)
	}

	// The new flow starts, the removed one stops, the kept one goes on.
	e2eWaitFor(t, 5*time.Second, "two runs of the new flow", func() bool { return nruns("new") >= 2 })
	time.Sleep(1200 * time.Millisecond) // more than one interval
	if n := nruns("gone"); n > goneAt+1 {
		t.Errorf("the removed flow ran %d more times after the reload", n-goneAt)
	}
	if st, ok := d.flowState("gone"); ok {
		t.Errorf("the removed flow still has a state: %+v", st)
	}
	if hits.get("/new") < 2 {
		t.Errorf("the new flow's backend saw %d requests", hits.get("/new"))
	}
	keepAfter, _ := d.flowState("keep")
	if keepAfter.Runs < keepBefore.Runs+2 || keepAfter.ConsecutivePasses < keepBefore.ConsecutivePasses+2 || !keepAfter.Since.Equal(keepBefore.Since) {
		t.Errorf("keep's state over the reload: before %+v, after %+v: want the streak to go on", keepBefore, keepAfter)
	}
	m = d.metrics()
	if strings.Contains(m, `flow="gone"`) {
		t.Errorf("/metrics still has series of the removed flow")
	}
	if v, ok := e2eMetric(m, "authwatch_flow_up", `flow="new"`); !ok || v != 1 {
		t.Errorf(`authwatch_flow_up{flow="new"} = %v (present %v), want 1`, v, ok)
	}
	// keep ran once per planned start throughout: no run lost, none doubled.
	d.checkSlots("keep", time.Second)

	// The Notifier: Ready at start, then Reloading, Ready per reload.
	calls := d.notify.Calls()
	if len(calls) < 5 || calls[0] != "ready" || len(calls)%2 != 1 {
		t.Fatalf("notifier calls %v, want ready then at least two reloading/ready pairs", calls)
	}
	for i := 1; i < len(calls); i += 2 {
		if calls[i] != "reloading" || calls[i+1] != "ready" {
			t.Errorf("notifier calls %v: want reloading then ready at %d", calls, i)
		}
	}
	if watch && len(calls) > 5 {
		t.Logf("the watcher reloaded %d times for two edits", (len(calls)-1)/2)
	}
}

// TestE2ERemovedFlowRunInProgress: a flow removed by a reload while a run of
// it is in progress stops; its state is forgotten and its metric series are
// dropped, and they must not come back when that last run is reported.
func TestE2ERemovedFlowRunInProgress(t *testing.T) {
	t.Parallel()
	var inFlight atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inFlight.Add(1)
			defer inFlight.Add(-1)
			time.Sleep(1500 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	d := e2eStart(t, map[string]string{
		"keep.yaml": e2eHTTPFlow("keep", "1s", srv.URL+"/fast", 200),
		"slow.yaml": e2eHTTPFlow("slow", "1s", srv.URL+"/slow", 200),
	}, e2eOptions{})
	e2eWaitFor(t, 10*time.Second, "a recorded run of slow and another one in flight", func() bool {
		return len(d.runs("slow")) >= 1 && inFlight.Load() > 0
	})
	if err := os.Remove(filepath.Join(d.flowsDir, "slow.yaml")); err != nil {
		t.Fatal(err)
	}
	d.m.Reload()
	if h := d.healthz(); h["status"] != "ok" || h["flows"] != float64(1) {
		t.Fatalf("/healthz after removing slow: %v", h)
	}
	if _, ok := d.flowState("slow"); ok {
		t.Errorf("slow has a state right after its removal")
	}
	e2eWaitFor(t, 5*time.Second, "the run in flight to finish", func() bool { return inFlight.Load() == 0 })
	time.Sleep(300 * time.Millisecond) // let it be reported
	n := len(d.runs("slow"))
	if st, ok := d.flowState("slow"); ok {
		t.Errorf("the removed flow's state came back when its last run was reported: %+v", st)
	}
	if m := d.metrics(); strings.Contains(m, `flow="slow"`) {
		var lines []string
		for _, l := range strings.Split(m, "\n") {
			if strings.Contains(l, `flow="slow"`) && !strings.HasPrefix(l, "authwatch_step_duration_seconds_bucket") {
				lines = append(lines, l)
			}
		}
		t.Errorf("the removed flow's metric series came back when its last run was reported:\n%s", strings.Join(lines, "\n"))
	}
	time.Sleep(1500 * time.Millisecond)
	if m := len(d.runs("slow")); m != n {
		t.Errorf("the removed flow ran %d more times", m-n)
	}
}
