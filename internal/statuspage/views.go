package statuspage

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/exchange"
)

// kv is one key and value, for sorted maps in templates.
type kv struct{ K, V string }

func sortedLabels(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.K, b.K) })
	return out
}

func sortedHeaders(h map[string][]string) []kv {
	var out []kv
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, kv{k, v})
		}
	}
	slices.SortStableFunc(out, func(a, b kv) int { return strings.Compare(a.K, b.K) })
	return out
}

// headerValues returns a header's values whatever its case in the map.
func headerValues(h map[string][]string, name string) []string {
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			return vs
		}
	}
	return nil
}

// FlowPath is the path of a flow's page (the name is escaped as one path
// segment), for links from notifications: status_url + FlowPath(flow).
func FlowPath(name string) string { return "/flows/" + url.PathEscape(name) }

func flowURL(name string) string { return FlowPath(name) }

func apiFlowURL(name string) string { return "/api/v1/flows/" + url.PathEscape(name) }

// relTime is how long ago t was, from now: "12 s ago", "3 min ago".
func relTime(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + shortDuration(-d)
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " d"
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// clockTime is t for people, in UTC.
func clockTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func pct(r *float64) string {
	if r == nil {
		return "–"
	}
	if *r == 1 {
		return "100 %"
	}
	return strconv.FormatFloat(math.Floor(*r*1000)/10, 'f', 1, 64) + " %"
}

func durMS(ms float64) string {
	switch {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms < 10000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
}

func durPtr(ms *float64) string {
	if ms == nil {
		return "–"
	}
	return durMS(*ms)
}

// seconds shows a measured number of seconds in a readable unit.
func seconds(v float64) string {
	neg := v < 0
	a := math.Abs(v)
	var s string
	switch {
	case a < 120:
		s = strconv.FormatFloat(a, 'f', 0, 64) + " s"
	case a < 2*3600:
		s = strconv.FormatFloat(a/60, 'f', 0, 64) + " min"
	case a < 2*86400:
		s = strconv.FormatFloat(a/3600, 'f', 1, 64) + " h"
	default:
		s = strconv.FormatFloat(a/86400, 'f', 1, 64) + " d"
	}
	if neg {
		return "−" + s
	}
	return s
}

// sparkPoints draws values as an SVG polyline in a 100×24 box.
func sparkPoints(vals []float64) string {
	if len(vals) == 0 {
		return ""
	}
	lo, hi := slices.Min(vals), slices.Max(vals)
	var b strings.Builder
	for i, v := range vals {
		x := 50.0
		if len(vals) > 1 {
			x = float64(i) * 100 / float64(len(vals)-1)
		}
		y := 12.0
		if hi > lo {
			y = 22 - (v-lo)/(hi-lo)*20
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64))
	}
	return b.String()
}

// runView is a run on a flow's page.
type runView struct {
	RunJSON
	Now       time.Time
	Open      bool
	Waterfall []wfRow
	Steps     []stepView
	Chain     []chainLink // the exchanges of the failed step, in order
}

// wfRow is one step in the timing waterfall: an offset and a width in
// percent of the run.
type wfRow struct {
	Step, Kind, Status string
	X, W               float64
	MS                 float64
}

type chainLink struct {
	Method, URL string
	Status      int
	Location    string
	Error       string
}

// stepView is a step with its evidence prepared for display.
type stepView struct {
	StepJSON
	Detail    bool // anything beyond the waterfall's line to show
	Facts     []flows.Fact
	Token     *tokenView
	Exchanges []exchangeView
}

type tokenView struct {
	Fingerprint, Kind string
	Header, Claims    []kv
}

type exchangeView struct {
	Method, URL, Error, RemoteAddr  string
	Status                          int
	Challenges                      []string
	Location                        string
	RequestHeaders, ResponseHeaders []kv
	Body                            string
	BodyTruncated                   bool
	Segments                        []segment
	TotalMS                         float64
	TLS                             *exchange.TLSInfo
	RequestIDs                      []kv
}

// segment is a phase of an exchange (dns, connect, tls, wait, download)
// in percent of its total.
type segment struct {
	Name string
	X, W float64
	MS   float64
}

func newRunView(r RunJSON, now time.Time, open bool) runView {
	rv := runView{RunJSON: r, Now: now, Open: open}
	total := 0.0
	for _, s := range r.Steps {
		total += s.DurationMS
	}
	total = max(total, r.DurationMS, 0.001)
	at := 0.0
	for _, s := range r.Steps {
		w := s.DurationMS / total * 100
		row := wfRow{Step: s.Step, Kind: s.Kind, Status: string(s.Status), X: round1(at / total * 100), W: round1(w), MS: s.DurationMS}
		if s.Status != flows.StepSkipped && row.W < 0.5 {
			row.W = 0.5
		}
		if row.X+row.W > 100 {
			row.X = max(0, 100-row.W)
		}
		rv.Waterfall = append(rv.Waterfall, row)
		at += s.DurationMS
		sv := newStepView(s)
		rv.Steps = append(rv.Steps, sv)
		if s.Step == r.FailedStep && len(sv.Exchanges) > 1 {
			for _, ex := range sv.Exchanges {
				rv.Chain = append(rv.Chain, chainLink{Method: ex.Method, URL: ex.URL, Status: ex.Status, Location: ex.Location, Error: ex.Error})
			}
		}
	}
	return rv
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func newStepView(s StepJSON) stepView {
	sv := stepView{StepJSON: s}
	sv.Detail = s.Reason != "" || len(s.Findings) > 0 || len(s.Notes) > 0 || s.Evidence != nil
	ev := s.Evidence
	if ev == nil {
		return sv
	}
	sv.Facts = ev.Facts
	if t := ev.Token; t != nil {
		tv := &tokenView{Fingerprint: t.Fingerprint, Kind: t.Kind}
		for k, v := range t.Header {
			tv.Header = append(tv.Header, kv{k, claimText(k, v)})
		}
		for k, v := range t.Claims {
			tv.Claims = append(tv.Claims, kv{k, claimText(k, v)})
		}
		byKey := func(a, b kv) int { return strings.Compare(a.K, b.K) }
		slices.SortFunc(tv.Header, byKey)
		slices.SortFunc(tv.Claims, byKey)
		sv.Token = tv
	}
	for _, ex := range ev.Exchanges {
		xv := exchangeView{Method: ex.Method, URL: ex.URL, Error: ex.Error, RemoteAddr: ex.RemoteAddr, Status: ex.Status,
			RequestHeaders: sortedHeaders(ex.RequestHeaders), ResponseHeaders: sortedHeaders(ex.ResponseHeaders),
			Body: ex.Body, BodyTruncated: ex.BodyTruncated, TLS: ex.TLS, RequestIDs: sortedLabels(ex.RequestIDs),
			Challenges: headerValues(ex.ResponseHeaders, "WWW-Authenticate")}
		if loc := headerValues(ex.ResponseHeaders, "Location"); len(loc) > 0 {
			xv.Location = loc[0]
		}
		xv.Segments, xv.TotalMS = segments(ex.TimingsMS)
		sv.Exchanges = append(sv.Exchanges, xv)
	}
	return sv
}

// segments lays an exchange's timings out as consecutive phases.
func segments(t map[string]float64) ([]segment, float64) {
	total := t["total"]
	if total <= 0 {
		return nil, 0
	}
	var out []segment
	at := 0.0
	add := func(name string, ms float64) {
		if ms <= 0 {
			return
		}
		out = append(out, segment{Name: name, X: round1(at / total * 100), W: round1(max(ms/total*100, 0.5)), MS: ms})
		at += ms
	}
	add("dns", t["dns"])
	add("connect", t["connect"])
	add("tls", t["tls"])
	if fb := t["first_byte"]; fb > 0 {
		add("wait", fb-at)
		add("download", total-fb)
	} else {
		add("rest", total-at)
	}
	return out, total
}

// timeClaims are shown with their date.
var timeClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "auth_time": true}

func claimText(name string, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if timeClaims[name] && x > 0 && x < 1e11 {
			s += " (" + time.Unix(int64(x), 0).UTC().Format("2006-01-02 15:04:05 UTC") + ")"
		}
		return s
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// latestMeasure is the newest value of a trend, for the page without
// charts.
type latestMeasure struct {
	Name, Scope, Value string
	Time               time.Time
}

func latestMeasures(t Trends) []latestMeasure {
	var out []latestMeasure
	for _, s := range t.Measurements {
		if n := len(s.Points); n > 0 {
			p := s.Points[n-1]
			v := seconds(p.Value)
			if !strings.HasSuffix(s.Name, "_seconds") {
				v = strconv.FormatFloat(p.Value, 'f', -1, 64)
			}
			out = append(out, latestMeasure{Name: measureTitle(s.Name), Scope: s.Scope, Value: v, Time: p.Time})
		}
	}
	return out
}

func measureTitle(name string) string {
	switch name {
	case flows.MeasureTokenLifetime:
		return "token lifetime"
	case flows.MeasureTLSExpiry:
		return "certificate expires in"
	case flows.MeasureClockOffset:
		return "clock offset"
	case flows.MeasureJWKSKeys:
		return "JWKS keys"
	}
	return name
}
