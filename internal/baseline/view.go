package baseline

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// View is a baseline as people read it (the CLI's show, the status page,
// the API): what is normal, what varies by design, what changed and
// since when, and who accepted what.
type View struct {
	Flow      string      `json:"flow"`
	Learning  bool        `json:"learning"`
	Runs      int         `json:"runs"`  // passing runs learned from
	Learn     int         `json:"learn"` // passing runs learning takes
	Started   time.Time   `json:"started,omitzero"`
	LearnedAt time.Time   `json:"learned_at,omitzero"`
	Normal    []ViewItem  `json:"normal,omitempty"`
	Varying   []string    `json:"varying,omitempty"` // keys learned as varying by design: never compared
	Latency   []ViewTimes `json:"latency,omitempty"`
	Changed   []Drift     `json:"changed,omitempty"`
	LastRun   time.Time   `json:"last_run,omitzero"`
	Accepts   []Accept    `json:"accepts,omitempty"`
}

// ViewItem is one compared feature and its normal value.
type ViewItem struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ViewTimes is a step's learned latency.
type ViewTimes struct {
	Step string `json:"step"`
	P50  string `json:"p50"`
	P95  string `json:"p95"`
}

// View returns the baseline as people read it, features by key.
func (b *Baseline) View() View {
	if full, err := b.withFeatures(); err == nil {
		b = full
	}
	v := View{Flow: b.Flow, Learning: b.Learning(), Runs: b.Runs, Learn: b.Learn, Started: b.Started, LearnedAt: b.LearnedAt,
		Changed: b.Drifts, LastRun: b.LastRun, Accepts: b.Accepts}
	for _, k := range slices.Sorted(maps.Keys(b.Scalars)) {
		s := b.Scalars[k]
		switch {
		case s.Varying:
			v.Varying = append(v.Varying, k)
		case !v.Learning:
			v.Normal = append(v.Normal, ViewItem{Key: k, Value: s.Value})
		}
	}
	if !v.Learning {
		for _, k := range slices.Sorted(maps.Keys(b.Sets)) {
			s := b.Sets[k]
			value := listText(slices.Sorted(maps.Keys(s.Elems)))
			if s.Open {
				value += " (and others that come and go)"
			}
			v.Normal = append(v.Normal, ViewItem{Key: k, Value: value})
		}
		slices.SortFunc(v.Normal, func(a, b ViewItem) int { return strings.Compare(a.Key, b.Key) })
		for _, step := range slices.Sorted(maps.Keys(b.Latency)) {
			l := b.Latency[step]
			v.Latency = append(v.Latency, ViewTimes{Step: step, P50: msText(l.P50), P95: msText(l.P95)})
		}
	}
	return v
}
