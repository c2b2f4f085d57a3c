package scheduler

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
)

// The adaptive limit (Options.MaxConcurrent 0, the daemon's default)
//
// By Little's law the runs in progress average the rate of runs times
// their latency. The rate is the schedule's demand (the sum of 1/interval
// over the flows, known at Apply: the rate of completed runs would be
// capped by the limit itself), the latency the mean time of the runs
// completed lately. Every adaptEvery the limit becomes
// autoHeadroom × demand × latency, and also grows (up to twice) while runs
// wait for a slot, which covers runs too slow to have completed yet (a
// target that hangs). It grows at once, unless the process is short of
// CPU (cpu.go), and shrinks by at most a quarter per step, between
// AutoMinConcurrent and AutoMaxConcurrent: the cap also bounds the
// connections the monitor opens to a slow target.
const (
	// AutoMinConcurrent is the adaptive limit's floor: the old fixed
	// default, ample for hundreds of flows.
	AutoMinConcurrent = 64
	// AutoMaxConcurrent is the adaptive limit's cap.
	AutoMaxConcurrent = 1024
	autoHeadroom      = 2
	adaptEvery        = time.Second
)

// loadSample is what one adaptation step sees.
type loadSample struct {
	demand  float64       // planned runs per second
	latency time.Duration // smoothed mean duration of completed runs
	waiting int           // runs waiting for a slot now
	cpuBusy bool          // the process is short of CPU (see cpuBusyLatency)
}

// autoLimit is the adaptive limit after cur, given s.
func autoLimit(cur int, s loadSample) int {
	// Less a hair, so that a product like 146.00000000000003 is 146.
	target := int(math.Ceil(autoHeadroom*s.demand*s.latency.Seconds() - 1e-9))
	if s.waiting > 0 {
		target = max(target, min(2*cur, cur+s.waiting))
	}
	next := target
	switch {
	case target < cur:
		next = max(target, cur-cur/4)
	case s.cpuBusy:
		next = cur
	}
	return min(max(next, AutoMinConcurrent), AutoMaxConcurrent)
}

// latencyMeter sums the durations of the runs completed since the last
// look.
type latencyMeter struct {
	sum, n atomic.Int64
	mean   time.Duration // smoothed; touched by the adapting goroutine only
}

func (lm *latencyMeter) observe(d time.Duration) {
	lm.sum.Add(int64(d))
	lm.n.Add(1)
}

// smoothed folds the runs completed since the last call into the mean
// (halving the weight of older periods) and returns it.
func (lm *latencyMeter) smoothed() time.Duration {
	n := lm.n.Swap(0)
	sum := lm.sum.Swap(0)
	if n == 0 {
		return lm.mean
	}
	period := time.Duration(sum / n)
	if lm.mean == 0 {
		lm.mean = period
	} else {
		lm.mean = (lm.mean + period) / 2
	}
	return lm.mean
}

// adapt runs the adaptive limit on t's ticks until Shutdown.
func (s *Scheduler) adapt(t clockwork.Ticker) {
	defer s.bg.Done()
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.Chan():
			s.adaptOnce()
		}
	}
}

// adaptOnce is one adaptation step.
func (s *Scheduler) adaptOnce() {
	st := s.slots.state()
	sample := loadSample{demand: s.demand(), latency: s.latency.smoothed(), waiting: st.waiting, cpuBusy: s.cpuBusy()}
	next := autoLimit(st.limit, sample)
	if next != st.limit {
		for _, a := range s.slots.setLimit(next) {
			s.dispatch(a)
		}
		s.log.Debug("concurrency limit adapted", "from", st.limit, "to", next, "waiting", st.waiting,
			"demand_per_s", sample.demand, "latency", sample.latency, "cpu_busy", sample.cpuBusy)
	}
}

// demand is the planned runs per second of the scheduled flows.
func (s *Scheduler) demand() float64 { return math.Float64frombits(s.demandBits.Load()) }

// updateDemand recomputes demand after Apply.
func (s *Scheduler) updateDemand() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var perSecond float64
	for _, j := range s.jobs {
		if d := s.Interval(j.flow); d > 0 {
			perSecond += float64(time.Second) / float64(d)
		}
	}
	s.demandBits.Store(math.Float64bits(perSecond))
}
