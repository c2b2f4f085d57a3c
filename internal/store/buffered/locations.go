package buffered

import (
	"context"

	"github.com/authwatch/authwatch/internal/store"
)

// LocationStates implements store.LocationStates when the backend does
// (PostgreSQL): a cluster node keeps nothing in memory for it (its fenced
// writes are never held there). With a backend that keeps one state per
// flow (SQLite, a single daemon) there is none.
func (s *Store) LocationStates(ctx context.Context, flow string) ([]store.FlowState, error) {
	ls, ok := s.backend.(store.LocationStates)
	if !ok {
		return nil, nil
	}
	return ls.LocationStates(ctx, flow)
}
