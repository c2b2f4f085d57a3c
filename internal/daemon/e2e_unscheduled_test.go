package daemon

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestE2EFlowWithoutScheduleIsNotScheduled: a flow file meant for
// `authwatch check` (no every, no cron) does not stop the daemon: it logs a
// warning at the flow's position, does not schedule it, lists it as not
// scheduled (paused), and schedules the other flows.
func TestE2EFlowWithoutScheduleIsNotScheduled(t *testing.T) {
	t.Parallel()
	d := e2eStart(t, map[string]string{
		"keep.yaml": e2eHTTPFlow("keep", "1h", "http://127.0.0.1:1/", 200),
		"adhoc.yaml": "# run by authwatch check only\nname: adhoc\nsteps:\n" +
			"  - {id: call, kind: http, url: \"http://127.0.0.1:1/\"}\n",
	}, e2eOptions{})
	if !strings.Contains(d.log.String(), `adhoc.yaml:2:1: flow \"adhoc\" has no every or cron: the daemon does not schedule it`) {
		t.Errorf("no positioned warning about the unscheduled flow in the log:\n%s", d.log.String())
	}
	jobs := d.m.sched.Stats().Flows
	if _, ok := jobs["adhoc"]; ok || len(jobs) != 1 {
		t.Errorf("scheduled %v, want keep only", jobs)
	}
	code, body := d.get("/api/v1/flows")
	var got struct {
		Flows []struct {
			Name, Schedule, State string
			Paused                bool
		} `json:"flows"`
	}
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
		t.Fatalf("/api/v1/flows: %d %v\n%s", code, err, body)
	}
	for _, f := range got.Flows {
		if f.Name == "adhoc" && (f.Schedule != "not scheduled" || !f.Paused || f.State != "paused") {
			t.Errorf("adhoc listed as schedule %q, paused %v, state %q; want not scheduled, paused", f.Schedule, f.Paused, f.State)
		}
	}
	if len(got.Flows) != 2 {
		t.Errorf("listed %d flows, want 2:\n%s", len(got.Flows), body)
	}
}
