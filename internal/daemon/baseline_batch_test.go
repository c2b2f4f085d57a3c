package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/scheduler"
)

// TestBaselineSavesWaitForTheFlush: the daemon's runs never write a
// baseline themselves (a commit per learning or drifting run took the
// SQLite writer from the runs at 10,000 flows); the flusher writes every
// flow's in one transaction, and a learned baseline is in the store after
// it.
func TestBaselineSavesWaitForTheFlush(t *testing.T) {
	m, set := threeLearningFlows(t)
	db, ok := m.db.(store.Baselines)
	if !ok || !m.baselines.batched {
		t.Fatalf("the daemon's store keeps no baselines (%v) or its baselines are not batched", ok)
	}
	ctx := context.Background()
	for range 5 {
		for _, f := range set.Flows {
			m.onResult(scheduler.Event{Flow: f, Result: m.runner.Run(ctx, f)})
		}
	}
	for _, f := range set.Flows {
		if _, found, err := db.LoadBaseline(ctx, f.Name); found || err != nil {
			t.Fatalf("%s's baseline was written by a run (found %v, %v); want it left to the flush", f.Name, found, err)
		}
	}
	m.baselines.flush(ctx)
	for name, st := range storedBaselines(t, db, set.Flows) {
		if st.b.Learning() || st.updated.IsZero() || time.Since(st.updated) > time.Hour {
			t.Errorf("%s's stored baseline: learning %v, updated %v", name, st.b.Learning(), st.updated)
		}
	}
}

// TestBaselinesParkedAndForgotten: after learning, the daemon's baselines
// of flows whose runs keep one shape are parked in memory and still
// written whole by the flush; a reload that removes flows drops their
// baselines from memory, and what waited for the flush is still written.
func TestBaselinesParkedAndForgotten(t *testing.T) {
	m, set := threeLearningFlows(t)
	db := m.db.(store.Baselines)
	ctx := context.Background()
	for range 10 {
		for _, f := range set.Flows {
			m.onResult(scheduler.Event{Flow: f, Result: m.runner.Run(ctx, f)})
		}
	}
	for _, f := range set.Flows {
		if fb := m.baselines.byFlow[f.Name]; fb == nil || !fb.b.Parked() {
			t.Fatalf("%s's baseline is not parked after 7 alike compared runs", f.Name)
		}
	}
	m.setFlows(set.Flows[:1])
	if n := len(m.baselines.byFlow); n != 1 {
		t.Errorf("%d baselines in memory after a reload kept one flow", n)
	}
	m.baselines.flush(ctx)
	for name, st := range storedBaselines(t, db, set.Flows) {
		if st.b.Learning() || len(st.b.Scalars) == 0 {
			t.Errorf("%s's stored baseline: learning %v, %d scalars", name, st.b.Learning(), len(st.b.Scalars))
		}
	}
}

type storedBaseline struct {
	b       baseline.Baseline
	updated time.Time
}

// storedBaselines reads the flows' baselines from db, each of which must
// be there and decode.
func storedBaselines(t *testing.T, db store.Baselines, fs []*flows.Flow) map[string]storedBaseline {
	t.Helper()
	out := map[string]storedBaseline{}
	for _, f := range fs {
		rec, found, err := db.LoadBaseline(context.Background(), f.Name)
		if !found || err != nil {
			t.Fatalf("%s's baseline is not in the store after the flush: %v", f.Name, err)
		}
		var b baseline.Baseline
		if err := json.Unmarshal(rec.Data, &b); err != nil {
			t.Fatalf("%s's stored baseline does not decode: %v", f.Name, err)
		}
		out[f.Name] = storedBaseline{b, rec.Updated}
	}
	return out
}

// threeLearningFlows is an unscheduled daemon on SQLite with three flows
// that call one API and learn their baselines over 3 runs.
func threeLearningFlows(t *testing.T) (*Main, *flows.Set) {
	t.Helper()
	srv := perRunServer(0)
	t.Cleanup(srv.Close)
	var yaml string
	for i := range 3 {
		yaml += fmt.Sprintf("---\nname: api-%d\nevery: 1h\nbaseline: {learn: 3}\nsteps:\n  - {id: api, kind: http, url: %q, expect: {status: 200}}\n", i, srv.URL+"/api/x")
	}
	return unscheduledMain(t, filepath.Join(t.TempDir(), "state"), yaml)
}
