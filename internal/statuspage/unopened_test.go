package statuspage

import (
	"testing"

	"github.com/authwatch/authwatch/internal/incident"
)

// The API lists the failing flows without an open incident, with why.
func TestAPIFailingWithoutIncident(t *testing.T) {
	f := getFixture(t)
	st, _ := f.newStore(t, 0, 0) // one failure in a row for each failing flow
	h := New(st, Options{Flows: f.infos, IncidentPolicy: func(string) incident.Policy { return incident.DefaultPolicy() }})
	_, body := get(t, h, "/api/v1/incidents")
	got := decode[IncidentsJSON](t, body).FailingWithoutIncident
	n := 0
	for _, fj := range got {
		want := demoWant[fj.Flow]
		if want == "" || fj.Reason != want || fj.ConsecutiveFailures != 1 || fj.OpenAfter != 2 || fj.Since.IsZero() ||
			fj.Why != "1 failure in a row; an incident opens after 2 (open_after)" {
			t.Errorf("unexpected entry %+v", fj)
		}
		n++
	}
	if n != 6 {
		t.Errorf("%d failing flows without an incident, want the fixture's 6: %+v", n, got)
	}
}

func TestWhyNoIncident(t *testing.T) {
	window := incident.DefaultPolicy()
	window.OpenAfter, window.OpenWindow = 3, incident.Window{Failures: 3, Runs: 5}
	def := incident.DefaultPolicy()
	for _, c := range []struct {
		failures int
		policy   *incident.Policy
		want     string
	}{
		{1, nil, "1 failure in a row; the alert policy (open_after, open_window) decides when an incident opens"},
		{2, &window, "2 failures in a row; an incident opens after 3 (open_after) or after 3 of the last 5 runs (open_window)"},
		{2, &def, "2 failures in a row, and an incident opens after 2 (open_after), but none is recorded as open: the alerting has not recorded these runs (see the authwatch log)"},
	} {
		if got := whyNoIncident(c.failures, c.policy); got != c.want {
			t.Errorf("whyNoIncident(%d, %v) = %q, want %q", c.failures, c.policy, got, c.want)
		}
	}
}
