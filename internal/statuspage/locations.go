package statuspage

import (
	"context"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// LocationJSON is a flow's latest result in one probe location, when
// clustered daemons in several locations share the store
// (docs/cluster.md).
type LocationJSON struct {
	Location            string    `json:"location"`
	State               string    `json:"state"` // passing or failing
	Since               time.Time `json:"since,omitzero"`
	LastRun             time.Time `json:"last_run,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	ConsecutivePasses   int       `json:"consecutive_passes"`
	Reason              string    `json:"reason,omitempty"`
	FailedStep          string    `json:"failed_step,omitempty"`
	Summary             string    `json:"summary,omitempty"`
}

// locationsOf is the flow's result per location, from a Source that keeps
// states per location (store.LocationStates); none for a single daemon,
// whose states have no location.
func (s *server) locationsOf(ctx context.Context, flow string) ([]LocationJSON, error) {
	ls, ok := s.src.(store.LocationStates)
	if !ok {
		return nil, nil
	}
	states, err := ls.LocationStates(ctx, flow)
	if err != nil {
		return nil, err
	}
	var out []LocationJSON
	for _, st := range states {
		if st.Location == "" || st.LastRun.IsZero() {
			continue // a single daemon's, from before the cluster
		}
		l := LocationJSON{Location: st.Location, State: StatePassing, Since: st.Since, LastRun: st.LastRun,
			ConsecutiveFailures: st.ConsecutiveFailures, ConsecutivePasses: st.ConsecutivePasses}
		if !st.OK {
			l.State, l.Reason, l.FailedStep, l.Summary = StateFailing, st.LastReason, st.LastFailedStep, servedText(st.LastSummary)
		}
		out = append(out, l)
	}
	return out, nil
}
