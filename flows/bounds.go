package flows

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/exchange"
)

// A target decides how much it sends; what a run keeps of it is bounded
// here, after redaction (a cut before it could split a secret, leaving a
// part that redaction no longer recognises), so that `check --json`, the
// state store, the status page and notifications all get bounded data.
// Each field is cut with a visible "…truncated N bytes" marker; then the
// whole run is fitted into MaxRunEvidence by halving every field's bound
// until it fits.

// MaxRunEvidence bounds the JSON of a run's step results (as `check --json`
// prints and the daemon stores them), plus evidenceStepAllowance for each
// step after the first. Only the step that failed carries exchanges, so a
// hostile target cannot make a run larger than this.
const (
	MaxRunEvidence        = 8 << 10
	evidenceStepAllowance = 1 << 10
)

// MaxResponseHeaderBytes bounds the headers of an answer authwatch reads
// (NewTransport): Chromium's limit too, so a browser-mode step and an HTTP
// step refuse the same answers. Go's default is 10 MB.
const MaxResponseHeaderBytes = 256 << 10

// headersTooLarge is how net/http says that an answer's headers passed
// MaxResponseHeaderBytes (it has no error type for it).
const headersTooLarge = "server response headers exceeded"

// classifyOversized names an answer refused for its size: the target's
// doing, not authwatch's.
func classifyOversized(err error, ex *exchange.Exchange) *Failure {
	if !strings.Contains(err.Error(), headersTooLarge) {
		return nil
	}
	host := ""
	if ex != nil && ex.URL != nil {
		host = ex.URL.Host
	}
	f := Fail(ReasonConnectionFailed, "%s answered with response headers over %d KiB, more than browsers accept; authwatch stopped reading",
		host, MaxResponseHeaderBytes>>10).With(F("host", host), F("header_limit_bytes", MaxResponseHeaderBytes))
	f.Next = "Look for a header or cookie that grows with each request (a proxy or the application appending to it) or an error echoed into a header."
	return f.Wrap(err)
}

// evidenceCaps bound each field of a step's results, in bytes as encoded in
// JSON (a "<" counts six: \u003c).
type evidenceCaps struct {
	text      int // summary, next step, fact, note, finding, error
	url       int
	value     int // one header value
	headers   int // every header of one exchange
	values    int // values of one header name (Set-Cookie lines)
	body      int // the last exchange's body; earlier ones get a quarter
	items     int // facts, notes, findings, measurements, token claims, TLS names
	exchanges int // kept per step: the first one and the last ones
}

// capsAt returns the bounds of a tier: tier 0 for an ordinary failure, each
// further tier halving every bound, down to a floor that still explains
// the failure.
func capsAt(tier int) evidenceCaps {
	half := func(v, floor int) int { return max(v>>tier, floor) }
	return evidenceCaps{
		text:      half(1024, 96),
		url:       half(1024, 96),
		value:     half(1024, 64),
		headers:   half(4096, 256),
		values:    half(16, 1),
		body:      half(4096, 0),
		items:     half(32, 1),
		exchanges: half(12, 1),
	}
}

// lastTier is the last tier tried: every bound is at its floor then, but
// the body's, which keeps 32 bytes.
const lastTier = 7

// boundResult fits the run's results into its evidence budget.
func boundResult(res *Result) {
	budget := MaxRunEvidence + evidenceStepAllowance*max(len(res.Steps)-1, 0)
	for tier := 0; ; tier++ {
		caps := capsAt(tier)
		steps := make([]StepResult, len(res.Steps))
		for i := range res.Steps {
			steps[i] = caps.step(res.Steps[i])
		}
		if tier == lastTier || evidenceBound(steps) <= budget || evidenceSize(steps) <= budget {
			res.Steps = steps
			return
		}
	}
}

// evidenceSize is the JSON size of what the steps show and record.
func evidenceSize(steps []StepResult) int {
	n := 0
	for i := range steps {
		b, _ := json.Marshal(steps[i])
		n += len(b)
		if f := steps[i].Failure; f != nil {
			b, _ = json.Marshal(f)
			n += len(b)
		}
	}
	return n
}

// evidenceBound is a bound on evidenceSize computed without encoding: a
// passing run's evidence is a fraction of its budget, and encoding it only
// to learn that was a run's second JSON encoding. Every byte of a string
// counts as six (its worst escape, \u00XX), every number as 24, and each
// field and separator generously. A step with a failure has no bound here
// (math.MaxInt): its evidence is measured.
func evidenceBound(steps []StepResult) int {
	quoted := func(s string) int { return 6*len(s) + 2 }
	n := 2
	for i := range steps {
		s := &steps[i]
		if s.Failure != nil {
			return math.MaxInt
		}
		n += 160 + quoted(s.ID) + quoted(s.Kind) + quoted(string(s.Status))
		for _, f := range s.Findings {
			n += 48 + quoted(string(f.Reason)) + quoted(f.Summary)
			for _, fact := range f.Facts {
				n += 24 + quoted(fact.Name) + quoted(fact.Value)
			}
		}
		for _, note := range s.Notes {
			n += 1 + quoted(note)
		}
		for _, m := range s.Measurements {
			n += 64 + quoted(m.Name) + quoted(m.Host)
		}
	}
	return n
}

// step returns a bounded copy of s; s itself is left as it was, for the
// next tier.
func (c evidenceCaps) step(s StepResult) StepResult {
	findings := capList(s.Findings, c.items, func(f Finding) Finding {
		f.Summary = c.sentence(f.Summary)
		return f
	}, nil)
	if left := len(s.Findings) - len(findings); left > 0 {
		// A finding needs a reason: the count goes into the last one kept.
		findings[len(findings)-1].Summary += " " + omitted(left, "findings")
	}
	s.Findings = findings
	s.Notes = capList(s.Notes, c.items, c.sentence, func(n int) string { return omitted(n, "notes") })
	s.Measurements = capList(s.Measurements, c.items, func(m Measurement) Measurement {
		m.Host = c.cut(m.Host, c.url)
		return m
	}, nil)
	s.Exchanges = c.exchangeList(s.Exchanges, s.Failure != nil)
	if s.Failure != nil {
		f := *s.Failure
		f.Summary, f.Next = c.sentence(f.Summary), c.sentence(f.Next)
		f.Evidence = c.evidence(f.Evidence, s.Exchanges)
		s.Failure = &f
	}
	return s
}

func (c evidenceCaps) evidence(ev Evidence, exchanges []ExchangeEvidence) Evidence {
	ev.Facts = capList(ev.Facts, c.items, func(f Fact) Fact {
		f.Name, f.Value = c.cut(f.Name, c.text), c.sentence(f.Value)
		return f
	}, func(n int) Fact { return Fact{Name: "omitted", Value: omitted(n, "facts")} })
	if tok := ev.Token; tok != nil {
		t := *tok
		t.Header, _ = c.anyValue(t.Header, 0).(map[string]any)
		t.Claims, _ = c.anyValue(t.Claims, 0).(map[string]any)
		ev.Token = &t
	}
	ev.Exchanges = exchanges
	return ev
}

func (c evidenceCaps) cut(s string, max int) string { return exchange.Truncate(s, max, 0) }

// sentence bounds a text written for people, keeping its end.
func (c evidenceCaps) sentence(s string) string { return exchange.TruncateMiddle(s, c.text) }

// omitted says that n items were left out.
func omitted(n int, what string) string {
	return exchange.TruncatedMarker + strconv.Itoa(n) + " more " + what
}

// capList keeps the first max items of list, each through one, and adds
// more(n) for the n left out (nothing when more is nil).
func capList[T any](list []T, max int, one func(T) T, more func(int) T) []T {
	if len(list) == 0 {
		return list
	}
	kept := min(len(list), max)
	out := make([]T, 0, kept+1)
	for _, v := range list[:kept] {
		out = append(out, one(v))
	}
	if n := len(list) - kept; n > 0 && more != nil {
		out = append(out, more(n))
	}
	return out
}

// maxClaimDepth bounds the nesting of token claims shown.
const maxClaimDepth = 4

// anyValue bounds decoded JSON: strings cut, maps and lists to c.items
// entries (maps by sorted key), nesting to maxClaimDepth.
func (c evidenceCaps) anyValue(v any, depth int) any {
	switch v := v.(type) {
	case string:
		return c.cut(v, c.text)
	case map[string]any:
		if v == nil {
			return v
		}
		if depth >= maxClaimDepth {
			return omitted(len(v), "keys")
		}
		keys := slices.Sorted(maps.Keys(v))
		out := make(map[string]any, min(len(keys), c.items)+1)
		for _, k := range keys[:min(len(keys), c.items)] {
			out[c.cut(k, c.text)] = c.anyValue(v[k], depth+1)
		}
		if n := len(keys) - c.items; n > 0 {
			out["…"] = omitted(n, "keys")
		}
		return out
	case []any:
		if depth >= maxClaimDepth {
			return omitted(len(v), "items")
		}
		out := capList(v, c.items, func(x any) any { return c.anyValue(x, depth+1) }, func(n int) any { return omitted(n, "items") })
		return out
	}
	return v
}

// exchangeList keeps the first exchange and the last ones (where a redirect
// chain ends), each bounded; the first one left out says how many were.
func (c evidenceCaps) exchangeList(exs []ExchangeEvidence, failed bool) []ExchangeEvidence {
	if len(exs) == 0 {
		return exs
	}
	keep := min(len(exs), c.exchanges)
	head := min(1, keep-1) // the first one, if room is left for the last
	out := make([]ExchangeEvidence, 0, keep)
	for i, ex := range exs {
		if i >= head && i < len(exs)-(keep-head) {
			continue
		}
		last := i == len(exs)-1
		b := c.exchange(ex, last && failed)
		if i == len(exs)-(keep-head) && i > head {
			b.Omitted = i - head
		}
		out = append(out, b)
	}
	return out
}

// exchange bounds one exchange; main is the failed step's last one, whose
// body explains the failure (the others keep a quarter of it).
func (c evidenceCaps) exchange(ex ExchangeEvidence, main bool) ExchangeEvidence {
	body := c.body
	if !main {
		body /= 4
	}
	ex.URL = c.cut(ex.URL, c.url)
	ex.Error = c.sentence(ex.Error)
	ex.RequestHeaders = c.headerSet(ex.RequestHeaders)
	ex.ResponseHeaders = c.headerSet(ex.ResponseHeaders)
	if ex.RequestBody != "" || ex.requestDropped > 0 {
		ex.RequestBody = exchange.Truncate(ex.RequestBody, body, ex.requestDropped)
	}
	if ex.Body != "" || ex.bodyDropped > 0 {
		cut := exchange.CutPoint(ex.Body, body) < len(ex.Body)
		ex.Body = exchange.Truncate(ex.Body, body, ex.bodyDropped)
		ex.BodyTruncated = ex.BodyTruncated || cut || ex.bodyDropped > 0
	}
	if ex.RequestIDs != nil {
		ids := make(map[string]string, len(ex.RequestIDs))
		for k, v := range ex.RequestIDs {
			ids[k] = c.cut(v, min(c.value, 200))
		}
		ex.RequestIDs = ids
	}
	if ex.TLS != nil {
		t := *ex.TLS
		t.Subject, t.Issuer = c.cut(t.Subject, c.text), c.cut(t.Issuer, c.text)
		t.DNSNames = capList(t.DNSNames, c.items, func(n string) string { return c.cut(n, c.url) }, func(n int) string { return omitted(n, "names") })
		ex.TLS = &t
	}
	return ex
}

// headerOrder puts first the headers that explain a failure, so that they
// survive when an exchange's headers are cut.
var headerOrder = []string{"Www-Authenticate", "Location", "Retry-After", "Content-Type", "Date", "Authorization",
	"Dpop-Nonce", "Access-Control-Allow-Origin", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Credentials", "Server", "Set-Cookie", "Cookie", "Content-Length"}

// minHeaderValue is the least room worth starting a header value in.
const minHeaderValue = 24

// HeadersTruncatedKey is the entry that says which headers were cut.
const HeadersTruncatedKey = "…"

// headerSet bounds each value, the values of each name and all of them
// together; what is left out is counted under HeadersTruncatedKey.
func (c evidenceCaps) headerSet(h map[string][]string) map[string][]string {
	if h == nil {
		return nil
	}
	out := make(map[string][]string, len(h))
	room, leftNames, leftBytes := c.headers, 0, 0
	for _, name := range headerNames(h) {
		values := h[name]
		cost := jsonSize(name) + 6 // "name":[],
		if room < cost+minHeaderValue {
			leftNames++
			leftBytes += headerBytes(name, values)
			continue
		}
		room -= cost
		kept := make([]string, 0, min(len(values), c.values)+1)
		for i, v := range values {
			if i >= c.values || room < minHeaderValue {
				kept = append(kept, omitted(len(values)-i, "values ("+strconv.Itoa(headerBytes("", values[i:]))+" bytes)"))
				break
			}
			v = c.cut(v, min(c.value, room-3))
			room -= jsonSize(v) + 3 // "v",
			kept = append(kept, v)
		}
		out[name] = kept
	}
	if leftNames > 0 {
		out[HeadersTruncatedKey] = []string{omitted(leftNames, "headers ("+strconv.Itoa(leftBytes)+" bytes)")}
	}
	return out
}

// headerNames orders h's names: those of headerOrder first, then the others
// by name.
func headerNames(h map[string][]string) []string {
	rank := func(name string) int {
		if i := slices.IndexFunc(headerOrder, func(o string) bool { return strings.EqualFold(o, name) }); i >= 0 {
			return i
		}
		return len(headerOrder)
	}
	names := slices.Collect(maps.Keys(h))
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return names
}

func headerBytes(name string, values []string) int {
	n := 0
	for _, v := range values {
		n += len(name) + len(v)
	}
	return n
}

func jsonSize(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		n += exchange.JSONLen(r, w)
		i += w
	}
	return n
}
