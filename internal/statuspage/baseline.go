package statuspage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
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
	// CanAccept: the page offers its Accept button (behind the page's
	// authentication, with a store that records accepts).
	CanAccept bool   `json:"-"`
	AcceptURL string `json:"-"`
}

// baselines is where the page reads baselines and records accepts:
// Options.Baselines, else the source when it keeps them.
func (s *server) baselines() store.Baselines {
	if s.opts.Baselines != nil {
		return s.opts.Baselines
	}
	db, _ := s.src.(store.Baselines)
	return db
}

// baselineOf returns the flow's baseline; nil when the store keeps none
// (or cannot: a source without baselines).
func (s *server) baselineOf(ctx context.Context, flow string) (*BaselineJSON, error) {
	db := s.baselines()
	if db == nil {
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
	out := &BaselineJSON{View: b.View(), CanAccept: s.opts.Config.Auth != nil, AcceptURL: flowURL(flow) + "/baseline/accept"}
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

// acceptBaseline records an accept from the flow page's button, as
// `authwatch baseline accept` does, by the user the page authenticated.
// It exists only behind the page's authentication (without it, anyone who
// reaches a loopback listener could accept), and refuses a form posted
// from another site (browsers send basic credentials with it).
func (s *server) acceptBaseline(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	db := s.baselines()
	switch {
	case s.opts.Config.Auth == nil || db == nil:
		s.renderError(w, r, http.StatusForbidden, "Forbidden", "Accepting a baseline here needs the status page's authentication (status_page.auth); use authwatch baseline accept "+name+".")
		return
	case !sameOrigin(r):
		s.renderError(w, r, http.StatusForbidden, "Forbidden", "The form was posted from another site.")
		return
	}
	_, ok, err := s.findFlow(r.Context(), name)
	if err == nil && !ok {
		s.renderError(w, r, http.StatusNotFound, "Not found", "No flow is named "+name+".")
		return
	}
	if err == nil {
		_, err = db.AcceptBaseline(r.Context(), store.BaselineAccept{Flow: name, By: acceptedBy(r), At: s.now()})
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.log.Info("baseline accepted on the status page", "flow", name, "by", acceptedBy(r))
	http.Redirect(w, r, flowURL(name)+"#baseline", http.StatusSeeOther)
}

// sameOrigin reports whether a form post comes from the page itself: a
// browser names the posting page's origin (Origin, Sec-Fetch-Site); a
// client that names none is no browser another site could drive.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// acceptedBy names who accepts: the basic user, else the API token.
func acceptedBy(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok && user != "" {
		return "status page: " + user
	}
	return "status page: bearer token"
}
