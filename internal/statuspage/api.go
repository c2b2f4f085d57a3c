package statuspage

import (
	"net/http"
	"strconv"
)

// Runs served by /api/v1/flows/{name}/runs.
const (
	defaultRunsLimit = 50
	maxRunsLimit     = 1000
)

// RunsJSON is GET /api/v1/flows/{name}/runs.
type RunsJSON struct {
	Flow string    `json:"flow"`
	Runs []RunJSON `json:"runs"`
}

func (s *server) apiFlows(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	fs, _, err := s.summaries(r.Context(), now)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	fs = filterFlows(fs, parseLabelFilter(r.URL.Query()["label"]))
	writeJSON(w, http.StatusOK, FlowsJSON{GeneratedAt: now.UTC(), Counts: counts(fs), Flows: fs})
}

func (s *server) apiFlow(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ref, ok, err := s.findFlow(r.Context(), name)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: "no flow named " + strconv.Quote(name)})
		return
	}
	now := s.now()
	d, err := s.detail(r.Context(), ref, now)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	d.GeneratedAt = now.UTC()
	writeJSON(w, http.StatusOK, d)
}

func (s *server) apiRuns(w http.ResponseWriter, r *http.Request) {
	limit := defaultRunsLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunsLimit {
			writeJSON(w, http.StatusBadRequest, errorJSON{Error: "limit must be a whole number from 1 to " + strconv.Itoa(maxRunsLimit)})
			return
		}
		limit = n
	}
	name := r.PathValue("name")
	_, ok, err := s.findFlow(r.Context(), name)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: "no flow named " + strconv.Quote(name)})
		return
	}
	runs, err := s.src.Runs(r.Context(), name, limit)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := RunsJSON{Flow: name, Runs: make([]RunJSON, 0, len(runs))}
	for _, run := range runs {
		out.Runs = append(out.Runs, runJSON(run))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) apiIncidents(w http.ResponseWriter, r *http.Request) {
	out, err := s.incidents(r.Context(), s.now().UTC())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
