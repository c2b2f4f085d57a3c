package statuspage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/authwatch/authwatch/internal/store"
)

// Runs served by /api/v1/flows/{name}/runs, a page at a time.
const (
	defaultRunsLimit = 50
	maxRunsLimit     = 200
	// maxRunsAnswer bounds the JSON of one page's runs, so that the answer
	// stays under 1 MiB: the runs past it go to the next page (a page
	// holds at least one run).
	maxRunsAnswer = 960 << 10
)

// RunsJSON is GET /api/v1/flows/{name}/runs.
type RunsJSON struct {
	Flow string    `json:"flow"`
	Runs []RunJSON `json:"runs"`
	// NextBefore, passed as before=, reads the next (older) page; absent
	// on the last page.
	NextBefore int64 `json:"next_before,omitempty"`
}

// RunPager is optionally implemented by a Source (*sqlite.Store does) to
// read the pages after the first of a flow's history without reading the
// newer runs.
type RunPager interface {
	// RunsBefore returns the flow's runs older than the run with ID
	// before, newest first, at most limit of them.
	RunsBefore(ctx context.Context, flow string, before int64, limit int) ([]store.Run, error)
}

// pageQuery is a page of a flow's runs: at most Limit runs older than the
// run Before (0: the newest).
type pageQuery struct {
	Limit  int
	Before int64
}

// parsePage reads limit= and before=; the error is for the client.
func parsePage(q url.Values, def, most int) (pageQuery, string) {
	p := pageQuery{Limit: def}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > most {
			return p, "limit must be a whole number from 1 to " + strconv.Itoa(most)
		}
		p.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return p, "before must be a run id (a whole number from 1)"
		}
		p.Before = n
	}
	return p, ""
}

// runsPage reads the page's runs and one more (which says that an older
// page exists).
func (s *server) runsPage(ctx context.Context, flow string, p pageQuery) ([]store.Run, error) {
	if p.Before == 0 {
		return s.src.Runs(ctx, flow, p.Limit+1)
	}
	if pager, ok := s.src.(RunPager); ok {
		return pager.RunsBefore(ctx, flow, p.Before, p.Limit+1)
	}
	all, err := s.src.Runs(ctx, flow, 0)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(all, func(r store.Run) bool { return r.ID == p.Before })
	if i < 0 {
		return nil, nil
	}
	return all[i+1 : min(len(all), i+2+p.Limit)], nil
}

func (s *server) apiFlows(w http.ResponseWriter, r *http.Request) {
	fq, bad := parseFlowQuery(r.URL.Query())
	if bad != "" {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: bad})
		return
	}
	now := s.now()
	p, err := s.listPage(r.Context(), fq)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if notModified(w, r, s.pageTag(r, now, p)) {
		return
	}
	rows, err := s.rows(r.Context(), p.page, now)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := FlowsJSON{GeneratedAt: now.UTC(), Total: p.total, Limit: fq.limit, Counts: p.counts, Flows: rows, StateStore: s.storeState()}
	if p.next != nil {
		out.NextCursor = p.next.String()
		out.Next = "/api/v1/flows?" + fq.values("after", out.NextCursor).Encode()
	}
	if p.prev != nil {
		out.PrevCursor = p.prev.String()
		out.Prev = "/api/v1/flows?" + fq.values("before", out.PrevCursor).Encode()
	}
	writeJSON(w, http.StatusOK, out)
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
	page, bad := parsePage(r.URL.Query(), defaultRunsLimit, maxRunsLimit)
	if bad != "" {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: bad})
		return
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
	runs, err := s.runsPage(r.Context(), name, page)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, runsAnswer(name, runs, page.Limit))
}

// runsAnswer is a page of at most limit runs (runs may hold one more) that
// fits maxRunsAnswer, and where the next page starts.
func runsAnswer(flow string, runs []store.Run, limit int) RunsJSON {
	out := RunsJSON{Flow: flow, Runs: make([]RunJSON, 0, min(len(runs), limit))}
	size := 0
	for i, run := range runs {
		if i == limit {
			out.NextBefore = runs[i-1].ID
			break
		}
		rj := runJSON(run)
		b, _ := json.MarshalIndent(rj, "    ", "  ") // as it sits in the answer
		if size += len(b); size > maxRunsAnswer && i > 0 {
			out.NextBefore = runs[i-1].ID
			break
		}
		out.Runs = append(out.Runs, rj)
	}
	return out
}

func (s *server) apiIncidents(w http.ResponseWriter, r *http.Request) {
	out, err := s.incidents(r.Context(), s.now().UTC())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
