package scheduler

import (
	"runtime/metrics"
	"slices"
	"time"
)

// cpuBusyLatency is the goroutine scheduling latency (p99 over an
// adaptation step) above which the process is short of CPU: its runnable
// goroutines wait for a thread. Then more concurrency adds no throughput;
// it only stretches every run (inflating the latency the monitor reports
// for its targets, up to false timeouts), so the adaptive limit does not
// grow and runs wait for a slot instead, where the wait is the monitor's
// lateness and is reported as such.
const cpuBusyLatency = 5 * time.Millisecond

// schedLatency reads the runtime's histogram of goroutine scheduling
// latencies (/sched/latencies:seconds) and reports the p99 since the
// previous read. It is used by the adapting goroutine only.
type schedLatency struct {
	sample []metrics.Sample
	prev   []uint64
}

func newSchedLatency() *schedLatency {
	return &schedLatency{sample: []metrics.Sample{{Name: "/sched/latencies:seconds"}}}
}

// busy reports whether the p99 since the last call exceeds cpuBusyLatency.
func (sl *schedLatency) busy() bool { return sl.p99() > cpuBusyLatency }

func (sl *schedLatency) p99() time.Duration {
	metrics.Read(sl.sample)
	if sl.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := sl.sample[0].Value.Float64Histogram()
	counts := slices.Clone(h.Counts)
	prev := sl.prev
	sl.prev = counts
	var total uint64
	delta := make([]uint64, len(counts))
	for i, c := range counts {
		if len(prev) == len(counts) {
			c -= prev[i]
		}
		delta[i] = c
		total += c
	}
	if total == 0 {
		return 0
	}
	var seen uint64
	for i, c := range delta {
		seen += c
		if seen*100 >= total*99 {
			return time.Duration(h.Buckets[i] * float64(time.Second)) // the bucket's lower bound
		}
	}
	return 0
}
