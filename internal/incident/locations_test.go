package incident

import (
	"testing"
	"time"
)

func TestAcross(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	pass := func(loc string, last int) LocationResult {
		return LocationResult{Location: loc, OK: true, Since: sec(0), LastRun: sec(last)}
	}
	fail := func(loc string, since, last int) LocationResult {
		return LocationResult{Location: loc, Since: sec(since), LastRun: sec(last), Reason: "connection_failed",
			Summary: "connection refused", Layer: "network", Step: "token"}
	}
	okRun := Observation{Flow: "f", Time: sec(30), OK: true}
	failRun := Observation{Flow: "f", Time: sec(30), Reason: "connection_failed", Summary: "connection refused", Layer: "network", Step: "token"}
	tests := []struct {
		name        string
		obs         Observation
		here        string
		results     []LocationResult
		any         bool
		decided, ok bool
		reason      string // the failure's, or the first warning's
		summary     string
	}{
		{"all pass", okRun, "eu", []LocationResult{pass("eu", 30), pass("us", 25)}, false, true, true, "", ""},
		{"one location", failRun, "eu", []LocationResult{fail("eu", 10, 30)}, false, true, false, "connection_failed", "connection refused"},
		{"here fails, the other passed since", failRun, "eu", []LocationResult{fail("eu", 10, 30), pass("us", 25)}, false, true, true,
			"location_disagreement", "failing from eu (connection_failed), passing from us: connection refused"},
		{"here passes, the other fails", okRun, "us", []LocationResult{fail("eu", 10, 20), pass("us", 5)}, false, true, true,
			"location_disagreement", "failing from eu (connection_failed), passing from us: connection refused"},
		{"here fails, the other has not run since", failRun, "eu", []LocationResult{fail("eu", 28, 30), pass("us", 25)}, false, false, false, "", ""},
		{"all fail", failRun, "us", []LocationResult{fail("eu", 10, 28), fail("us", 30, 30)}, false, true, false,
			"connection_failed", "failing from all 2 locations (eu, us): connection refused"},
		{"any: here passes, the other fails", okRun, "us", []LocationResult{fail("eu", 10, 20), pass("us", 5)}, true, true, false,
			"connection_failed", "from eu: connection refused"},
		{"any: here fails", failRun, "eu", []LocationResult{fail("eu", 10, 30), pass("us", 25)}, true, true, false, "connection_failed", "connection refused"},
		{"here missing from the store", failRun, "eu", []LocationResult{fail("us", 10, 28)}, false, true, false,
			"connection_failed", "failing from all 2 locations (us, eu): connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, decided := Across(tt.obs, tt.here, tt.results, tt.any)
			if decided != tt.decided {
				t.Fatalf("decided = %v, want %v", decided, tt.decided)
			}
			if !decided {
				return
			}
			reason, summary := got.Reason, got.Summary
			if got.OK && len(got.Warnings) > 0 {
				reason, summary = got.Warnings[0].Reason, got.Warnings[0].Summary
			}
			if got.OK != tt.ok || reason != tt.reason || summary != tt.summary {
				t.Errorf("Across = ok %v, %q %q; want ok %v, %q %q", got.OK, reason, summary, tt.ok, tt.reason, tt.summary)
			}
		})
	}
}
