package baseline

import (
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// maxPhrases bounds the changes a summary names; the evidence has them all.
const maxPhrases = 3

// Finding is the baseline_changed warning for a run's drifts: one finding
// for the whole run, naming before, after and since when of each change;
// its facts hold every value before and after. now decides how a time is
// written (the day is left out on the same day).
func Finding(drifts []Drift, now time.Time) flows.Finding {
	var parts []string
	var facts []flows.Fact
	for i, d := range drifts {
		if i < maxPhrases {
			parts = append(parts, d.Step+": "+d.Phrase+" since "+sinceText(d.Since, now))
		}
		facts = append(facts, flows.F(d.Key+".before", d.Before), flows.F(d.Key+".after", d.After),
			flows.F(d.Key+".since", d.Since.UTC().Format(time.RFC3339)), flows.F(d.Key+".layer", d.Layer))
	}
	summary := strings.Join(parts, "; ")
	if n := len(drifts) - maxPhrases; n > 0 {
		summary += "; and " + plural(n, "more change") + " (see the evidence)"
	}
	return flows.Finding{Reason: flows.ReasonBaselineChanged, Summary: summary, Facts: facts}
}

// sinceText writes a time as people read it: 14:02 UTC today, else with
// its day.
func sinceText(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04 UTC")
	}
	return t.Format("Jan 2 15:04 UTC")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// Warn adds the drifts' finding to the run, on the step of the first
// drift, and marks that step warned. A run without drifts is left as it is.
func Warn(r *flows.Result, drifts []Drift, now time.Time) {
	if len(drifts) == 0 || len(r.Steps) == 0 {
		return
	}
	i := 0
	for j := range r.Steps {
		if r.Steps[j].ID == drifts[0].Step {
			i = j
			break
		}
	}
	s := &r.Steps[i]
	s.Findings = append(s.Findings, Finding(drifts, now))
	if s.Status == flows.StepPassed {
		s.Status = flows.StepWarned
	}
}
