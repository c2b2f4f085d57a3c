package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/scheduler"
)

// TestStandingWarningNotRewrittenEveryRun: a flow that keeps passing with
// the same warning (an API whose clock is 10 minutes off: clock_skew) has
// its incident state written when the warning opens and while its pass
// count (resolve_after) and its window of recent outcomes (flap
// detection, 10 runs by default) still change, not on every run after: 25
// runs, 10 writes. A restart
// from what was written continues the same warning incident, and a failure
// is written at once.
func TestStandingWarningNotRewrittenEveryRun(t *testing.T) {
	srv := perRunServer(-10 * time.Minute)
	t.Cleanup(srv.Close)
	flowsYAML := fmt.Sprintf("name: skewed\nevery: 1h\nsteps:\n  - {id: api, kind: http, url: %q, expect: {status: 200}}\n", srv.URL+"/api/x")
	stateDir := filepath.Join(t.TempDir(), "state")
	m, set := unscheduledMain(t, stateDir, flowsYAML)
	f, _ := set.Flow("skewed")
	ctx := context.Background()
	const runs = 25
	for range runs {
		m.onResult(scheduler.Event{Flow: f, Result: m.runner.Run(ctx, f)})
	}
	mem := pgIncident(m, "skewed")
	if mem.Warning == nil || !mem.Warning.Open || mem.Warning.Reason != "clock_skew" || mem.ConsecutivePasses != runs {
		t.Fatalf("after %d warned runs the incident state is %+v (warning %+v), want an open clock_skew warning and %d passes", runs, mem, mem.Warning, runs)
	}
	resolveAfter := m.alert.policyOf("skewed").ResolveAfter
	stored := storedIncident(t, m, "skewed")
	if stored.ConsecutivePasses >= runs || stored.ConsecutivePasses < resolveAfter || !slices.Equal(stored.Recent, mem.Recent) {
		t.Errorf("the stored incident state has %d passes and recent %v, want fewer than the %d runs (written every run), at least resolve_after %d, and the full window %v",
			stored.ConsecutivePasses, stored.Recent, runs, resolveAfter, mem.Recent)
	}
	if err := m.closeState(); err != nil {
		t.Fatal(err)
	}

	m2, set2 := unscheduledMain(t, stateDir, flowsYAML)
	f2, _ := set2.Flow("skewed")
	m2.onResult(scheduler.Event{Flow: f2, Result: m2.runner.Run(ctx, f2)})
	after := pgIncident(m2, "skewed")
	if after.Warning == nil || !after.Warning.Open || after.Warning.Key != mem.Warning.Key {
		t.Errorf("after a restart the warning is %+v, want the same open incident %s", after.Warning, mem.Warning.Key)
	}
	srv.Close() // the next run fails: connection refused
	m2.onResult(scheduler.Event{Flow: f2, Result: m2.runner.Run(ctx, f2)})
	if got := storedIncident(t, m2, "skewed"); got.ConsecutiveFailures != 1 {
		t.Errorf("after a failed run the stored state has %d failures, want 1 (written at once)", got.ConsecutiveFailures)
	}
}

func storedIncident(t *testing.T, m *Main, flow string) incident.State {
	t.Helper()
	raw, err := m.store.IncidentStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var st incident.State
	if err := json.Unmarshal(raw[flow], &st); err != nil {
		t.Fatalf("the stored incident state of %s: %v (%s)", flow, err, raw[flow])
	}
	return st
}

// TestRemovedFlowsLateRunOpensNothing: a run of a flow that a reload
// removes after onResult checked it is configured, and before its
// incident is stepped, must not bring the incident back (it would open
// again and remind forever: TestPagingRemovedFlowStopsReminding saw
// [opened opened reminder] on a loaded machine).
func TestRemovedFlowsLateRunOpensNothing(t *testing.T) {
	srv := perRunServer(0)
	t.Cleanup(srv.Close)
	flowsYAML := fmt.Sprintf("name: gone\nevery: 1h\nsteps:\n  - {id: api, kind: http, url: %q, expect: {status: 299}}\n", srv.URL+"/api/x")
	m, set := unscheduledMain(t, filepath.Join(t.TempDir(), "state"), flowsYAML)
	f, _ := set.Flow("gone")
	ctx := context.Background()
	res := m.runner.Run(ctx, f)
	if res.OK {
		t.Fatal("the flow passed; want a failure that opens an incident")
	}
	m.alert.setFlows(nil) // the reload that removes it, while the run is in flight
	if err := m.alert.observe(ctx, res); err != nil {
		t.Fatal(err)
	}
	m.alert.mu.Lock()
	st, ok := m.alert.states["gone"]
	m.alert.mu.Unlock()
	if ok {
		t.Fatalf("the removed flow's late run left an incident state: %+v", st)
	}
}
