// Package baseline learns a flow's normal behaviour from its passing runs
// and says how a later passing run differs from it (reason
// baseline_changed): token lifetimes, scopes, claims and their types,
// alg and kid, JWKS keys, redirect hosts, cookie attributes, statuses and
// key headers, and latency percentiles.
//
// The model is pure: a Baseline is a value that a run's Observation
// updates, with the run's time as the only clock, and it serialises to
// JSON for the state store. Learning decides what varies by design: a
// scalar that took two values while learning is varying and is never
// compared; a set whose elements came and went is open, and only the
// elements present in every learning run are compared.
package baseline

import (
	"path"
	"slices"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// Bounds of a baseline, so that a hostile target cannot grow it.
const (
	maxFeatures  = 1024
	maxSetElems  = 256
	maxAccepts   = 20
	maxLatencyMS = 1000 // samples kept per step and list
)

// Baseline is a flow's learned normal.
type Baseline struct {
	Flow string `json:"flow"`
	// Digest is the flow definition it was learned for: a changed
	// definition is learned anew.
	Digest string `json:"digest,omitempty"`
	// Learn is how many passing runs learning takes; Runs how many it saw.
	Learn     int       `json:"learn"`
	Runs      int       `json:"runs"`
	Started   time.Time `json:"started"`
	LearnedAt time.Time `json:"learned_at,omitzero"`

	Scalars map[string]*ScalarStats  `json:"scalars,omitempty"`
	Sets    map[string]*SetStats     `json:"sets,omitempty"`
	Latency map[string]*LatencyStats `json:"latency,omitempty"`

	// Drifts are the differences of the latest compared run, each since
	// the run it was first seen in.
	Drifts []Drift `json:"drifts,omitempty"`
	// LastRun is when the latest passing run was seen.
	LastRun time.Time `json:"last_run,omitzero"`
	// Accepts are the latest accepts, oldest first.
	Accepts []Accept `json:"accepts,omitempty"`
	// LastAccept is the store's id of the latest accept applied.
	LastAccept int64 `json:"last_accept,omitempty"`

	// memo is the latest compared run's digest and feature drifts
	// (ObserveRun); it is forgotten whenever Scalars or Sets change.
	memo memo
	// parked holds Scalars and Sets packed (park.go) while runs keep the
	// memo's shape; Scalars and Sets are nil meanwhile.
	parked []byte
	// lmemo is learnRun's memo while learning.
	lmemo learnMemo
}

// ScalarStats is a learned scalar: its value, or Varying.
type ScalarStats struct {
	Label   string      `json:"label"`
	Layer   flows.Layer `json:"layer"`
	Value   string      `json:"value"`
	Varying bool        `json:"varying,omitempty"`
	Seen    int         `json:"seen"` // learning runs that had it
}

// SetStats is a learned set: in how many learning runs each element was.
type SetStats struct {
	Lost   string         `json:"lost"`
	Gained string         `json:"gained"`
	Layer  flows.Layer    `json:"layer"`
	Elems  map[string]int `json:"elems"`
	Seen   int            `json:"seen"`
	// Open: elements came and went while learning (or there were too
	// many), so a new element says nothing.
	Open bool `json:"open,omitempty"`
}

// LatencyStats is a step's learned latency and its recent window, in
// milliseconds.
type LatencyStats struct {
	Learned []float64 `json:"learned,omitempty"`
	P50     float64   `json:"p50"`
	P95     float64   `json:"p95"`
	Window  []float64 `json:"window,omitempty"`
}

// Drift is one difference between a run and the baseline.
type Drift struct {
	Key    string      `json:"key"`
	Step   string      `json:"step"`
	Layer  flows.Layer `json:"layer"`
	Phrase string      `json:"phrase"` // "access token lifetime 3600 s → 300 s"
	Before string      `json:"before"`
	After  string      `json:"after"`
	Since  time.Time   `json:"since"`
	// Lost and Gained are a set's elements gone and new (what accepting
	// it drops and adds).
	Lost   []string `json:"lost,omitempty"`
	Gained []string `json:"gained,omitempty"`
}

// Accept records that someone took the behaviour seen as normal.
type Accept struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Drifts []string  `json:"drifts,omitempty"` // the phrases it accepted
}

// Rules say what is compared and when latency drifted.
type Rules struct {
	Watch, Ignore []string
	// LatencyFactor 0 leaves latency out.
	LatencyFactor      float64
	LatencyWindow      int
	LatencyMinIncrease time.Duration
}

// RulesOf returns a flow's rules.
func RulesOf(f *flows.Flow) Rules {
	watch, ignore := f.Baseline.Patterns()
	factor, window, minIncrease := f.Baseline.LatencyRule()
	return Rules{Watch: watch, Ignore: ignore, LatencyFactor: factor, LatencyWindow: window, LatencyMinIncrease: minIncrease}
}

// New starts learning a flow's baseline over learn passing runs.
func New(flow, digest string, learn int) *Baseline {
	return &Baseline{Flow: flow, Digest: digest, Learn: max(learn, 1),
		Scalars: map[string]*ScalarStats{}, Sets: map[string]*SetStats{}, Latency: map[string]*LatencyStats{}}
}

// Learning reports whether the baseline is still learning.
func (b *Baseline) Learning() bool { return b.LearnedAt.IsZero() }

// Observe folds a passing run into the baseline: it learns from it while
// learning, and compares it after. It returns the run's drifts (none while
// learning).
func (b *Baseline) Observe(obs Observation, rules Rules) []Drift {
	b.LastRun = obs.At
	b.unpark()
	if b.Learning() {
		b.learn(obs)
		return nil
	}
	return b.compareRun(b.compareFeatures(obs.Features, rules), latencies(obs.Latency), rules, obs.At)
}

// ObserveRun is Observe of the run's observation (FromResult), for the
// daemon's every passing run: a run whose shapes have the digest of the
// previous compared run's, with the same rules and nothing learned or
// accepted since, has that run's feature drifts, so only its latencies are
// compared anew and its features are not built. ok is false for a run
// FromResult does not observe.
func (b *Baseline) ObserveRun(r *flows.Result, rules Rules) (drifts []Drift, ok bool) {
	if r == nil || !r.OK || r.Cancelled {
		return nil, false
	}
	digest, ok := digestRun(r)
	if !ok {
		return nil, false
	}
	if b.Learning() {
		return b.learnRun(r, digest, rules), true
	}
	if !b.memo.valid || b.memo.digest != digest || !b.memo.rules.equal(rules) {
		// The first shape after learning or an accept, or one after a
		// stretch of alike runs, is packed again at once; a shape that
		// changes from run to run waits for parkAfterHits alike runs.
		settled := !b.memo.valid || b.memo.hits >= parkAfterHits
		b.unpark()
		if b.Learning() { // the pack was unreadable
			return b.ObserveRun(r, rules)
		}
		obs, _ := FromResult(r)
		b.memo = memo{valid: true, digest: digest, rules: rules, drifts: b.compareFeatures(obs.Features, rules)}
		if settled {
			b.park()
		}
	} else if b.memo.hits++; b.memo.hits >= parkAfterHits {
		b.park()
	}
	var buf [8]stepLatency
	lat := runLatencies(r, buf[:0])
	b.LastRun = r.Start
	return b.compareRun(b.memo.drifts, lat, rules, r.Start), true
}

// runLatencies appends the run's step latencies to buf, by step id: those
// FromResult observes.
func runLatencies(r *flows.Result, buf []stepLatency) []stepLatency {
	for i := range r.Steps {
		if s := &r.Steps[i]; s.Shape != nil && s.IsLatency() {
			buf = append(buf, stepLatency{s.ID, s.Duration})
		}
	}
	sortLatencies(buf)
	return buf
}

// learnRun is ObserveRun while learning. The learned maps are kept packed
// (park) with the latest run's features between runs. A run with the
// digest of the previous learning run has its features, so it is learned
// by counting it: nothing is built or unpacked, and the count is applied
// when the maps are needed again (unpark: a changed shape, the end of
// learning, a save). A flow whose runs keep one shape learns its whole way
// packed, which keeps the start of a daemon with thousands of new flows
// from holding every flow's maps at once.
func (b *Baseline) learnRun(r *flows.Result, digest runDigest, rules Rules) []Drift {
	if !b.lmemo.valid || b.lmemo.digest != digest {
		obs, _ := FromResult(r)
		drifts := b.Observe(obs, rules) // unparks: applies the repeats
		b.lmemo = learnMemo{}
		if b.Learning() {
			// Packed at once: a daemon starting with thousands of new
			// flows would otherwise hold every flow's maps and features
			// from its first run to its second.
			b.lmemo = learnMemo{valid: true, digest: digest, last: obs.Features}
			b.park()
		}
		return drifts
	}
	b.Runs++
	b.LastRun = r.Start
	var buf [8]stepLatency
	b.learnLatency(runLatencies(r, buf[:0]))
	if b.parked != nil {
		b.lmemo.repeats++
	} else {
		b.learnFeatures(b.lmemo.last)
		b.park() // packs lmemo.last with the maps
	}
	if b.Runs >= b.Learn {
		b.unpark()
		if b.Runs >= b.Learn { // not learning anew from an unreadable pack
			b.lmemo = learnMemo{}
			b.freeze(r.Start)
			b.park()
		}
	}
	return nil
}

// learnMemo is the previous learning run's digest and features, and how
// many runs since had them while the maps were packed.
type learnMemo struct {
	valid   bool
	digest  runDigest
	last    []Feature
	repeats int
}

// compareRun adds the run's latencies to the windows and makes the run's
// drifts (those of its features, then its latencies') the baseline's.
func (b *Baseline) compareRun(featureDrifts []Drift, lat []stepLatency, rules Rules, at time.Time) []Drift {
	b.addWindow(lat, rules)
	drifts := slices.Clone(featureDrifts) // keepSince sets their Since
	for _, l := range lat {
		if d, ok := b.compareLatency(l.step, rules); ok && rules.compared(d.Key) {
			drifts = append(drifts, d)
		}
	}
	b.Drifts = b.keepSince(drifts, at)
	return b.Drifts
}

// learn adds one learning run; the last one freezes the baseline.
func (b *Baseline) learn(obs Observation) {
	if b.Runs == 0 {
		b.Started = obs.At
	}
	b.Runs++
	b.memo = memo{}
	b.learnFeatures(obs.Features)
	b.learnLatency(latencies(obs.Latency))
	if b.Runs >= b.Learn {
		b.freeze(obs.At)
	}
}

func (b *Baseline) learnFeatures(features []Feature) {
	for _, f := range features {
		switch f.Kind {
		case Scalar:
			b.learnScalar(f)
		case Set:
			b.learnSet(f)
		}
	}
}

func (b *Baseline) learnLatency(lat []stepLatency) {
	for _, sl := range lat {
		l := b.Latency[sl.step]
		if l == nil {
			l = &LatencyStats{}
			b.Latency[intern(sl.step)] = l
		}
		l.Learned = appendBounded(l.Learned, ms(sl.d))
	}
}

func (b *Baseline) learnScalar(f Feature) {
	s := b.Scalars[f.Key]
	if s == nil {
		if len(b.Scalars)+len(b.Sets) >= maxFeatures {
			return
		}
		s = &ScalarStats{Label: intern(f.Label), Layer: f.Layer, Value: intern(f.Value)}
		b.Scalars[intern(f.Key)] = s
	}
	s.Seen++
	if s.Value != f.Value {
		s.Varying = true
	}
}

func (b *Baseline) learnSet(f Feature) {
	s := b.Sets[f.Key]
	if s == nil {
		if len(b.Scalars)+len(b.Sets) >= maxFeatures {
			return
		}
		s = &SetStats{Lost: intern(f.Lost), Gained: intern(f.Gained), Layer: f.Layer, Elems: map[string]int{}}
		b.Sets[intern(f.Key)] = s
	}
	s.Seen++
	for _, e := range f.Elems {
		if _, ok := s.Elems[e]; !ok && len(s.Elems) >= maxSetElems {
			s.Open = true
			continue
		}
		if _, ok := s.Elems[e]; !ok {
			e = intern(e)
		}
		s.Elems[e]++
	}
}

// freeze ends learning: what was not there in every learning run, or
// varied, is kept only as far as comparing needs it.
func (b *Baseline) freeze(at time.Time) {
	b.LearnedAt = at
	for k, s := range b.Scalars {
		switch {
		case s.Seen < b.Runs:
			delete(b.Scalars, k) // came and went: its presence says nothing
		case s.Varying:
			s.Value = "" // kept so that show can say it varies
		}
	}
	for k, s := range b.Sets {
		if s.Seen < b.Runs {
			delete(b.Sets, k)
			continue
		}
		for e, n := range s.Elems {
			if n < s.Seen {
				s.Open = true
				delete(s.Elems, e)
			}
		}
	}
	for _, l := range b.Latency {
		l.P50, l.P95 = percentile(l.Learned, 50), robustP95(l.Learned)
	}
}

// addWindow adds the run's latencies to each step's recent window.
func (b *Baseline) addWindow(lat []stepLatency, rules Rules) {
	if rules.LatencyFactor == 0 {
		return
	}
	for _, sl := range lat {
		step, d := sl.step, sl.d
		l := b.Latency[step]
		if l == nil || len(l.Learned) == 0 {
			continue
		}
		l.Window = append(l.Window, ms(d))
		if n := len(l.Window) - max(rules.LatencyWindow, 1); n > 0 {
			l.Window = slices.Delete(l.Window, 0, n)
		}
	}
}

// keepSince gives each drift the time it was first seen: that of the
// same drift in the previous run, else now.
func (b *Baseline) keepSince(drifts []Drift, now time.Time) []Drift {
	for i := range drifts {
		drifts[i].Since = now
		for _, prev := range b.Drifts {
			if prev.Key == drifts[i].Key && (prev.After == drifts[i].After || isLatencyKey(prev.Key)) {
				drifts[i].Since = prev.Since
			}
		}
	}
	return drifts
}

// Accept takes the behaviour of the drifts as normal: scalars take their
// new value, sets their new elements, latency its recent window.
func (b *Baseline) Accept(by string, at time.Time) Accept {
	a := Accept{By: by, At: at}
	b.unpark()
	b.memo = memo{}
	for _, d := range b.Drifts {
		a.Drifts = append(a.Drifts, d.Phrase)
		b.acceptDrift(d)
	}
	b.Drifts = nil
	b.Accepts = append(b.Accepts, a)
	if n := len(b.Accepts) - maxAccepts; n > 0 {
		b.Accepts = slices.Delete(b.Accepts, 0, n)
	}
	return a
}

func (b *Baseline) acceptDrift(d Drift) {
	if s := b.Scalars[d.Key]; s != nil {
		s.Value = intern(d.After)
		return
	}
	if s := b.Sets[d.Key]; s != nil {
		for _, e := range d.Lost {
			delete(s.Elems, e)
		}
		for _, e := range d.Gained {
			s.Elems[intern(e)] = s.Seen
		}
		return
	}
	if step, ok := latencyStep(d.Key); ok {
		if l := b.Latency[step]; l != nil && len(l.Window) > 0 {
			l.Learned = slices.Clone(l.Window)
			l.P50, l.P95 = percentile(l.Learned, 50), robustP95(l.Learned)
			l.Window = nil
		}
	}
}

// compared reports whether the rules compare a feature.
func (r Rules) compared(key string) bool {
	if len(r.Watch) > 0 && !matchAny(r.Watch, key) {
		return false
	}
	return !matchAny(r.Ignore, key)
}

func matchAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}

func appendBounded(list []float64, v float64) []float64 {
	list = append(list, v)
	if n := len(list) - maxLatencyMS; n > 0 {
		list = slices.Delete(list, 0, n)
	}
	return list
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile is the nearest-rank percentile of samples (0 for none).
func percentile(samples []float64, p float64) float64 {
	var buf [64]float64 // a window's samples sort here, not on the heap
	return nearestRank(sortedCopy(buf[:0], samples), p)
}

func sortedCopy(buf, samples []float64) []float64 {
	s := append(buf, samples...)
	slices.Sort(s)
	return s
}

// nearestRank is the nearest-rank percentile of sorted samples.
func nearestRank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
