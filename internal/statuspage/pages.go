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
	Total        int // flows that pass every filter
	GroupBy      string
	GroupKeys    []string
	LabelOptions []string // key=value
	Selected     string   // the label filter chosen, key=value
	Search       string
	// Filtered: a filter other than the label chosen is set (the empty
	// page then says so).
	Filtered bool
	// Chips are the state filters, each with its count.
	Chips []stateChip
	// Keep are the parameters the filter form carries over unchanged.
	Keep   []kv
	Groups []flowGroup
	// First and Last number the rows shown (from 1), Limit is a page's
	// size; Prev and Next link the pages around this one.
	First, Last, Limit int
	Prev, Next         string
	// NoFlows: none is configured (a fresh install); FlowsDir is where
	// flow files go.
	NoFlows  bool
	FlowsDir string
}

// stateChip is a link that shows one state's flows (State "": all).
type stateChip struct {
	State, Text string
	Count       int
	URL         string
	Current     bool
}

// maxLabelOptions bounds the label filter's choices (flows labelled one
// by one would make the page megabytes); label= takes any other.
const maxLabelOptions = 500

func (s *server) overviewPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fq, bad := parseFlowQuery(q)
	if bad != "" {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", bad+".")
		return
	}
	now := s.now()
	p, err := s.listPage(r.Context(), fq)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	v := overviewView{base: s.base("overview", "", "/api/v1/flows", now), GroupBy: q.Get("group"), Search: fq.search,
		Counts: p.counts, Total: p.total, Limit: fq.limit}
	v.OpenIncidents = openIncidents(p.incs.decoded)
	v.GroupKeys, v.LabelOptions = p.labelChoices()
	if !slices.Contains(v.GroupKeys, v.GroupBy) {
		v.GroupBy = ""
	}
	if len(fq.label) > 0 {
		v.Selected = fq.label[0]
	}
	if notModified(w, r, s.pageTag(r, now, p, append(v.GroupKeys, v.LabelOptions...)...)) {
		return
	}
	rows, err := s.rows(r.Context(), p.page, now)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	v.fillPager(fq, p)
	if api := fq.cursorValues().Encode(); api != "" {
		v.API += "?" + api // the refresh reads this page's flows
	}
	v.Groups = groupFlows(rows, v.GroupBy, now)
	v.NoFlows, v.FlowsDir = len(p.all) == 0 && s.opts.Flows != nil, s.opts.FlowsDir
	s.render(w, r, s.pages.overview, http.StatusOK, v)
}

// labelChoices are the label keys to group by and the key=value pairs to
// filter by, over every flow shown.
func labelChoices(all []*listed) (keys, options []string) {
	seenKey, seenOpt := map[string]bool{}, map[string]bool{}
	for _, l := range all {
		for k, val := range l.labels {
			if !seenKey[k] {
				seenKey[k] = true
				keys = append(keys, k)
			}
			if o := k + "=" + val; !seenOpt[o] {
				seenOpt[o] = true
				options = append(options, o)
			}
		}
	}
	slices.Sort(keys)
	slices.Sort(options)
	return keys, options[:min(len(options), maxLabelOptions)]
}

// fillPager sets the state chips, the pager and the parameters the form
// keeps.
func (v *overviewView) fillPager(fq flowQuery, p flowsPage) {
	link := func(q flowQuery, param, cursor string) string {
		vals := q.values(param, cursor)
		if v.GroupBy != "" {
			vals.Set("group", v.GroupBy)
		}
		if enc := vals.Encode(); enc != "" {
			return "/?" + enc
		}
		return "/"
	}
	all := fq
	all.states = nil
	v.Chips = append(v.Chips, stateChip{Text: "all", Count: sumCounts(p.counts), URL: link(all, "", ""), Current: len(fq.states) == 0})
	for _, st := range []string{StateFailing, StateWarning, StatePassing, StatePaused, StateUnknown} {
		if st == StateUnknown && p.counts[st] == 0 {
			continue
		}
		one := fq
		one.states = []string{st}
		text := st
		if st == StateUnknown {
			text = "not run yet"
		}
		v.Chips = append(v.Chips, stateChip{State: st, Text: text, Count: p.counts[st], URL: link(one, "", ""),
			Current: len(fq.states) == 1 && fq.states[0] == st})
	}
	if p.prev != nil {
		v.Prev = link(fq, "before", p.prev.String())
	}
	if p.next != nil {
		v.Next = link(fq, "after", p.next.String())
	}
	if len(p.page) > 0 {
		v.First, v.Last = p.offset+1, p.offset+len(p.page)
	}
	v.Filtered = len(fq.label) > 1 || len(fq.states) > 0 || len(fq.reasons) > 0 || fq.search != ""
	if len(fq.states) > 0 {
		v.Keep = append(v.Keep, kv{"state", strings.Join(fq.states, ",")})
	}
	if len(fq.reasons) > 0 {
		v.Keep = append(v.Keep, kv{"reason", strings.Join(fq.reasons, ",")})
	}
	for _, l := range fq.label[min(1, len(fq.label)):] {
		v.Keep = append(v.Keep, kv{"label", l}) // the select shows the first
	}
	if fq.limit != defaultFlowsLimit {
		v.Keep = append(v.Keep, kv{"limit", strconv.Itoa(fq.limit)})
	}
}

func sumCounts(c map[string]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
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
	Locations []LocationJSON
	Timeline  []TimelineEntry
	Latest    []latestMeasure
	Runs      []template.HTML // each rendered on its own, within maxHistoryBytes
	Older     string          // the next page of runs, if any
	Newest    string          // the first page, when this is not it
	Baseline  *BaselineJSON   // nil: none learned (or kept) yet
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
		Incidents: d.Incidents, Locations: d.Locations, Timeline: d.Timeline, Latest: latestMeasures(d.Trends)}
	v.OpenIncidents, v.Charts, v.LastRunID = openIncidents(incs), true, d.Flow.LastRunID
	if page.Before != 0 {
		v.Newest = flowURL(name) + "#runs"
	}
	if v.Baseline, err = s.baselineOf(ctx, name); err != nil {
		s.storeError(w, r, err)
		return
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
