package store

import (
	"context"
	"encoding/json"
)

// LocationStates is implemented by stores that keep a flow's state per
// probe location (PostgreSQL, shared by cluster nodes in several locations,
// docs/cluster.md): RecordRun then keys the state by the run's Flow and
// Location, FlowStates returns one state per flow and location (ordered by
// flow, then location), and FlowState returns the state of the location
// the store was opened for. Stores without it (SQLite: one daemon, one
// location) keep one state per flow, which carries its last run's
// Location.
type LocationStates interface {
	// LocationStates returns the flow's state in every location that
	// recorded a run of it, ordered by location.
	LocationStates(ctx context.Context, flow string) ([]FlowState, error)
}

// IncidentStep computes a flow's next incident state from the one stored
// (nil: none yet) and the flow's states in every location, and returns the
// state to store with the outbox items to enqueue; a nil state writes
// nothing.
type IncidentStep func(stored json.RawMessage, states []FlowState) (json.RawMessage, []OutboxItem, error)

// SharedIncidents is implemented by stores that the nodes of several
// locations share (PostgreSQL): a flow's incident is one, whichever
// location's runs move it.
type SharedIncidents interface {
	// StepIncident runs step on the flow's stored incident state and its
	// states in every location, and writes what step returns, in one
	// transaction that holds the flow's incident locked: steps of one
	// flow serialize across nodes, each seeing what the previous one
	// committed, so two locations failing at once open one incident and
	// enqueue one page. It is fenced as CommitIncident is (WithFence).
	StepIncident(ctx context.Context, flow string, step IncidentStep) error
}
