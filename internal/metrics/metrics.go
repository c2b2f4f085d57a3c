// Package metrics exposes the daemon's Prometheus metrics: runs by flow,
// result and reason, run durations by flow and step durations by kind (by
// flow and step only when asked: ~1.3 KB a step), token lifetimes,
// certificate expiry, clock offsets, JWKS size, scheduler lateness, skipped
// runs and reloads;
// the build (authwatch_build_info) and each flow's labels
// (authwatch_flow_info) for joins.
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/version"
)

// Metrics holds the collectors. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	perFlow        *perFlow               // runs, up, last success, streak, run duration, token lifetime, JWKS keys, skips
	failures       *prometheus.CounterVec // by reason only
	info           *flowInfo
	stepHistograms bool   // per flow and step, opt-in
	location       string // WithLocation: the per-flow series' location label
	stepDuration   *prometheus.HistogramVec
	kindDuration   *prometheus.HistogramVec
	tlsExpiry      *prometheus.GaugeVec
	tlsNotAfter    *prometheus.GaugeVec
	clockOffset    *prometheus.GaugeVec
	lateness       prometheus.Histogram
	reloads        *prometheus.CounterVec
	reloadOK       prometheus.Gauge
	reloadTime     prometheus.Gauge
	flowCount      prometheus.Gauge
	notifications  *prometheus.CounterVec
	notifyDead     *prometheus.CounterVec
	backlog        *prometheus.GaugeVec
	storeUp        prometheus.Gauge
	storePending   prometheus.Gauge
	storeDropped   prometheus.Gauge
	storeUsed      prometheus.Gauge
	storeMax       prometheus.Gauge
	storeSizeDel   prometheus.Counter
	heartbeats     *prometheus.CounterVec

	mu    sync.Mutex // guards names after New
	names []string   // of the collectors registered, for Names
}

// New registers every collector on a fresh registry (plus Go and process
// collectors).
func New(opts ...Option) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	for _, o := range opts {
		o(m)
	}
	f := promauto{m.reg, &m.names}
	m.perFlow = newPerFlow(f, m.locationLabel())
	m.failures = f.counterVec("authwatch_run_failures_total",
		"Failed runs of all flows by primary reason: the reason detail without a series per flow and reason.", "reason")
	m.info = &flowInfo{}
	m.reg.MustRegister(m.info)
	m.names = append(m.names, flowInfoName, schedulerHealthyName)
	stepBuckets := []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// Registered either way, so that its name is known; it has series
	// only with WithStepHistograms.
	m.stepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authwatch_step_duration_seconds",
		Help: "Step durations by flow and step (metrics.step_histograms: true).", Buckets: stepBuckets, ConstLabels: m.locationLabel()},
		[]string{"flow", "step", "kind"})
	f.register("authwatch_step_duration_seconds", m.stepDuration)
	m.kindDuration = f.histogramVec("authwatch_step_kind_duration_seconds", "Step durations of every flow by step kind.", stepBuckets, "kind")
	m.tlsExpiry = f.gaugeVec("authwatch_tls_cert_expiry_seconds", "Seconds until the server certificate expires.", "host")
	m.tlsNotAfter = f.gaugeVec("authwatch_tls_cert_not_after_timestamp_seconds",
		"When the server certificate expires (its NotAfter, Unix seconds), like blackbox_exporter's probe_ssl_earliest_cert_expiry.", "host")
	m.clockOffset = f.gaugeVec("authwatch_clock_offset_seconds", "The server's Date header minus this host's clock.", "host")
	m.lateness = f.histogram("authwatch_scheduler_lateness_seconds", "Actual minus planned start of runs.", []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 5})
	m.reloads = f.counterVec("authwatch_config_reloads_total", "Configuration reloads by result.", "result")
	m.reloadOK = f.gauge("authwatch_config_last_reload_successful", "1 if the last reload succeeded; the old flows keep running when it failed.")
	m.reloadTime = f.gauge("authwatch_config_last_reload_timestamp_seconds", "Time of the last reload attempt.")
	m.flowCount = f.gauge("authwatch_flows", "Flows scheduled.")
	m.notifications = f.counterVec("authwatch_notification_attempts_total", "Notification delivery attempts by notifier and result (success, failure).", "notifier", "result")
	m.notifyDead = f.counterVec("authwatch_notifications_refused_total", "Notifications a receiver refused for good (not retried).", "notifier")
	m.backlog = f.gaugeVec("authwatch_notification_backlog", "Undelivered notifications in the outbox.", "notifier")
	m.storeUp = f.gauge("authwatch_state_store_up", "1 if the state store takes writes; 0 while results and pages are held in memory.")
	m.storePending = f.gauge("authwatch_state_store_pending_runs", "Runs held in memory while the state store refuses writes.")
	m.storeDropped = f.gauge("authwatch_state_store_dropped_runs", "Runs dropped from memory (oldest first) while the state store refused writes.")
	m.storeUsed = f.gauge("authwatch_state_store_used_bytes", "Bytes of the state database's pages in use (the WAL left out), measured at each prune.")
	m.storeMax = f.gauge("authwatch_state_store_max_bytes", "retention.max_size: the bound on authwatch_state_store_used_bytes on SQLite, on the live rows' estimated bytes on PostgreSQL (0: none).")
	m.storeSizeDel = f.counter("authwatch_state_store_size_pruned_runs_total",
		"Whole run records deleted, oldest first, to keep the state database under retention.max_size.")
	m.heartbeats = f.counterVec("authwatch_heartbeats_total", "Heartbeat pings by result (success, failure, withheld: the daemon was unhealthy).", "result")
	m.storeUp.Set(1)
	b := version.Get()
	f.gaugeVec("authwatch_build_info", "The running build: 1, with its version, commit and Go version as labels.",
		"version", "revision", "goversion").WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Option tunes what New exports.
type Option func(*Metrics)

// WithStepHistograms exports authwatch_step_duration_seconds by flow, step
// and kind: 13 series per step, ~1.3 KB of every scrape (issue 15: 19.7 MB
// at 10,000 flows), hence off by default; step durations by kind and each
// flow's last run duration are exported either way.
func WithStepHistograms(on bool) Option { return func(m *Metrics) { m.stepHistograms = on } }

// WithLocation labels the per-flow series with location="..." (a cluster
// node's probe location, docs/cluster.md): the nodes of several
// locations export the same flows. "" (a single daemon) adds no label.
func WithLocation(location string) Option { return func(m *Metrics) { m.location = location } }

// locationLabel is the constant label of the per-flow series, if any.
func (m *Metrics) locationLabel() prometheus.Labels {
	if m.location == "" {
		return nil
	}
	return prometheus.Labels{"location": m.location}
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveResult records a completed run.
func (m *Metrics) ObserveResult(r *flows.Result) {
	if r.Cancelled {
		return
	}
	result, reason := "pass", ""
	stepEnd := r.Start
	var latency time.Duration
	for _, s := range r.Steps {
		if s.Status == flows.StepWarned && result == "pass" {
			result = "warn"
		}
		stepEnd = stepEnd.Add(s.Duration)
		if s.Status == flows.StepSkipped {
			continue
		}
		if s.IsLatency() { // a wait step's time is no latency sample
			latency += s.Duration
			m.kindDuration.WithLabelValues(s.Kind).Observe(s.Duration.Seconds())
			if m.stepHistograms {
				m.stepDuration.WithLabelValues(r.Flow, s.ID, s.Kind).Observe(s.Duration.Seconds())
			}
		}
		m.measureHosts(s, stepEnd)
	}
	up := 1.0
	if f := r.Failure(); f != nil {
		result, reason, up = "fail", string(f.Reason), 0
	}
	if reason != "" {
		m.failures.WithLabelValues(reason).Inc()
	}
	m.perFlow.update(r.Flow, func(fs *flowSeries) {
		for _, s := range r.Steps {
			if s.Status != flows.StepSkipped {
				measureFlow(fs, s)
			}
		}
		*at(&fs.runs, result, reason)++
		fs.up, fs.runDuration, fs.has = up, latency.Seconds(), fs.has|hasUp|hasRunDuration
		if up == 1 {
			fs.lastSuccess, fs.has = unixSeconds(r.Start), fs.has|hasLastSuccess
		}
	})
}

// FailStreak sets the flow's failed runs in a row and the last reason
// (one series per flow: a new reason replaces the old one's).
func (m *Metrics) FailStreak(flow string, failures int, reason string) {
	if failures == 0 {
		reason = ""
	}
	m.perFlow.update(flow, func(fs *flowSeries) {
		if !fs.known {
			return // removed by a reload while it ran (its values go at the next SetFlows)
		}
		fs.streak, fs.streakReason, fs.has = float64(failures), reason, fs.has|hasStreak
	})
}

// SchedulerHealth exports healthy() as authwatch_scheduler_healthy,
// computed at each scrape, so that a hung daemon cannot leave a stale 1.
func (m *Metrics) SchedulerHealth(healthy func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: schedulerHealthyName,
		Help: "1 while runs happen (one started, skipped or finished within twice the shortest every: plus a minute), 0 when none does."},
		func() float64 { return boolGauge(healthy()) }))
}

const schedulerHealthyName = "authwatch_scheduler_healthy"

// LastSuccess sets when the flow's last passing run started (also from the
// store at a start, so that a restart does not reset it).
func (m *Metrics) LastSuccess(flow string, start time.Time) {
	m.perFlow.update(flow, func(fs *flowSeries) { fs.lastSuccess, fs.has = unixSeconds(start), fs.has|hasLastSuccess })
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// measureHosts exports a step's measurements of hosts; stepEnd is about
// when they were taken (the end of the step).
func (m *Metrics) measureHosts(s flows.StepResult, stepEnd time.Time) {
	for _, x := range s.Measurements {
		switch x.Name {
		case flows.MeasureTLSExpiry:
			m.tlsExpiry.WithLabelValues(x.Host).Set(x.Value)
			m.tlsNotAfter.WithLabelValues(x.Host).Set(notAfter(stepEnd, x.Value))
		case flows.MeasureClockOffset:
			m.clockOffset.WithLabelValues(x.Host).Set(x.Value)
		}
	}
}

// measureFlow keeps a step's measurements of the flow's own.
func measureFlow(fs *flowSeries, s flows.StepResult) {
	for _, x := range s.Measurements {
		switch x.Name {
		case flows.MeasureTokenLifetime:
			*at(&fs.tokens, s.ID, "") = x.Value
		case flows.MeasureJWKSKeys:
			*at(&fs.jwks, s.ID, "") = x.Value
		}
	}
}

// ObserveLateness records how late a run started.
func (m *Metrics) ObserveLateness(d time.Duration) { m.lateness.Observe(d.Seconds()) }

// Skipped counts a skipped run.
func (m *Metrics) Skipped(flow, why string) {
	m.perFlow.update(flow, func(fs *flowSeries) { *at(&fs.skipped, why, "")++ })
}

// Reloaded records a reload attempt.
func (m *Metrics) Reloaded(ok bool, at time.Time) {
	result, v := "success", 1.0
	if !ok {
		result, v = "failure", 0
	}
	m.reloads.WithLabelValues(result).Inc()
	m.reloadOK.Set(v)
	m.reloadTime.Set(float64(at.Unix()))
}

// SetFlows records the flows now scheduled (and their labels, for
// authwatch_flow_info) and drops the series of removed ones, so that a
// deleted flow does not look down forever.
func (m *Metrics) SetFlows(fs []*flows.Flow) {
	now := make(map[string]bool, len(fs))
	for _, f := range fs {
		now[f.Name] = true
	}
	for _, n := range m.perFlow.setFlows(now) {
		if m.stepHistograms {
			m.stepDuration.DeletePartialMatch(prometheus.Labels{"flow": n})
		}
	}
	m.info.set(fs)
	m.flowCount.Set(float64(len(fs)))
}

// ForgetFlowResults drops the per-flow series of results (runs, up, last
// success, failure streak, durations, token lifetimes, JWKS keys, skips)
// of the flows named, until this daemon runs them again: a cluster node
// exports them for the flows it runs only, so that a flow another node now
// runs does not keep the value it had when this one last ran it.
// authwatch_flow_info stays (the flow is configured here).
func (m *Metrics) ForgetFlowResults(names []string) {
	m.perFlow.forget(names)
	if m.stepHistograms {
		for _, n := range names {
			m.stepDuration.DeletePartialMatch(prometheus.Labels{"flow": n})
		}
	}
}

// notAfter is the certificate's expiry from the seconds it had left at
// measured, rounded to the second: certificate times are whole seconds,
// and the step's end is within a fraction of one of the measurement.
func notAfter(measured time.Time, left float64) float64 {
	at := measured.Add(time.Duration(left * float64(time.Second)))
	return float64(at.Round(time.Second).Unix())
}

// NotificationAttempt records one delivery attempt.
func (m *Metrics) NotificationAttempt(notifier string, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.notifications.WithLabelValues(notifier, result).Inc()
}

// NotificationRefused records a notification given up.
func (m *Metrics) NotificationRefused(notifier string) { m.notifyDead.WithLabelValues(notifier).Inc() }

// Backlog sets the outbox backlog of a notifier.
func (m *Metrics) Backlog(notifier string, pending int) {
	m.backlog.WithLabelValues(notifier).Set(float64(pending))
}

// Registry is the underlying registry (for tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Names lists authwatch's own metric names (not the Go and process
// collectors'), with or without series yet: the dashboard and the alerting
// rules in deploy/ are checked against them.
func (m *Metrics) Names() []string { return slices.Clone(m.names) }

// promauto registers as it creates, and remembers the names.
type promauto struct {
	reg   *prometheus.Registry
	names *[]string
}

func (p promauto) register(name string, c prometheus.Collector) {
	p.reg.MustRegister(c)
	*p.names = append(*p.names, name)
}

func (p promauto) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	p.register(name, v)
	return v
}

func (p promauto) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	p.register(name, v)
	return v
}

func (p promauto) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	p.register(name, v)
	return v
}

func (p promauto) histogram(name, help string, buckets []float64) prometheus.Histogram {
	v := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	p.register(name, v)
	return v
}

func (p promauto) counter(name, help string) prometheus.Counter {
	v := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	p.register(name, v)
	return v
}

func (p promauto) gauge(name, help string) prometheus.Gauge {
	v := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	p.register(name, v)
	return v
}

// StoreHealth exports the state store's condition.
func (m *Metrics) StoreHealth(ok bool, pending int, dropped int64) {
	m.storeUp.Set(boolGauge(ok))
	m.storePending.Set(float64(pending))
	m.storeDropped.Set(float64(dropped))
}

// StoreSize exports the state database's size after a prune: used bytes,
// the bound, and the whole records that prune deleted for the bound.
func (m *Metrics) StoreSize(used, max int64, prunedRuns int) {
	m.storeUsed.Set(float64(used))
	m.storeMax.Set(float64(max))
	m.storeSizeDel.Add(float64(prunedRuns))
}

// Heartbeat counts a heartbeat: success, failure or withheld.
func (m *Metrics) Heartbeat(result string) { m.heartbeats.WithLabelValues(result).Inc() }

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
