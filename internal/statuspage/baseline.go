package statuspage

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/store"
)

// BaselineJSON is a flow's learned baseline as the API returns it
// (/api/v1/flows/{name}/baseline): what is normal, what varies by design,
// what changed and since when, and the accepts.
type BaselineJSON struct {
	baseline.View
	// Pending are accepts the daemon applies at the flow's next passing run.
	Pending     []store.BaselineAccept `json:"pending_accepts,omitempty"`
	GeneratedAt time.Time              `json:"generated_at"`
}

// baselineOf returns the flow's baseline; nil when the store keeps none
// (or cannot: a source without baselines).
func (s *server) baselineOf(ctx context.Context, flow string) (*BaselineJSON, error) {
	db, ok := s.src.(store.Baselines)
	if !ok {
		return nil, nil
	}
	rec, found, err := db.LoadBaseline(ctx, flow)
	if err != nil || !found {
		return nil, err
	}
	var b baseline.Baseline
	if err := json.Unmarshal(rec.Data, &b); err != nil {
		s.log.Warn("status page: a stored baseline is unreadable", "flow", flow, "err", err)
		return nil, nil
	}
	out := &BaselineJSON{View: b.View()}
	if len(b.Drifts) > 0 {
		accepts, err := db.BaselineAccepts(ctx, flow, b.LastAccept, 0)
		if err != nil {
			return nil, err
		}
		first := b.Drifts[0].Since
		for _, d := range b.Drifts {
			if d.Since.Before(first) {
				first = d.Since
			}
		}
		for _, a := range accepts {
			if !a.At.Before(first) {
				out.Pending = append(out.Pending, a)
			}
		}
	}
	return out, nil
}

func (s *server) apiBaseline(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	_, ok, err := s.findFlow(r.Context(), name)
	if err == nil && !ok {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: "no flow named " + strconv.Quote(name)})
		return
	}
	var b *BaselineJSON
	if err == nil {
		b, err = s.baselineOf(r.Context(), name)
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if b == nil {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: "flow " + strconv.Quote(name) + " has no baseline yet"})
		return
	}
	b.GeneratedAt = s.now().UTC()
	writeJSON(w, http.StatusOK, b)
}
