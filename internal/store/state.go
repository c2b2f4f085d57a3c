package store

import (
	"errors"
	"fmt"
)

// Next returns the state after r is recorded on top of s (the zero FlowState
// for a flow seen for the first time). Every backend applies these rules:
//   - Flow and Location come from the run;
//   - every run counts in Runs;
//   - a cancelled run changes nothing else;
//   - the first counted run, and every run whose outcome differs from the
//     current one, starts a new state: OK and Since are set from the run and
//     the streak counters restart;
//   - otherwise the run extends the current streak;
//   - LastRun, LastReason, LastSummary, LastRunID, LastWarnings, LastLayer
//     and LastFailedStep come from the run.
func (s FlowState) Next(r Run) FlowState {
	s.Flow, s.Location = r.Flow, r.Location
	s.Runs++
	if r.Cancelled {
		return s
	}
	if s.LastRun.IsZero() || s.OK != r.OK {
		s.OK, s.Since = r.OK, r.Start
		s.ConsecutivePasses, s.ConsecutiveFailures = 0, 0
	}
	if r.OK {
		s.ConsecutivePasses++
	} else {
		s.ConsecutiveFailures++
	}
	s.LastRun, s.LastReason, s.LastSummary = r.Start, r.Reason, r.Summary
	s.LastRunID, s.LastWarnings, s.LastLayer, s.LastFailedStep = r.ID, r.Warnings, r.Layer, r.FailedStep
	return s
}

// Validate reports whether r can be recorded: it needs a flow and a start
// time that fits in int64 Unix nanoseconds (years 1678 to 2261), the form
// backends store it in.
func (r Run) Validate() error {
	switch {
	case r.Flow == "":
		return errors.New("run has no flow")
	case r.Start.IsZero():
		return fmt.Errorf("run of flow %q has no start time", r.Flow)
	case r.Start.Year() < 1678 || r.Start.Year() > 2261:
		return fmt.Errorf("run of flow %q: start time %s out of range", r.Flow, r.Start)
	}
	return nil
}
