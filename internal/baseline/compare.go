package baseline

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// compareFeatures lists how the run's features differ from the baseline,
// in the features' order (by step as the run had them).
func (b *Baseline) compareFeatures(features []Feature, rules Rules) []Drift {
	var out []Drift
	for _, f := range features {
		if !rules.compared(f.Key) {
			continue
		}
		switch f.Kind {
		case Scalar:
			out = append(out, b.compareScalar(f)...)
		case Set:
			out = append(out, b.compareSet(f)...)
		}
	}
	return out
}

func (b *Baseline) compareScalar(f Feature) []Drift {
	s := b.Scalars[f.Key]
	if s == nil || s.Varying || s.Value == f.Value {
		return nil
	}
	return []Drift{{Key: f.Key, Step: stepOf(f.Key), Layer: s.Layer, Before: s.Value, After: f.Value,
		Phrase: fmt.Sprintf("%s %s → %s", s.Label, s.Value, f.Value)}}
}

// compareSet reports the elements present in every learning run that the
// run lacks, and, unless the set is open, the elements never seen before.
func (b *Baseline) compareSet(f Feature) []Drift {
	s := b.Sets[f.Key]
	if s == nil {
		return nil
	}
	var lost, gained []string
	for _, e := range slices.Sorted(maps.Keys(s.Elems)) {
		if !slices.Contains(f.Elems, e) {
			lost = append(lost, e)
		}
	}
	if !s.Open {
		for _, e := range f.Elems {
			if _, ok := s.Elems[e]; !ok {
				gained = append(gained, e)
			}
		}
	}
	if len(lost) == 0 && len(gained) == 0 {
		return nil
	}
	var phrases []string
	if len(lost) > 0 {
		phrases = append(phrases, fmt.Sprintf(s.Lost, strings.Join(lost, ", ")))
	}
	if len(gained) > 0 {
		phrases = append(phrases, fmt.Sprintf(s.Gained, strings.Join(gained, ", ")))
	}
	before := slices.Sorted(maps.Keys(s.Elems))
	return []Drift{{Key: f.Key, Step: stepOf(f.Key), Layer: s.Layer, Phrase: strings.Join(phrases, "; "),
		Before: listText(before), After: listText(f.Elems), Lost: lost, Gained: gained}}
}

// compareLatency reports a step whose p95 over a full recent window is
// factor times the learned p95 and at least the minimum increase more: one
// slow run never is.
func (b *Baseline) compareLatency(step string, rules Rules) (Drift, bool) {
	l := b.Latency[step]
	if rules.LatencyFactor == 0 || l == nil || len(l.Learned) == 0 || len(l.Window) < max(rules.LatencyWindow, 1) {
		return Drift{}, false
	}
	now := robustP95(l.Window)
	if now < l.P95*rules.LatencyFactor || now-l.P95 < ms(rules.LatencyMinIncrease) {
		return Drift{}, false
	}
	before, after := msText(l.P95), msText(now)
	return Drift{Key: step + ".latency", Step: step, Layer: "app", Before: before, After: after,
		Phrase: fmt.Sprintf("p95 latency %s → %s (last %d runs)", before, after, len(l.Window))}, true
}

func isLatencyKey(key string) bool { _, ok := latencyStep(key); return ok }

// latencyStep is the step of a latency drift's key.
func latencyStep(key string) (string, bool) { return strings.CutSuffix(key, ".latency") }

// stepOf is the step id a key starts with (step ids have no dots).
func stepOf(key string) string {
	step, _, _ := strings.Cut(key, ".")
	return step
}

func listText(elems []string) string {
	if len(elems) == 0 {
		return "(none)"
	}
	return strings.Join(elems, ", ")
}

func msText(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// robustP95 is the samples' p95, but never above their second largest:
// however few the samples, one slow run moves neither the learned p95
// nor a window's.
func robustP95(samples []float64) float64 {
	var buf [64]float64
	s := sortedCopy(buf[:0], samples)
	p := nearestRank(s, 95)
	if len(s) < 2 {
		return p
	}
	return min(p, s[len(s)-2])
}
