package incident

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// ReasonLocationDisagreement is the warning of a flow that fails from some
// probe locations and passes from others (docs/cluster.md).
const ReasonLocationDisagreement = string(flows.ReasonLocationDisagreement)

// LocationResult is the latest counted result of a flow in one probe
// location, as its state in the store says.
type LocationResult struct {
	Location string
	OK       bool
	Since    time.Time // start of the location's current pass/fail state
	LastRun  time.Time
	Reason   string // of the last failure, when !OK
	Summary  string
	Layer    string
	Step     string
}

// Across combines obs, the observation of a run made in location here,
// with the latest results of the flow's locations (here's included, as its
// run left it; those not counted any more left out by the caller) into the
// observation the flow's one incident takes, and reports whether there is
// one yet:
//   - every location passing: obs;
//   - any failing and anyFails (locations_policy: any): a failure, obs's
//     own if here failed, else that of the first failing location;
//   - every location failing: obs, its summary naming the locations;
//   - some failing and some passing: a pass with the warning
//     location_disagreement naming them, once a location passed after
//     the failures began; until then (the others have not run since)
//     there is none: the next location's run decides.
func Across(obs Observation, here string, results []LocationResult, anyFails bool) (Observation, bool) {
	var failing, passing []LocationResult
	if !slices.ContainsFunc(results, func(r LocationResult) bool { return r.Location == here }) {
		results = append(slices.Clone(results), LocationResult{Location: here, Since: obs.Time, Reason: obs.Reason,
			Summary: obs.Summary, Layer: obs.Layer, Step: obs.Step})
	}
	for _, r := range results {
		if r.Location == here {
			r.OK = obs.OK // this run decides for here, whatever the store held
			r.LastRun = obs.Time
		}
		if r.OK {
			passing = append(passing, r)
		} else {
			failing = append(failing, r)
		}
	}
	switch {
	case len(failing) == 0 || len(failing)+len(passing) == 1:
		return obs, true
	case anyFails && !obs.OK:
		return obs, true
	case anyFails:
		return failureFrom(obs, failing[0]), true
	case len(passing) == 0:
		obs.Summary = fmt.Sprintf("failing from all %d locations (%s): %s", len(failing), names(failing), obs.Summary)
		return obs, true
	case !passedSinceFailing(passing, failing):
		return obs, false
	}
	w := Finding{Reason: ReasonLocationDisagreement, Summary: disagreement(failing, passing)}
	out := Observation{Flow: obs.Flow, Time: obs.Time, OK: true, Labels: obs.Labels, Warnings: []Finding{w}}
	if obs.OK {
		out.Warnings = append(out.Warnings, obs.Warnings...)
	}
	return out, true
}

// failureFrom is the failure of location f, observed by a run elsewhere.
func failureFrom(obs Observation, f LocationResult) Observation {
	return Observation{Flow: obs.Flow, Time: obs.Time, Labels: obs.Labels, Step: f.Step, Reason: f.Reason, Layer: f.Layer,
		Summary: fmt.Sprintf("from %s: %s", f.Location, f.Summary)}
}

// passedSinceFailing: a location passed after the earliest failure began,
// so the disagreement is not just locations that have not run since.
func passedSinceFailing(passing, failing []LocationResult) bool {
	began := failing[0].Since
	for _, f := range failing[1:] {
		if f.Since.Before(began) {
			began = f.Since
		}
	}
	for _, p := range passing {
		if !p.LastRun.Before(began) {
			return true
		}
	}
	return false
}

// disagreement says which locations fail, why, and which pass.
func disagreement(failing, passing []LocationResult) string {
	parts := make([]string, len(failing))
	for i, f := range failing {
		parts[i] = f.Location + " (" + f.Reason + ")"
	}
	return fmt.Sprintf("failing from %s, passing from %s: %s", strings.Join(parts, ", "), names(passing), failing[0].Summary)
}

func names(rs []LocationResult) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Location
	}
	return strings.Join(out, ", ")
}
