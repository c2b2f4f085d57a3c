package baseline

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// A run's digest stands for its features: two runs with the same digest
// have the same features (FromResult), so a run shaped like the previous
// compared one is compared without building them (ObserveRun). It is
// built from the shapes themselves, without a string or map made, and
// covers everything stepFeatures reads except the claim values it leaves
// out (per-run and set claims), which differ on every run of most IdPs.
// Two 64-bit hashes with seeds drawn at start: a collision between two
// different shapes is a 2^-128 chance, and a target cannot aim for one.
type runDigest [2]uint64

var digestSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// digestRun is the digest of a passing run's shapes; ok is false for a
// run with none.
func digestRun(r *flows.Result) (d runDigest, ok bool) {
	var w digestWriter
	w.init()
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.Shape == nil {
			continue
		}
		ok = true
		w.str(s.ID)
		w.shape(s.Shape)
	}
	return runDigest{w.h[0].Sum64(), w.h[1].Sum64()}, ok
}

type digestWriter struct{ h [2]maphash.Hash }

func (w *digestWriter) init() {
	for i := range w.h {
		w.h[i].SetSeed(digestSeeds[i])
	}
}

func (w *digestWriter) num(n int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	for i := range w.h {
		_, _ = w.h[i].Write(b[:])
	}
}

// str writes s with its length, so that no two lists of strings write the
// same bytes.
func (w *digestWriter) str(s string) {
	w.num(int64(len(s)))
	for i := range w.h {
		_, _ = w.h[i].WriteString(s)
	}
}

func (w *digestWriter) strs(list []string) {
	w.num(int64(len(list)))
	for _, s := range list {
		w.str(s)
	}
}

// strMap writes a map in any order: the sum of its entries' hashes.
func (w *digestWriter) strMap(m map[string]string, skip func(string) bool) {
	var sums [2]uint64
	n := 0
	for k, v := range m {
		if skip != nil && skip(k) {
			continue
		}
		n++
		for i := range sums {
			var e maphash.Hash
			e.SetSeed(digestSeeds[i])
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(len(k)))
			_, _ = e.Write(b[:])
			_, _ = e.WriteString(k)
			_, _ = e.WriteString(v)
			sums[i] += e.Sum64()
		}
	}
	w.num(int64(n))
	for i := range w.h {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], sums[i])
		_, _ = w.h[i].Write(b[:])
	}
}

func (w *digestWriter) shape(sh *flows.Shape) {
	w.num(int64(len(sh.Tokens)))
	for i := range sh.Tokens {
		t := &sh.Tokens[i]
		w.str(t.Kind)
		w.str(t.Alg)
		w.str(t.Typ)
		w.str(t.Kid)
		w.num(int64(t.Lifetime))
		w.strMap(t.ClaimTypes, nil)
		w.strMap(t.Claims, claimValueNotCompared)
		w.strs(t.Scopes)
		w.strs(t.Audience)
	}
	w.num(int64(len(sh.Endpoints)))
	for i := range sh.Endpoints {
		ep := &sh.Endpoints[i]
		w.str(ep.Endpoint)
		w.num(int64(ep.Status))
		w.strMap(ep.Headers, nil)
	}
	w.strs(sh.Hosts)
	w.num(int64(sh.Redirects))
	w.num(int64(len(sh.Cookies)))
	for _, c := range sh.Cookies {
		w.str(c.Name)
		w.str(c.Attributes)
	}
	w.strs(sh.JWKS)
}

// claimValueNotCompared reports the claims whose values are no feature:
// per-run claims, and the claims compared as sets.
func claimValueNotCompared(name string) bool {
	return slices.Contains(perRunClaims, name) || slices.Contains(setClaims, name)
}

// memo is what the latest compared run's digest came to: the drifts of its
// features (Since not set). It holds while the learned values stay as they
// are: learning and accepting forget it.
type memo struct {
	valid  bool
	digest runDigest
	rules  Rules
	drifts []Drift
	hits   int // runs compared by it (tests)
}

// stepLatency is one step's latency in a run.
type stepLatency struct {
	step string
	d    time.Duration
}

// latencies lists a run's step latencies by step id (the order drifts are
// reported in).
func latencies(m map[string]time.Duration) []stepLatency {
	out := make([]stepLatency, 0, len(m))
	for step, d := range m {
		out = append(out, stepLatency{step, d})
	}
	sortLatencies(out)
	return out
}

func sortLatencies(l []stepLatency) {
	slices.SortFunc(l, func(a, b stepLatency) int {
		switch {
		case a.step < b.step:
			return -1
		case a.step > b.step:
			return 1
		}
		return 0
	})
}

func (r Rules) equal(o Rules) bool {
	return r.LatencyFactor == o.LatencyFactor && r.LatencyWindow == o.LatencyWindow && r.LatencyMinIncrease == o.LatencyMinIncrease &&
		slices.Equal(r.Watch, o.Watch) && slices.Equal(r.Ignore, o.Ignore)
}
