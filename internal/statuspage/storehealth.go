package statuspage

import (
	"time"

	"github.com/authwatch/authwatch/internal/store/buffered"
)

// StoreHealther is optionally implemented by a Source (*buffered.Store,
// the daemon's, does): while the state store refuses writes, every page
// shows a banner and /api/v1/flows says so, since what the pages show is
// then held in memory only.
type StoreHealther interface {
	Health() buffered.Health
}

// StoreStateJSON is the state store's condition in /api/v1/flows.
type StoreStateJSON struct {
	Writable bool `json:"writable"`
	// The rest is set while the store refuses writes.
	Since             *time.Time `json:"unwritable_since,omitempty"`
	Error             string     `json:"error,omitempty"`
	RunsHeldInMemory  int        `json:"runs_held_in_memory,omitempty"`
	PagesHeldInMemory int        `json:"pages_held_in_memory,omitempty"`
}

// storeState is the source's condition (writable when it cannot tell).
func (s *server) storeState() StoreStateJSON {
	hs, ok := s.src.(StoreHealther)
	if !ok {
		return StoreStateJSON{Writable: true}
	}
	h := hs.Health()
	if h.OK {
		return StoreStateJSON{Writable: true}
	}
	since := h.Since.UTC()
	return StoreStateJSON{Since: &since, Error: h.LastError, RunsHeldInMemory: h.PendingRuns, PagesHeldInMemory: h.PendingItems}
}
