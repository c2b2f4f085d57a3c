package metrics

import "github.com/prometheus/client_golang/prometheus"

// SchedulerLoadFuncs read the scheduler's load at each scrape.
type SchedulerLoadFuncs struct {
	Limit   func() int  // the concurrency limit now
	Waiting func() int  // runs waiting for a slot now
	Late    func() bool // the daemon warns that runs start late
}

// Names of the gauges SchedulerLoad registers.
const (
	concurrencyLimitName = "authwatch_scheduler_concurrency_limit"
	waitingRunsName      = "authwatch_scheduler_waiting_runs"
	runsLateName         = "authwatch_scheduler_runs_late"
)

// SchedulerLoad exports the concurrency limit (fixed max_concurrent or
// the adaptive one), the runs waiting for a slot and the late-runs warning,
// computed at each scrape.
func (m *Metrics) SchedulerLoad(f SchedulerLoadFuncs) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: concurrencyLimitName,
			Help: "How many runs may execute at once now: max_concurrent, or the adaptive limit when it is 0 (the default)."},
			func() float64 { return float64(f.Limit()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: waitingRunsName,
			Help: "Runs due but waiting for a concurrency slot now (they start late)."},
			func() float64 { return float64(f.Waiting()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: runsLateName,
			Help: "1 while the daemon warns that runs start late (p99 lateness over the last minute above min(1s, a tenth of the shortest interval)), else 0."},
			func() float64 { return boolGauge(f.Late()) }))
	m.mu.Lock()
	m.names = append(m.names, concurrencyLimitName, waitingRunsName, runsLateName)
	m.mu.Unlock()
}
