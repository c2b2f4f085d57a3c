// Package statuspage serves authwatch's status page and its JSON API: every
// flow's state, pass rates and latency; a flow's run history with each
// step's result, timings and redacted evidence; incidents and notification
// delivery.
//
// Pages are rendered on the server with html/template (everything is
// escaped) and work without JavaScript; a small script served from /assets
// refreshes them from the JSON API without reloading, and draws charts
// with uPlot, pinned and embedded like every other asset (no CDN: the page
// works offline). Every response carries a strict Content-Security-Policy
// (no inline script or style, no framing) and Cache-Control: no-store,
// except the overview and /api/v1/flows: they carry an ETag and
// "private, no-cache", and answer 304 to a client whose copy is current.
//
// The overview and /api/v1/flows serve a page of flows (100 by default),
// filtered and counted from the flows' states, configuration and incident
// states alone; only the flows on the page have their history read. The
// daemon serves the states from its memory (Options.States), and hands
// each run it records to the figures, so that at 10,000 flows a view reads
// neither the states nor, usually, any run from the store.
//
// Everything shown comes from the state store, already redacted by the
// flows package when the runs were recorded; on top of that, request
// bodies are never served and recorded steps are decoded into known
// fields only, so a field added to the record later is not published by
// accident.
//
// Authentication (Config.Auth) is HTTP Basic for people and/or a bearer
// token for API clients, from secret references resolved on every
// request and compared in constant time. It is required when the page is
// served beyond loopback (Config.CheckListen).
package statuspage

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
)

// Source is what the status page reads from the state store: a subset of
// store.Store and store.Outbox (*sqlite.Store implements it). It may also
// implement RunSummarizer.
type Source interface {
	// FlowStates returns the state of every flow, ordered by flow name.
	FlowStates(ctx context.Context) ([]store.FlowState, error)
	// FlowState returns the state of one flow, and false if it has none.
	FlowState(ctx context.Context, flow string) (store.FlowState, bool, error)
	// Runs returns the flow's runs, newest first, at most limit of them.
	Runs(ctx context.Context, flow string, limit int) ([]store.Run, error)
	// IncidentStates returns every flow's incident state (incident.State as JSON).
	IncidentStates(ctx context.Context) (map[string]json.RawMessage, error)
	// Backlog counts undelivered and dead notifications per notifier.
	Backlog(ctx context.Context) (map[string]store.Backlog, error)
}

// FlowInfo is a configured flow as the status page shows it.
type FlowInfo struct {
	Name   string
	Labels map[string]string
	// Schedule is shown as written, e.g. "every 15s" or "cron */5 * * * *".
	Schedule string
	// Every is the interval of an every: schedule, 0 for cron; it bounds
	// how many runs 7 days hold.
	Every time.Duration
	// Paused flows are configured but not scheduled.
	Paused bool
}

// FlowInfos describes loaded flows; those without a schedule are paused.
func FlowInfos(fs []*flows.Flow) []FlowInfo {
	out := make([]FlowInfo, 0, len(fs))
	for _, f := range fs {
		fi := FlowInfo{Name: f.Name, Labels: f.Labels, Every: f.Every.Std()}
		switch {
		case f.Cron != "":
			fi.Schedule = "cron " + f.Cron
		case !f.Every.IsZero():
			fi.Schedule = "every " + f.Every.String()
		default: // run only by authwatch check; the daemon does not schedule it
			fi.Schedule, fi.Paused = "not scheduled", true
		}
		out = append(out, fi)
	}
	return out
}

// Options configure the handler.
type Options struct {
	// Config is the status_page section of authwatch.yaml.
	Config Config
	// Secrets resolves the credentials' references (per request).
	Secrets conf.SecretSource
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Flows lists the configured flows, called on every request (so a
	// reload shows at once) and possibly concurrently: it must be cheap and
	// safe for concurrent use. Nil: every flow with a state in the store.
	Flows func() []FlowInfo
	// States, when set, holds the flows' states in memory (the daemon's):
	// the pages then read no state from the store, and the flows' figures
	// take the runs it is told of (LiveStates.Recorded) without reading
	// them. It must hold every state the store has for the flows shown
	// before the handler serves. With States, the slice Flows returns must
	// not change after it is returned: a new configuration is a new slice
	// (the order of the overview is kept while the slice is the same).
	States *LiveStates
	// FlowsDir is where flow files go: with no flow configured, the
	// overview says how to add one there.
	FlowsDir string
	// IncidentPolicy returns the alert policy of a flow, so that the
	// Incidents page says when a failing flow without an incident gets
	// one ("1 failure in a row; an incident opens after 2"). Nil: the page
	// gives the failures in a row only.
	IncidentPolicy func(flow string) incident.Policy
	// Baselines is where the flows' baselines are read and the flow page's
	// Accept button records accepts (nil: the source, if it keeps them).
	Baselines store.Baselines
	// Title heads every page (default "authwatch").
	Title string
	// RefreshInterval is how often open pages refresh (default 15 s).
	RefreshInterval time.Duration
	// Logger receives errors reading the store or the credentials
	// (default: discarded).
	Logger *slog.Logger
}

type server struct {
	src      Source
	opts     Options
	now      func() time.Time
	log      *slog.Logger
	stats    statsCache
	incCache incidentCache
	listings listingCache
	pages    *pages
	// tagSalt starts every ETag: a new process (perhaps a new binary with
	// other templates) never matches an old tag.
	tagSalt [8]byte
	refresh time.Duration
}

// New returns the status page's handler. Mount it at the root of a mux:
// it serves /, /flows/{name}, /incidents, /api/v1/... and /assets/..., and
// answers 404 to anything else (more specific patterns registered on the
// same mux, such as /metrics, keep precedence).
func New(src Source, opts Options) http.Handler { return newServer(src, opts).handler() }

func newServer(src Source, opts Options) *server {
	s := &server{src: src, opts: opts, now: opts.Now, log: opts.Logger, refresh: opts.RefreshInterval}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opts.Title == "" {
		s.opts.Title = "authwatch"
	}
	if s.refresh <= 0 {
		s.refresh = 15 * time.Second
	}
	s.pages = newPages()
	if opts.States != nil {
		observe := runObserver(s.stats.observe)
		opts.States.runs.Store(&observe)
	}
	_, _ = rand.Read(s.tagSalt[:])
	return s
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overviewPage)
	mux.HandleFunc("GET /flows/{name}", s.flowPage)
	mux.HandleFunc("GET /incidents", s.incidentsPage)
	mux.HandleFunc("GET /api/v1/flows", s.apiFlows)
	mux.HandleFunc("GET /api/v1/flows/{name}", s.apiFlow)
	mux.HandleFunc("GET /api/v1/flows/{name}/runs", s.apiRuns)
	mux.HandleFunc("GET /api/v1/flows/{name}/baseline", s.apiBaseline)
	mux.HandleFunc("POST /flows/{name}/baseline/accept", s.acceptBaseline)
	mux.HandleFunc("GET /api/v1/incidents", s.apiIncidents)
	mux.Handle("GET /assets/", assetHandler())
	mux.HandleFunc("GET /", s.notFound) // other methods: 405 (the page only reads)
	auth := &authenticator{cfg: s.opts.Config.Auth, secrets: s.opts.Secrets, log: s.log}
	return securityHeaders(auth.wrap(mux))
}

// csp allows the page's own scripts, styles and API calls, nothing inline
// and nothing from elsewhere, and forbids framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/assets/") {
			h.Set("Cache-Control", "private, max-age=86400")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

type errorJSON struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: "not found"})
		return
	}
	s.renderError(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
}

// storeError answers 500 without the error's text (the log has it).
func (s *server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	s.log.Error("status page: reading the state store failed", "path", r.URL.Path, "err", err)
	if isAPI(r) {
		writeJSON(w, http.StatusInternalServerError, errorJSON{Error: "reading the state store failed; see the authwatch log"})
		return
	}
	s.renderError(w, r, http.StatusInternalServerError, "Error", "Reading the state store failed; see the authwatch log.")
}
