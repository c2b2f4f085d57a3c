package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// perFlow keeps the series that exist once per flow (or per flow and
// step, reason or why) as plain values and serves them at each scrape.
// As series of client_golang vectors they cost about 400 bytes each (the
// child, its label values and label pairs, the map entry), seven or more
// per flow: 26 MB of the daemon's live heap at 10,000 flows, twice that
// in resident memory, and pointers for every GC to mark; here a flow
// costs a map entry and one small struct (TestLiveBytesPerFlow). The
// exposition is the same, byte for byte (TestPerFlowSeriesAsBefore); the
// price is that each scrape builds the series it sends (garbage of a
// scrape, not memory kept).
type perFlow struct {
	runs, up, lastSuccess, failStreak, runDuration, tokenLifetime, jwksKeys, skipped *prometheus.Desc

	mu    sync.Mutex
	flows map[string]*flowSeries
}

// flowSeries are one flow's values. A series exists once set: has says
// which of the single ones are.
type flowSeries struct {
	known        bool // in the last SetFlows: FailStreak sets only these
	has          seriesSet
	up           float64
	lastSuccess  float64
	runDuration  float64
	streak       float64
	streakReason string
	runs         []labelled // by result (a) and reason (b)
	skipped      []labelled // by why (a)
	tokens, jwks []labelled // by step (a)
}

type seriesSet uint8

const (
	hasUp seriesSet = 1 << iota
	hasLastSuccess
	hasRunDuration
	hasStreak
)

// labelled is one value of a series keyed by one or two label values.
type labelled struct {
	a, b string
	v    float64
}

// at returns the value keyed by a and b in *ls, adding it at 0 if absent.
func at(ls *[]labelled, a, b string) *float64 {
	for i := range *ls {
		if l := &(*ls)[i]; l.a == a && l.b == b {
			return &l.v
		}
	}
	*ls = append(*ls, labelled{a: a, b: b})
	return &(*ls)[len(*ls)-1].v
}

func newPerFlow(p promauto, constLabels prometheus.Labels) *perFlow {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		*p.names = append(*p.names, name)
		return prometheus.NewDesc(name, help, labels, constLabels)
	}
	c := &perFlow{flows: map[string]*flowSeries{}}
	c.runs = desc("authwatch_flow_runs_total", "Flow runs by result (pass, warn, fail) and primary reason.", "flow", "result", "reason")
	c.up = desc("authwatch_flow_up", "1 if the flow's last run passed, 0 if it failed.", "flow")
	c.lastSuccess = desc("authwatch_flow_last_success_timestamp_seconds", "Start of the flow's last run that passed (Unix seconds).", "flow")
	c.failStreak = desc("authwatch_flow_consecutive_failures",
		"Failed runs in a row (0 while passing), labelled with the last failure's reason.", "flow", "reason")
	c.runDuration = desc("authwatch_flow_run_duration_seconds", "Duration of the flow's last run: its steps but wait steps.", "flow")
	c.tokenLifetime = desc("authwatch_token_lifetime_seconds", "Remaining lifetime of the access token a step received.", "flow", "step")
	c.jwksKeys = desc("authwatch_jwks_keys", "Signing keys the JWKS serves.", "flow", "step")
	c.skipped = desc("authwatch_runs_skipped_total", "Runs skipped because the previous run still ran (overlap), the target asked to wait (retry_after), a cluster node lost the lease its run was admitted under (lease_lost: the run was cancelled), or a daemon on PostgreSQL lost its instance lock while the run was in progress (instance_lock_lost: cancelled).", "flow", "why")
	p.reg.MustRegister(c)
	return c
}

// update calls fn with flow's values under the lock, making them if the
// flow has none yet.
func (c *perFlow) update(flow string, fn func(s *flowSeries)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.flows[flow]
	if s == nil {
		s = &flowSeries{}
		c.flows[flow] = s
	}
	fn(s)
}

// setFlows makes the flows in now the known ones and drops the values of
// every other flow; it returns the names dropped.
func (c *perFlow) setFlows(now map[string]bool) (dropped []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.flows {
		if !now[name] {
			delete(c.flows, name)
			dropped = append(dropped, name)
		}
	}
	for name := range now {
		s := c.flows[name]
		if s == nil {
			s = &flowSeries{}
			c.flows[name] = s
		}
		s.known = true
	}
	return dropped
}

func (c *perFlow) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.runs, c.up, c.lastSuccess, c.failStreak, c.runDuration, c.tokenLifetime, c.jwksKeys, c.skipped} {
		ch <- d
	}
}

// Collect sends every flow's series. The lock is taken once per flow, so
// that a scrape of 10,000 flows never holds up a run's result for long.
func (c *perFlow) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	names := make([]string, 0, len(c.flows))
	for name := range c.flows {
		names = append(names, name)
	}
	c.mu.Unlock()
	var batch []prometheus.Metric
	for _, name := range names {
		batch = batch[:0]
		c.mu.Lock()
		if s := c.flows[name]; s != nil {
			batch = c.series(batch, name, s)
		}
		c.mu.Unlock()
		for _, m := range batch {
			ch <- m
		}
	}
}

// series appends the series of flow's values s; c.mu is held.
func (c *perFlow) series(out []prometheus.Metric, flow string, s *flowSeries) []prometheus.Metric {
	one := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, t, v, labels...))
	}
	for _, r := range s.runs {
		one(c.runs, prometheus.CounterValue, r.v, flow, r.a, r.b)
	}
	if s.has&hasUp != 0 {
		one(c.up, prometheus.GaugeValue, s.up, flow)
	}
	if s.has&hasLastSuccess != 0 {
		one(c.lastSuccess, prometheus.GaugeValue, s.lastSuccess, flow)
	}
	if s.has&hasStreak != 0 {
		one(c.failStreak, prometheus.GaugeValue, s.streak, flow, s.streakReason)
	}
	if s.has&hasRunDuration != 0 {
		one(c.runDuration, prometheus.GaugeValue, s.runDuration, flow)
	}
	for _, t := range s.tokens {
		one(c.tokenLifetime, prometheus.GaugeValue, t.v, flow, t.a)
	}
	for _, k := range s.jwks {
		one(c.jwksKeys, prometheus.GaugeValue, k.v, flow, k.a)
	}
	for _, k := range s.skipped {
		one(c.skipped, prometheus.CounterValue, k.v, flow, k.a)
	}
	return out
}

// forget drops the values of the flows named (their series vanish until
// they are set again), keeping them known.
func (c *perFlow) forget(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range names {
		if s := c.flows[name]; s != nil {
			c.flows[name] = &flowSeries{known: s.known}
		}
	}
}
