package incident

import (
	"maps"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/notify"
)

// Observation is what the policy needs from one run of one flow.
type Observation struct {
	Flow string
	// Time is when the run started (FirstFailure comes from it).
	Time time.Time
	OK   bool
	// Cancelled runs were cut short by authwatch itself: they change nothing.
	Cancelled bool

	// The primary failure, when !OK.
	Step, Reason, Layer, Summary, NextStep string
	Evidence                               []notify.Fact
	RequestIDs                             map[string]string

	// Warnings are the warning findings of a passing run.
	Warnings []Finding
	// Labels are the flow's labels (team, severity, region, ...).
	Labels map[string]string
}

// Finding is one warning: a reason code and its one-line summary.
type Finding struct {
	Reason  string `json:"reason"`
	Summary string `json:"summary,omitempty"`
}

// FromResult builds the observation of r. labels are laid over r.Labels
// (the daemon may add its own, e.g. region); now stands in for a missing
// start time.
func FromResult(r *flows.Result, labels map[string]string, now time.Time) Observation {
	obs := Observation{Flow: r.Flow, Time: r.Start, OK: r.OK, Cancelled: r.Cancelled, Labels: mergeLabels(r.Labels, labels)}
	if obs.Time.IsZero() {
		obs.Time = now
	}
	if f := r.Failure(); f != nil {
		obs.OK = false
		obs.Step, obs.Reason, obs.Layer = f.Step, string(f.Reason), string(f.Reason.Layer())
		obs.Summary, obs.NextStep = f.Summary, f.NextStep()
		obs.Evidence = facts(f.Evidence.Facts)
		obs.RequestIDs = requestIDs(f.Evidence.Exchanges)
	} else if !r.OK {
		obs.Reason, obs.Layer = string(flows.ReasonInternalError), string(flows.LayerMonitor)
		obs.Summary = "the run failed without a classified failure"
	}
	obs.Warnings = warnings(r.Steps)
	return obs
}

func mergeLabels(base, over map[string]string) map[string]string {
	if len(base)+len(over) == 0 {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]string, len(over))
	}
	maps.Copy(out, over)
	return out
}

func facts(in []flows.Fact) []notify.Fact {
	var out []notify.Fact
	for _, f := range in {
		out = append(out, notify.Fact{Name: f.Name, Value: f.Value})
	}
	return out
}

// requestIDs merges the request ids of every exchange; a later exchange (the
// one that failed, usually) wins.
func requestIDs(exs []flows.ExchangeEvidence) map[string]string {
	var out map[string]string
	for _, ex := range exs {
		if len(ex.RequestIDs) > 0 && out == nil {
			out = map[string]string{}
		}
		maps.Copy(out, ex.RequestIDs)
	}
	return out
}

// warnings lists the warning findings of warned steps, one per reason.
func warnings(steps []flows.StepResult) []Finding {
	var out []Finding
	seen := map[flows.Reason]bool{}
	for _, s := range steps {
		if s.Status != flows.StepWarned {
			continue
		}
		for _, f := range s.Findings {
			if f.Reason.Info().Warning && !seen[f.Reason] {
				seen[f.Reason] = true
				out = append(out, Finding{Reason: string(f.Reason), Summary: f.Summary})
			}
		}
	}
	return out
}
