package statuspage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Runs a flow's page lists, a page at a time (limit= and before= as in
// the API), and the HTML they may take: the runs past it go to the next
// page (a page shows at least one run).
const (
	historyRuns     = 20
	maxHistoryRuns  = 100
	maxHistoryBytes = 512 << 10
)

// assetVersions are short content hashes appended to asset URLs, so that
// a new binary's assets are never taken from a stale cache. Only scripts
// and style sheets are served.
var assetVersions = func() map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(assetFS, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") && !strings.HasSuffix(path, ".css") {
			return err
		}
		b, err := assetFS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(path, "assets/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	return out
}()

func assetURL(name string) string {
	return "/assets/" + name + "?v=" + assetVersions[name]
}

func assetHandler() http.Handler {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/assets/")
		if _, ok := assetVersions[name]; !ok {
			// No directory listings, no README: only the files pages use.
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	"asset":   assetURL,
	"flowURL": flowURL,
	"apiFlow": apiFlowURL,
	"rel":     relTime,
	"iso":     isoTime,
	"clock":   clockTime,
	"pct":     pct,
	"dur":     durMS,
	"durp":    durPtr,
	"spark":   sparkPoints,
	"labels":  sortedLabels,
	"seconds": seconds,
	"measure": measureTitle,
}

type pages struct {
	overview, flow, incidents, errorPage *template.Template
}

func newPages() *pages {
	parse := func(name string) *template.Template {
		return template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name))
	}
	return &pages{overview: parse("overview.html"), flow: parse("flow.html"), incidents: parse("incidents.html"), errorPage: parse("error.html")}
}

// base is what every page's layout needs.
type base struct {
	Title         string
	Heading       string
	Page          string // overview, flow, incidents, error
	API           string // the JSON the page refreshes from
	RefreshMS     int64
	RefreshText   string
	Now           time.Time
	OpenIncidents int
	Charts        bool
	LastRunID     int64
	// Store is shown as a banner on every page while it refuses writes.
	Store StoreStateJSON
}

func (s *server) base(page, heading, api string, now time.Time) base {
	title := s.opts.Title
	if heading != "" {
		title = heading + " · " + s.opts.Title
	}
	return base{Title: title, Heading: s.opts.Title, Page: page, API: api, RefreshMS: s.refresh.Milliseconds(),
		RefreshText: shortDuration(s.refresh), Now: now, Store: s.storeState()}
}

func openIncidents(incs map[string]incident.State) int {
	n := 0
	for _, st := range incs {
		if st.Open {
			n++
		}
		if st.Warning != nil && st.Warning.Open {
			n++
		}
	}
	return n
}

// render writes a page in one piece: a template error never leaves half a
// page with a 200.
func (s *server) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("status page: rendering failed", "path", r.URL.Path, "err", err)
		http.Error(w, "rendering the page failed; see the authwatch log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorView struct {
	base
	Status  int
	Message string
}

func (s *server) renderError(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	v := errorView{base: s.base("error", heading, "", s.now()), Status: status, Message: msg}
	s.render(w, r, s.pages.errorPage, status, v)
}

// flowRow is a flow on the overview.
type flowRow struct {
	FlowSummary
	Now time.Time
}

type flowGroup struct {
	Key, Value string // Value "" with Key set: flows without the label
	Flows      []flowRow
}

type overviewView struct {
	base
	Counts       map[string]int
	Total        int
	GroupBy      string
	GroupKeys    []string
	LabelOptions []string // key=value
	Selected     string   // the label filter chosen, key=value
	Groups       []flowGroup
	// NoFlows: none is configured (a fresh install); FlowsDir is where
	// flow files go.
	NoFlows  bool
	FlowsDir string
}

func (s *server) overviewPage(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	all, incs, err := s.summaries(r.Context(), now)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	q := r.URL.Query()
	v := overviewView{base: s.base("overview", "", "/api/v1/flows", now), GroupBy: q.Get("group")}
	v.OpenIncidents = openIncidents(incs)
	keys, options := map[string]bool{}, map[string]bool{}
	for _, f := range all {
		for k, val := range f.Labels {
			keys[k] = true
			options[k+"="+val] = true
		}
	}
	for k := range keys {
		v.GroupKeys = append(v.GroupKeys, k)
	}
	for o := range options {
		v.LabelOptions = append(v.LabelOptions, o)
	}
	slices.Sort(v.GroupKeys)
	slices.Sort(v.LabelOptions)
	if !keys[v.GroupBy] {
		v.GroupBy = ""
	}
	filter := q["label"]
	if len(filter) > 0 {
		v.Selected = filter[0]
	}
	shown := filterFlows(all, parseLabelFilter(filter))
	v.Counts, v.Total = counts(shown), len(shown)
	v.Groups = groupFlows(shown, v.GroupBy, now)
	v.NoFlows, v.FlowsDir = len(all) == 0 && s.opts.Flows != nil, s.opts.FlowsDir
	s.render(w, r, s.pages.overview, http.StatusOK, v)
}

// groupFlows groups by a label's value (flows without it last), keeping
// each group's order.
func groupFlows(fs []FlowSummary, key string, now time.Time) []flowGroup {
	if key == "" {
		g := flowGroup{}
		for _, f := range fs {
			g.Flows = append(g.Flows, flowRow{f, now})
		}
		return []flowGroup{g}
	}
	idx := map[string]int{}
	var groups []flowGroup
	for _, f := range fs {
		val, ok := f.Labels[key]
		if !ok {
			val = "\x00"
		}
		i, seen := idx[val]
		if !seen {
			i = len(groups)
			idx[val] = i
			g := flowGroup{Key: key, Value: val}
			if !ok {
				g.Value = ""
			}
			groups = append(groups, g)
		}
		groups[i].Flows = append(groups[i].Flows, flowRow{f, now})
	}
	slices.SortStableFunc(groups, func(a, b flowGroup) int {
		switch {
		case a.Value == "" && b.Value != "":
			return 1
		case b.Value == "" && a.Value != "":
			return -1
		}
		return strings.Compare(a.Value, b.Value)
	})
	return groups
}

type flowView struct {
	base
	Flow      FlowSummary
	Labels    []kv
	NextStep  string
	Incidents []IncidentJSON
	Timeline  []TimelineEntry
	Latest    []latestMeasure
	Runs      []template.HTML // each rendered on its own, within maxHistoryBytes
	Older     string          // the next page of runs, if any
	Newest    string          // the first page, when this is not it
}

func (s *server) flowPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	ref, ok, err := s.findFlow(ctx, name)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "Not found", "No flow is named "+name+".")
		return
	}
	now := s.now()
	d, err := s.detail(ctx, ref, now)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	incs, err := s.incidentStates(ctx)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	page, bad := parsePage(r.URL.Query(), historyRuns, maxHistoryRuns)
	if bad != "" {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", bad+".")
		return
	}
	runs, err := s.runsPage(ctx, name, page)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	v := flowView{base: s.base("flow", name, apiFlowURL(name), now), Flow: d.Flow, Labels: sortedLabels(d.Flow.Labels),
		Incidents: d.Incidents, Timeline: d.Timeline, Latest: latestMeasures(d.Trends)}
	v.OpenIncidents, v.Charts, v.LastRunID = openIncidents(incs), true, d.Flow.LastRunID
	if page.Before != 0 {
		v.Newest = flowURL(name) + "#runs"
	}
	if err := s.renderRuns(&v, runs, page, now); err != nil {
		s.log.Error("status page: rendering failed", "path", r.URL.Path, "err", err)
		http.Error(w, "rendering the page failed; see the authwatch log", http.StatusInternalServerError)
		return
	}
	s.render(w, r, s.pages.flow, http.StatusOK, v)
}

// renderRuns renders the page's runs (runs may hold one more than
// page.Limit) until maxHistoryBytes, and links the next page.
func (s *server) renderRuns(v *flowView, runs []store.Run, page pageQuery, now time.Time) error {
	size := 0
	var buf bytes.Buffer
	for i, run := range runs {
		if i == page.Limit {
			v.Older = olderURL(v.Flow.Name, runs[i-1].ID, page)
			return nil
		}
		rj := runJSON(run)
		if i == 0 && page.Before == 0 && v.Flow.State == StateFailing {
			v.NextStep = rj.NextStep
		}
		buf.Reset()
		// The newest run is open.
		if err := s.pages.flow.ExecuteTemplate(&buf, "run", newRunView(rj, now, i == 0 && page.Before == 0)); err != nil {
			return err
		}
		if size += buf.Len(); size > maxHistoryBytes && i > 0 {
			v.Older = olderURL(v.Flow.Name, runs[i-1].ID, page)
			return nil
		}
		v.Runs = append(v.Runs, template.HTML(buf.String())) // html/template escaped it
	}
	return nil
}

// olderURL is the page of runs after the run with ID last.
func olderURL(flow string, last int64, page pageQuery) string {
	u := flowURL(flow) + "?before=" + strconv.FormatInt(last, 10)
	if page.Limit != historyRuns {
		u += "&limit=" + strconv.Itoa(page.Limit)
	}
	return u + "#runs"
}

type incidentsView struct {
	base
	IncidentsJSON
}

func (s *server) incidentsPage(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	data, err := s.incidents(r.Context(), now)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	v := incidentsView{base: s.base("incidents", "Incidents", "/api/v1/incidents", now), IncidentsJSON: data}
	v.OpenIncidents = len(data.Open)
	s.render(w, r, s.pages.incidents, http.StatusOK, v)
}
