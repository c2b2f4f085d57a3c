package store

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// History tiers (docs/history.md): a run is kept whole when it failed, was
// cancelled, had warnings or changed the flow's pass/fail state, and
// otherwise only while it is one of the flow's newest passing runs. Every
// run, kept whole or not, is counted in a roll-up per flow and minute and
// per flow and hour, so pass rates and latency percentiles come from the
// roll-ups alone.

// Tier is the width of a roll-up.
type Tier int

const (
	TierMinute Tier = iota
	TierHour
)

// Width is the time a roll-up of the tier covers.
func (t Tier) Width() time.Duration {
	if t == TierHour {
		return time.Hour
	}
	return time.Minute
}

func (t Tier) String() string {
	if t == TierHour {
		return "hour"
	}
	return "minute"
}

// KeptWhole reports whether r is kept as a whole record whatever the
// number of passing runs kept: a failure, a cancelled run, a run with
// warnings, or the first counted run of a new pass/fail state (prev is the
// flow's state before r).
func KeptWhole(prev FlowState, r Run) bool {
	return !r.OK || r.Cancelled || r.Warnings > 0 || prev.LastRun.IsZero() || !prev.OK
}

// Rollup counts a flow's runs that started in [Start, Start+Tier.Width()).
// Cancelled runs are counted in Runs and Cancelled only: Passed and Failed
// are the counted runs, and the latency figures are theirs.
type Rollup struct {
	Flow      string
	Tier      Tier
	Start     time.Time
	Runs      int64
	Passed    int64
	Failed    int64
	Cancelled int64
	Warnings  int64 // runs with at least one warning
	// LatencySumMS, LatencyMinMS and LatencyMaxMS are over the counted
	// runs' latencies (DurationMS - WaitedMS), kept in microseconds.
	LatencySumMS, LatencyMinMS, LatencyMaxMS float64
	Latency                                  Histogram
	LastRunID                                int64 // the newest run's ID (0 when unknown)
}

// Add counts r.
func (u *Rollup) Add(r Run) {
	u.Runs++
	if r.ID > u.LastRunID {
		u.LastRunID = r.ID
	}
	if r.Warnings > 0 {
		u.Warnings++
	}
	if r.Cancelled {
		u.Cancelled++
		return
	}
	if r.OK {
		u.Passed++
	} else {
		u.Failed++
	}
	lat := math.Round(max(r.DurationMS-r.WaitedMS, 0)*1000) / 1000
	if u.Passed+u.Failed == 1 || lat < u.LatencyMinMS {
		u.LatencyMinMS = lat
	}
	u.LatencyMaxMS = max(u.LatencyMaxMS, lat)
	u.LatencySumMS += lat
	u.Latency.Add(lat)
}

// Merge adds o's counts to u (the same flow; any start).
func (u *Rollup) Merge(o Rollup) {
	if o.Passed+o.Failed > 0 {
		if u.Passed+u.Failed == 0 || o.LatencyMinMS < u.LatencyMinMS {
			u.LatencyMinMS = o.LatencyMinMS
		}
		u.LatencyMaxMS = max(u.LatencyMaxMS, o.LatencyMaxMS)
	}
	u.Runs += o.Runs
	u.Passed += o.Passed
	u.Failed += o.Failed
	u.Cancelled += o.Cancelled
	u.Warnings += o.Warnings
	u.LatencySumMS += o.LatencySumMS
	u.Latency.Merge(o.Latency)
	u.LastRunID = max(u.LastRunID, o.LastRunID)
}

// Counted is the number of runs that count toward pass rates.
func (u Rollup) Counted() int64 { return u.Passed + u.Failed }

// RollupReader is implemented by stores that keep roll-ups
// (internal/store/sqlite). Roll-ups of the current minute that the store
// has not written yet are included.
type RollupReader interface {
	// Rollups returns the flow's roll-ups of the tier that started at or
	// after since, oldest first.
	Rollups(ctx context.Context, flow string, tier Tier, since time.Time) ([]Rollup, error)
	// RollupTotals returns, per flow, the sum of its roll-ups of the tier
	// that started at or after since (Start is since), in one query.
	RollupTotals(ctx context.Context, tier Tier, since time.Time) (map[string]Rollup, error)
}

// ErrNoRollups is returned by a RollupReader that wraps a store keeping
// none (internal/store/buffered over another backend).
var ErrNoRollups = errors.New("store: no roll-ups kept")

// Latency histogram buckets: bucket i > 0 holds latencies in
// [2^((i-1-histOffset)/histPerOctave), 2^((i-histOffset)/histPerOctave)) ms,
// four per doubling, so a percentile read from merged histograms is within
// 19 % of the true value (9 % either side of the bucket's midpoint); bucket 0
// holds latencies below 1/16 ms and the last one everything from about 17
// minutes up.
const (
	histPerOctave = 4
	histOffset    = 4 * histPerOctave // bucket 1 starts at 2^-4 ms
	HistBuckets   = 1 + histOffset + 20*histPerOctave + 1
)

// HistBucket is the bucket of a latency in milliseconds.
func HistBucket(ms float64) int {
	if ms < 1.0/16 {
		return 0
	}
	i := int(math.Floor(math.Log2(ms)*histPerOctave)) + histOffset + 1
	return min(max(i, 1), HistBuckets-1)
}

// HistBounds are the latencies (ms) bucket i holds: [lo, hi).
func HistBounds(i int) (lo, hi float64) {
	edge := func(j int) float64 { return math.Exp2(float64(j-histOffset) / histPerOctave) }
	switch {
	case i <= 0:
		return 0, edge(0)
	case i >= HistBuckets-1:
		return edge(i - 1), math.Inf(1)
	}
	return edge(i - 1), edge(i)
}

// Histogram counts latencies in fixed logarithmic buckets (HistBucket), so
// that histograms of any runs merge by adding counts. The zero value is
// empty; the slice grows to the highest bucket used.
type Histogram struct{ counts []uint32 }

// Add counts one latency in milliseconds.
func (h *Histogram) Add(ms float64) { h.addN(HistBucket(ms), 1) }

func (h *Histogram) addN(i int, n uint32) {
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint32, i+1-len(h.counts))...)
	}
	h.counts[i] += n
}

// Merge adds o's counts.
func (h *Histogram) Merge(o Histogram) {
	for i, n := range o.counts {
		if n > 0 {
			h.addN(i, n)
		}
	}
}

// Count is the number of latencies counted.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += uint64(c)
	}
	return n
}

// Quantile estimates the q-th quantile (0 < q <= 1) as the geometric
// midpoint of the bucket that holds it; 0 for an empty histogram.
func (h Histogram) Quantile(q float64) float64 {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			lo, hi := HistBounds(i)
			switch {
			case i == 0:
				return hi / 2
			case math.IsInf(hi, 1):
				return lo
			}
			return math.Sqrt(lo * hi)
		}
	}
	return 0
}

// MarshalBinary encodes the non-empty buckets as (bucket, uvarint count)
// pairs: a minute of a steady flow is two to six bytes.
func (h Histogram) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil), nil }

// AppendBinary appends MarshalBinary's encoding to b.
func (h Histogram) AppendBinary(b []byte) []byte {
	for i, c := range h.counts {
		if c > 0 {
			b = append(b, byte(i))
			b = binary.AppendUvarint(b, uint64(c))
		}
	}
	return b
}

// UnmarshalBinary decodes MarshalBinary's encoding.
func (h *Histogram) UnmarshalBinary(b []byte) error {
	h.counts = h.counts[:0]
	for len(b) > 0 {
		i := int(b[0])
		c, n := binary.Uvarint(b[1:])
		if n <= 0 || i >= HistBuckets || c > math.MaxUint32 {
			return errors.New("store: malformed latency histogram")
		}
		h.addN(i, uint32(c))
		b = b[1+n:]
	}
	return nil
}
