package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus i minutes.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

var sampleSteps = json.RawMessage(`[{"name":"token","kind":"client_credentials","ok":true,"duration_ms":41.7},` +
	`{"name":"api","kind":"http","ok":false,"reason":"invalid_token","response":{"status":401}}]`)

// sampleRun returns run i of flow at minute i: a failure every fifth run.
func sampleRun(flow string, i int) store.Run {
	r := store.Run{Flow: flow, Start: at(i), DurationMS: 250.5, OK: i%5 != 4,
		Summary: fmt.Sprintf("run %d", i), Steps: sampleSteps}
	if !r.OK {
		r.Reason, r.Layer, r.FailedStep, r.Summary = "invalid_token", "app", "userinfo", "token expired"
	}
	return r
}

// pass is a passing run of flow at t0 plus sec seconds, latency lat ms.
func pass(flow string, sec int, lat float64) store.Run {
	return store.Run{Flow: flow, Start: t0.Add(time.Duration(sec) * time.Second), DurationMS: lat, OK: true, Steps: sampleSteps}
}

func fail(flow string, sec int) store.Run {
	r := pass(flow, sec, 80)
	r.OK, r.Reason, r.Layer, r.FailedStep, r.Summary = false, "invalid_token", "app", "api", "token expired"
	return r
}

func record(t testing.TB, s store.Store, r store.Run) store.FlowState {
	t.Helper()
	st, err := s.RecordRun(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func runs(t testing.TB, s store.Store, flow string) []store.Run {
	t.Helper()
	out, err := s.Runs(context.Background(), flow, 0)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// summaries describes runs as kind@offset-from-t0.
func summaries(runs []store.Run) (out []string) {
	for _, r := range runs {
		s := "pass"
		switch {
		case r.Cancelled:
			s = "cancelled"
		case !r.OK:
			s = "fail"
		case r.Warnings > 0:
			s = "warn"
		}
		out = append(out, s+"@"+r.Start.Sub(t0).String())
	}
	return out
}

// setKept sets the numbers of passing runs and repeated failures kept
// whole, as the daemon's first Prune does.
func setKept(t testing.TB, s store.Store, passing, failures int) {
	t.Helper()
	if _, err := s.Prune(context.Background(), t0, store.Retention{PassingRunsKept: passing, FailuresKeptPerStreak: failures}); err != nil {
		t.Fatal(err)
	}
}
