package statuspage

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/authwatch/authwatch/internal/store"
)

// How the pass rates, sparklines, trends and timelines are computed.
//
// Each flow has a cache of the last 7 days of its runs, reduced to what
// the figures need (24 bytes a run, plus at most maxTrendPoints points per
// measured series, one per run until thinned to one per bucket, and
// maxEvents timeline entries). The store is asked:
//
//   - once per flow (and again every fullReloadEvery, or when the flow's
//     run counter went back, e.g. its state was forgotten): the runs of
//     the window, at most windowLimit of them (the schedule's number of
//     runs in 7 days plus 10 %). A Source that implements RunSummarizer
//     returns them without their steps; a RunPager (SQLite) is read a
//     page of windowPage runs at a time, up to the first page reaching
//     past 7 days; otherwise Runs is used with that limit;
//   - on every later page view or API call: nothing when FlowState.Runs
//     (a counter RecordRun increments) is unchanged, else only the new
//     runs: Runs(flow, new+deltaSlack), kept by ID.
//
// A page view therefore costs one FlowStates query plus, per flow that ran
// since the last view, one query of a few rows. With Options.States, no
// FlowStates query, and the runs the daemon hands over (LiveStates.Recorded)
// are taken into a flow's cache at once (flowStats.take): a flow that ran
// since the last view then costs nothing, unless a run was missed (the
// cache was being read, or not loaded yet), which the next sync reads as
// above. The taken runs' steps are read only for the flow's page.
//
// A Source that keeps history tiers (store.RollupReader, docs/history.md)
// keeps only some passing runs whole: the runs above are then the whole
// records (failures, warnings, state changes and the newest passing runs:
// enough for the sparkline, the timeline and the last run), and the pass
// rates and run counts come from the flow's roll-ups per
// hour instead, read whole at a full load and from the last hour on at a
// sync that saw new runs not all kept whole (one more query of one or two
// rows; new runs all seen whole are counted into the hours, and the
// hours' percentiles read only for the flow's page). A flow then
// costs 7 × 24 hourBuckets (24 bytes each) besides its whole records. The
// windows are then whole hours: the 24 h figures count the hours that
// started within the last 24 hours (so, between 23 and 24 hours of runs,
// and exactly the last 24 h on the hour).
const (
	window24h       = 24 * time.Hour
	window7d        = 7 * 24 * time.Hour
	trendBuckets    = 600 // a thinned trend series keeps one point per 7 days/trendBuckets (~17 minutes)
	maxTrendPoints  = 2 * trendBuckets
	sparkRuns       = 30  // runs in an overview sparkline
	maxEvents       = 200 // timeline entries kept per flow
	maxWindowRuns   = 50000
	cronWindowRuns  = 7 * 24 * 60 // cron schedules fire at most once a minute
	deltaSlack      = 4
	trendRuns       = 300 // runs read for measurements when a RunSummarizer loaded the window
	fullReloadEvery = time.Hour
	syncConcurrency = 4
)

// RunSummarizer is optionally implemented by a Source to serve the 7-day
// window without reading each run's recorded steps: it returns the runs of
// flow that started at or after since, newest first, with Steps left
// empty. In SQLite that is Runs' query without the steps column and with
// "AND start_ns >= ?" (served by the runs_flow_start index).
type RunSummarizer interface {
	RunSummaries(ctx context.Context, flow string, since time.Time) ([]store.Run, error)
}

// windowLimit is how many runs 7 days of the schedule can hold.
func windowLimit(every time.Duration) int {
	if every <= 0 {
		return cronWindowRuns + cronWindowRuns/10 + deltaSlack
	}
	n := int64(window7d / every)
	n += n/10 + 16
	return int(min(n, maxWindowRuns))
}

// hourBucket is an hour of a flow's roll-ups, reduced to what the figures
// and the latency trend show.
type hourBucket struct {
	start           int64 // Unix seconds
	counted, passed int32
	p50MS, p95MS    float32 // from the hour's merged histogram
}

type sample struct {
	id       int64
	start    int64   // Unix nanoseconds
	latMS    float32 // the run's latency: its duration without its waits
	ok       bool
	counted  bool // not cancelled
	warnings uint16
}

// TimelineEntry is a change of a flow's outcome (it started failing,
// failed for another reason, or passed again) or the opening of an
// incident.
type TimelineEntry struct {
	Time           time.Time `json:"time"`
	Kind           string    `json:"kind"` // failing, reason_changed, passing, incident_opened
	Reason         string    `json:"reason,omitempty"`
	PreviousReason string    `json:"previous_reason,omitempty"`
	Step           string    `json:"step,omitempty"`
	Summary        string    `json:"summary,omitempty"`
	RunID          int64     `json:"run_id,omitempty"`
	Incident       string    `json:"incident,omitempty"` // the incident's key
}

type seriesKey struct{ name, scope string }

type trendPoint struct {
	t int64 // Unix nanoseconds
	v float64
}

// flowStats is one flow's cache.
type flowStats struct {
	mu sync.Mutex
	flowData
}

type flowData struct {
	counter  int64 // FlowState.Runs at the last sync
	maxID    int64
	loadedAt time.Time
	samples  []sample // by start, oldest first
	events   []TimelineEntry
	trends   map[seriesKey][]trendPoint
	// last is the newest counted run (Steps nil); lastWarn its first
	// warning finding, when its steps were read.
	last                  store.Run
	hasLast               bool
	lastWarn, lastWarnSum string
	// prev is the outcome before the next run, for the timeline.
	prevOK, havePrev bool
	prevReason       string
	// hours are the roll-ups per hour, oldest first, when rollups is set
	// (the Source keeps them).
	hours   []hourBucket
	rollups bool
	// hoursLastID is the newest run counted in hours; staleFrom (Unix
	// seconds, 0 for none) the first hour whose counts were added from
	// new whole runs without reading its roll-up, so its percentiles are
	// not yet read (see sync).
	hoursLastID int64
	staleFrom   int64
	// taken counts the runs taken from LiveStates.Recorded since the store
	// was last read (counter is ahead of it by them); stepsFrom is the
	// first of them, 0 for none: their steps (the measurements of the
	// flow page's trends) are read when the flow's page asks.
	taken, stepsFrom int64
}

// The flows' caches are bounded: paging through 10,000 flows would
// otherwise keep every flow's cache. The least recently shown go first
// when there are more than maxCachedFlows, or when their estimated sizes
// (flowData.bytes, measured in docs/benchmarks.md) add up to more than
// cacheBudget. A flow dropped is read whole again when next shown.
const (
	maxCachedFlows = 4000
	cacheBudget    = 32 << 20
)

// statsCache holds the flows' caches, most recently used first.
type statsCache struct {
	mu     sync.Mutex
	limit  int // maxCachedFlows when 0
	budget int // cacheBudget when 0
	bytes  int // the sum of the cached flows' sizes
	flows  map[string]*list.Element
	lru    list.List // of *cachedFlow
}

type cachedFlow struct {
	name  string
	stats *flowStats
	bytes int // its size when last synced
}

// get returns the flow's cache, created if need be, and marks it used.
// The caller keeps the pointer for the request: a cache dropped meanwhile
// stays valid, only no longer shared.
func (c *statsCache) get(flow string) *flowStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flows == nil {
		c.flows = map[string]*list.Element{}
	}
	if e := c.flows[flow]; e != nil {
		c.lru.MoveToFront(e)
		return e.Value.(*cachedFlow).stats
	}
	f := &flowStats{}
	c.flows[flow] = c.lru.PushFront(&cachedFlow{name: flow, stats: f})
	c.evict()
	return f
}

// resized notes the size of a flow's cache after a sync.
func (c *statsCache) resized(flow string, f *flowStats, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.flows[flow]
	if e == nil || e.Value.(*cachedFlow).stats != f {
		return // dropped meanwhile
	}
	cf := e.Value.(*cachedFlow)
	c.bytes += bytes - cf.bytes
	cf.bytes = bytes
	c.evict()
}

// evict drops the least recently used caches beyond the bounds, keeping
// the most recent one whatever its size. Callers hold c.mu.
func (c *statsCache) evict() {
	limit, budget := cmp.Or(c.limit, maxCachedFlows), cmp.Or(c.budget, cacheBudget)
	for c.lru.Len() > 1 && (c.lru.Len() > limit || c.bytes > budget) {
		cf := c.lru.Remove(c.lru.Back()).(*cachedFlow)
		delete(c.flows, cf.name)
		c.bytes -= cf.bytes
	}
}

// observe gives a run just recorded (LiveStates.Recorded) to its flow's
// cache, if the flow has one and no view is reading it: it never waits.
func (c *statsCache) observe(run store.Run, st store.FlowState) {
	c.mu.Lock()
	var f *flowStats
	if e := c.flows[run.Flow]; e != nil {
		f = e.Value.(*cachedFlow).stats
	}
	c.mu.Unlock()
	if f == nil || !f.mu.TryLock() {
		return
	}
	took := f.take(run, st)
	bytes := f.bytes()
	f.mu.Unlock()
	if took {
		c.resized(run.Flow, f, bytes)
	}
}

// size returns the number of flows cached and their estimated bytes.
func (c *statsCache) size() (flows, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// forgetExcept drops the caches of flows no longer shown.
func (c *statsCache) forgetExcept(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, e := range c.flows {
		if !keep[name] {
			c.bytes -= c.lru.Remove(e).(*cachedFlow).bytes
			delete(c.flows, name)
		}
	}
}

// Sizes of a cache's parts, for flowData.bytes: a sample, an hour, a trend
// point and a timeline entry (its struct and typical strings), and the
// fixed part (struct, map, list element).
const (
	sampleBytes     = int(unsafe.Sizeof(sample{}))
	hourBytes       = int(unsafe.Sizeof(hourBucket{}))
	trendPointBytes = int(unsafe.Sizeof(trendPoint{}))
	eventBytes      = int(unsafe.Sizeof(TimelineEntry{})) + 96
	flowFixedBytes  = int(unsafe.Sizeof(flowStats{})) + 256
)

// bytes estimates the memory the cache holds (the capacity of its slices).
func (f *flowData) bytes() int {
	n := flowFixedBytes + cap(f.samples)*sampleBytes + cap(f.hours)*hourBytes + cap(f.events)*eventBytes
	for k, pts := range f.trends {
		n += len(k.name) + len(k.scope) + 64 + cap(pts)*trendPointBytes
	}
	return n
}

func (f *flowStats) reset() {
	f.flowData = flowData{trends: map[seriesKey][]trendPoint{}}
}

// sync brings the cache up to date with the store; with trend, also the
// hours' latency percentiles (the flow page's chart). Callers hold f.mu.
//
// When every run recorded since the last sync is among the new whole
// records (the usual case: the newest passing runs are kept whole), their
// counts are added to the hours here, and the hours' roll-ups are read
// only when trend asks for their percentiles: a page of the overview then
// costs one Runs query per flow that ran, not two queries.
func (f *flowStats) sync(ctx context.Context, src Source, flow string, st store.FlowState, every time.Duration, now time.Time, trend bool) error {
	if trend && f.stepsFrom != 0 {
		if err := f.syncSteps(ctx, src, flow, st); err != nil {
			return err
		}
	}
	if err := f.syncRuns(ctx, src, flow, st, every, now); err != nil {
		return err
	}
	if trend && f.rollups && f.staleFrom != 0 {
		return f.syncHours(ctx, src, flow, now, time.Unix(f.staleFrom, 0))
	}
	return nil
}

func (f *flowStats) syncRuns(ctx context.Context, src Source, flow string, st store.FlowState, every time.Duration, now time.Time) error {
	if st.Runs == 0 {
		f.reset()
		return nil
	}
	// A counter that went back was reset (the flow's state forgotten); one
	// behind the runs taken from LiveStates is only older than they are.
	full := f.loadedAt.IsZero() || st.Runs < f.counter-f.taken || now.Sub(f.loadedAt) > fullReloadEvery
	if !full && st.Runs <= f.counter {
		f.trim(now)
		return nil
	}
	f.taken = 0
	limit := windowLimit(every)
	if !full {
		delta := st.Runs - f.counter
		if delta > int64(limit) {
			full = true
		} else {
			want := int(delta) + deltaSlack
			runs, err := src.Runs(ctx, flow, want)
			if err != nil {
				return err
			}
			var fresh []store.Run
			for _, r := range runs {
				if r.ID > f.maxID {
					fresh = append(fresh, r)
				}
			}
			if len(runs) == want && len(fresh) == want && !f.rollups {
				full = true // runs may lie between these and the cache
			} else {
				// With roll-ups, the runs not kept whole are in the
				// roll-ups: the whole records found are all there is.
				slices.Reverse(fresh)
				for _, r := range fresh {
					f.ingestNew(r)
				}
				if !f.rollups || int64(len(fresh)) != delta || !f.countInHours(fresh) {
					since := now.Add(-window7d)
					if f.rollups && len(f.hours) > 0 {
						since = time.Unix(min(f.hours[len(f.hours)-1].start, cmp.Or(f.staleFrom, math.MaxInt64)), 0)
					}
					if err := f.syncHours(ctx, src, flow, now, since); err != nil {
						return err
					}
				}
				f.counter = st.Runs
				f.trim(now)
				return nil
			}
		}
	}
	if err := f.load(ctx, src, flow, st, limit, now); err != nil {
		return err
	}
	f.rollups = false
	return f.syncHours(ctx, src, flow, now, now.Add(-window7d))
}

// take adds a run the daemon just recorded (st: the state it left, so
// st.LastRunID is its ID) when the cache holds every run before it, and
// returns whether it did. Otherwise the next sync reads it from the store.
// Its steps are not read here (the daemon's time): the flow's page reads
// them (syncSteps), the overview needs them only for a warning's text.
func (f *flowStats) take(run store.Run, st store.FlowState) bool {
	if f.loadedAt.IsZero() || run.Cancelled || st.Runs != f.counter+1 || st.LastRunID <= f.maxID || !st.LastRun.Equal(run.Start) {
		return false
	}
	run.ID, run.Start = st.LastRunID, st.LastRun // the store's form of the run
	if f.rollups && !f.countInHours([]store.Run{run}) {
		return false // the run is older than the newest hour held
	}
	if f.stepsFrom == 0 {
		f.stepsFrom = run.ID
	}
	f.ingestNew(run)
	f.counter, f.taken = st.Runs, f.taken+1
	return true
}

// ingestNew adds a new run; while runs wait for their steps to be read
// (stepsFrom), its steps wait too, so that the trends get their points in
// order; a warning's text is read at once (the overview shows it).
func (f *flowStats) ingestNew(r store.Run) {
	if f.stepsFrom == 0 {
		f.ingest(r, true)
		return
	}
	f.ingest(r, false)
	if r.Warnings > 0 && f.hasLast && f.last.ID == r.ID {
		if steps, _, err := decodeSteps(r.Steps); err == nil {
			f.lastWarn, f.lastWarnSum = firstWarning(steps)
		}
	}
}

// syncSteps reads the steps of the runs taken from LiveStates (from
// stepsFrom on) for the trends' measurements, oldest first. Runs recorded
// since and not taken (st.Runs beyond the counter) are newer than those:
// the read reaches past them. When more than trendRuns would be read, the
// window is read whole instead.
func (f *flowStats) syncSteps(ctx context.Context, src Source, flow string, st store.FlowState) error {
	n := len(f.samples) - sort.Search(len(f.samples), func(i int) bool { return f.samples[i].id >= f.stepsFrom })
	n += int(max(st.Runs-f.counter, 0))
	if n+deltaSlack > trendRuns {
		f.loadedAt, f.stepsFrom = time.Time{}, 0 // syncRuns loads the window
		return nil
	}
	runs, err := src.Runs(ctx, flow, n+deltaSlack)
	if err != nil {
		return err
	}
	slices.Reverse(runs)
	for _, r := range runs {
		if r.ID >= f.stepsFrom && r.ID <= f.maxID {
			f.ingestSteps(r)
		}
	}
	f.stepsFrom = 0
	return nil
}

// countInHours adds the counts of runs (new whole records, oldest first,
// all the runs recorded since the last sync) to the hours, and marks
// their percentiles stale. It returns false, changing nothing, when a run
// falls before the newest hour held (read the roll-ups instead).
func (f *flowStats) countInHours(runs []store.Run) bool {
	var newest int64
	if n := len(f.hours); n > 0 {
		newest = f.hours[n-1].start
	}
	for _, r := range runs {
		if r.ID > f.hoursLastID && r.Start.Unix()/3600*3600 < newest {
			return false
		}
	}
	for _, r := range runs {
		if r.ID <= f.hoursLastID {
			continue // counted in the roll-ups read
		}
		f.hoursLastID = r.ID
		if r.Cancelled {
			continue
		}
		h := r.Start.Unix() / 3600 * 3600
		if n := len(f.hours); n == 0 || f.hours[n-1].start < h {
			f.hours = append(f.hours, hourBucket{start: h})
		}
		b := &f.hours[len(f.hours)-1]
		b.counted++
		if r.OK {
			b.passed++
		}
		if f.staleFrom == 0 || h < f.staleFrom {
			f.staleFrom = h
		}
	}
	return true
}

// syncHours reads the flow's roll-ups per hour from since on: all of the
// window at a full load, else from the start of the newest hour held (the
// only one that can have grown, besides new ones) or of the first stale
// one, whichever is older.
func (f *flowStats) syncHours(ctx context.Context, src Source, flow string, now time.Time, since time.Time) error {
	rr, ok := src.(store.RollupReader)
	if !ok {
		f.rollups, f.hours = false, nil
		return nil
	}
	full := !f.rollups
	if full {
		since = now.Add(-window7d)
	}
	ups, err := rr.Rollups(ctx, flow, store.TierHour, since)
	if errors.Is(err, store.ErrNoRollups) {
		f.rollups, f.hours = false, nil
		return nil
	}
	if err != nil {
		return err
	}
	if full {
		f.hours, f.hoursLastID = f.hours[:0], 0
	}
	cut := since.Unix()
	for len(f.hours) > 0 && f.hours[len(f.hours)-1].start >= cut {
		f.hours = f.hours[:len(f.hours)-1]
	}
	for _, u := range ups {
		f.hours = append(f.hours, hourBucket{start: u.Start.Unix(), counted: int32(u.Counted()), passed: int32(u.Passed),
			p50MS: float32(u.Latency.Quantile(0.5)), p95MS: float32(u.Latency.Quantile(0.95))})
		f.hoursLastID = max(f.hoursLastID, u.LastRunID)
	}
	f.rollups, f.staleFrom = true, 0
	return nil
}

// hourCut is the start of the first whole hour at or after t.
func hourCut(t time.Time) int64 {
	h := t.Unix() / 3600 * 3600
	if h < t.Unix() {
		h += 3600
	}
	return h
}

// load reads the whole window afresh.
func (f *flowStats) load(ctx context.Context, src Source, flow string, st store.FlowState, limit int, now time.Time) error {
	since := now.Add(-window7d)
	var runs []store.Run
	var err error
	summarizer, summaries := src.(RunSummarizer)
	pager, paged := src.(RunPager)
	switch {
	case summaries:
		runs, err = summarizer.RunSummaries(ctx, flow, since)
	case paged:
		runs, err = windowPaged(ctx, src, pager, flow, since, limit)
	default:
		runs, err = src.Runs(ctx, flow, limit)
	}
	if err != nil {
		return err
	}
	f.reset()
	slices.Reverse(runs)
	for _, r := range runs {
		if !r.Start.Before(since) {
			f.ingest(r, !summaries)
		}
	}
	if summaries {
		recent, err := src.Runs(ctx, flow, trendRuns)
		if err != nil {
			return err
		}
		slices.Reverse(recent)
		for _, r := range recent {
			if !r.Start.Before(since) {
				f.ingestSteps(r)
			}
		}
	}
	f.counter, f.loadedAt = st.Runs, now
	f.trim(now)
	return nil
}

// windowPage is how many runs a paged window load reads per query.
const windowPage = 1000

// windowPaged reads the flow's runs newest first, a page at a time, until
// one started before since (or limit are read). With history tiers a
// window's limit (the schedule's runs in 7 days) is far more than the
// whole records it holds, and one Runs query of that limit would read
// every whole record of the retention (30 days), steps and all.
func windowPaged(ctx context.Context, src Source, pager RunPager, flow string, since time.Time, limit int) ([]store.Run, error) {
	runs, err := src.Runs(ctx, flow, min(limit, windowPage))
	for err == nil && len(runs) > 0 && len(runs)%windowPage == 0 && len(runs) < limit && !runs[len(runs)-1].Start.Before(since) {
		var page []store.Run
		page, err = pager.RunsBefore(ctx, flow, runs[len(runs)-1].ID, min(limit-len(runs), windowPage))
		if len(page) == 0 {
			break
		}
		runs = append(runs, page...)
		if len(page) < windowPage {
			break
		}
	}
	return runs, err
}

// ingest adds one run (newer than every run already in the cache).
func (f *flowStats) ingest(r store.Run, withSteps bool) {
	if f.trends == nil {
		f.trends = map[seriesKey][]trendPoint{}
	}
	f.maxID = max(f.maxID, r.ID)
	f.samples = append(f.samples, sample{id: r.ID, start: r.Start.UnixNano(), latMS: float32(runLatencyMS(r)),
		ok: r.OK, counted: !r.Cancelled, warnings: uint16(min(max(r.Warnings, 0), 65535))})
	if !r.Cancelled {
		f.timeline(r)
		f.last, f.hasLast = r, true
		f.last.Steps = nil
		f.lastWarn, f.lastWarnSum = "", ""
	}
	if withSteps {
		f.ingestSteps(r)
	}
}

// ingestSteps reads a run's steps for measurements and, for the newest
// counted run, its warning.
func (f *flowStats) ingestSteps(r store.Run) {
	steps, _, err := decodeSteps(r.Steps)
	if err != nil {
		return
	}
	for _, s := range steps {
		for _, m := range measurementsOf(s, r.Start) {
			scope := s.Step
			if m.Host != "" {
				scope = m.Host
			}
			f.addPoint(seriesKey{m.Name, scope}, r.Start.UnixNano(), m.Value)
		}
	}
	if f.hasLast && f.last.ID == r.ID && r.Warnings > 0 {
		f.lastWarn, f.lastWarnSum = firstWarning(steps)
	}
}

// addPoint adds a run's value to a series: every run that measured it
// is a point, so a new flow's chart grows with each run. A series that
// reaches maxTrendPoints is thinned to one point per bucket (the
// latest), which bounds it however often the flow runs.
func (f *flowStats) addPoint(k seriesKey, t int64, v float64) {
	pts := f.trends[k]
	if n := len(pts); n > 0 && t < pts[n-1].t {
		return // older than what is kept (a summary load's step pass)
	}
	if len(pts) >= maxTrendPoints {
		pts = thinTrend(pts)
	}
	f.trends[k] = append(pts, trendPoint{t, v})
}

// thinTrend keeps the latest point of each trend bucket, in place.
func thinTrend(pts []trendPoint) []trendPoint {
	const bucket = int64(window7d / trendBuckets)
	out := pts[:0]
	for _, p := range pts {
		if n := len(out); n > 0 && out[n-1].t/bucket == p.t/bucket {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

// timeline notes a change of outcome or reason.
func (f *flowStats) timeline(r store.Run) {
	e := TimelineEntry{Time: r.Start, RunID: r.ID, Reason: r.Reason, Step: r.FailedStep, Summary: r.Summary}
	switch {
	case !r.OK && (!f.havePrev || f.prevOK):
		e.Kind = "failing"
	case !r.OK && r.Reason != f.prevReason:
		e.Kind, e.PreviousReason = "reason_changed", f.prevReason
	case r.OK && f.havePrev && !f.prevOK:
		e.Kind, e.PreviousReason, e.Reason, e.Step = "passing", f.prevReason, "", ""
	}
	f.prevOK, f.prevReason, f.havePrev = r.OK, r.Reason, true
	if e.Kind == "" {
		return
	}
	f.events = append(f.events, e)
	if len(f.events) > maxEvents {
		f.events = slices.Delete(f.events, 0, len(f.events)-maxEvents)
	}
}

// trim drops what left the 7-day window.
func (f *flowStats) trim(now time.Time) {
	cut := now.Add(-window7d).UnixNano()
	i, _ := slices.BinarySearchFunc(f.samples, cut, func(s sample, t int64) int { return cmp.Compare(s.start, t) })
	if i > 0 {
		f.samples = slices.Clone(f.samples[i:])
	}
	j := 0
	for j < len(f.events) && f.events[j].Time.UnixNano() < cut {
		j++
	}
	f.events = f.events[j:]
	h := 0
	for h < len(f.hours) && f.hours[h].start < hourCut(now.Add(-window7d)) {
		h++
	}
	if h > 0 {
		f.hours = slices.Clone(f.hours[h:])
	}
	for k, pts := range f.trends {
		n := 0
		for n < len(pts) && pts[n].t < cut {
			n++
		}
		if n == len(pts) {
			delete(f.trends, k)
		} else if n > 0 {
			f.trends[k] = slices.Clone(pts[n:])
		}
	}
}

// figures are what the overview shows of a flow.
type figures struct {
	passRate24h, passRate7d *float64
	runs24h, runs7d         int
	latency                 []float64 // of the last sparkRuns counted runs, oldest first
	lastDurationMS          *float64  // the last counted run's latency
}

func (f *flowStats) figures(now time.Time) figures {
	var out figures
	cut24, cut7 := now.Add(-window24h).UnixNano(), now.Add(-window7d).UnixNano()
	var ok24, ok7 int
	for _, s := range f.samples {
		if !s.counted || s.start < cut7 {
			continue
		}
		out.runs7d++
		if s.ok {
			ok7++
		}
		if s.start >= cut24 {
			out.runs24h++
			if s.ok {
				ok24++
			}
		}
	}
	if f.rollups {
		out.runs24h, out.runs7d, ok24, ok7 = 0, 0, 0, 0
		c24, c7 := hourCut(now.Add(-window24h)), hourCut(now.Add(-window7d))
		for _, b := range f.hours {
			if b.start >= c7 {
				out.runs7d += int(b.counted)
				ok7 += int(b.passed)
			}
			if b.start >= c24 {
				out.runs24h += int(b.counted)
				ok24 += int(b.passed)
			}
		}
	}
	out.passRate24h, out.passRate7d = rate(ok24, out.runs24h), rate(ok7, out.runs7d)
	for i := len(f.samples) - 1; i >= 0 && len(out.latency) < sparkRuns; i-- {
		if s := f.samples[i]; s.counted {
			out.latency = append(out.latency, round3(float64(s.latMS)))
		}
	}
	slices.Reverse(out.latency)
	if n := len(out.latency); n > 0 {
		d := out.latency[n-1]
		out.lastDurationMS = &d
	}
	return out
}

func rate(ok, n int) *float64 {
	if n == 0 {
		return nil
	}
	r := float64(ok) / float64(n)
	r = float64(int64(r*10000+0.5)) / 10000
	return &r
}

// runLatencyMS is what a run's latency figures show: its duration without
// the time its wait steps spent waiting on purpose.
func runLatencyMS(r store.Run) float64 { return max(r.DurationMS-r.WaitedMS, 0) }

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// LatencyPoint is a run's latency (its duration without its waits), or the
// longest of a bucket of runs when the window holds more than trendBuckets
// runs, or (Hour set) an hour of runs read from the roll-ups.
//
// With history tiers only some runs are kept whole (docs/history.md): each
// whole record is a point of its own (failures among them, so they show as
// before), and each hour whose runs are not all kept whole is one more
// point, at the hour's start, with the p95 (MS) and p50 of all the hour's
// counted runs, read from its merged latency histogram (within about 9 %
// either side of the true value).
type LatencyPoint struct {
	Time time.Time `json:"t"`
	MS   float64   `json:"ms"`
	// OK: every run of the point passed; for an hour, every run of it
	// that is not a point of its own (a failure is one, kept whole).
	OK    bool     `json:"ok"`
	Hour  bool     `json:"hour,omitempty"`
	P50MS *float64 `json:"p50_ms,omitempty"` // an hour's median
	Runs  int      `json:"runs,omitempty"`   // an hour's counted runs
}

// TrendSeries is one measured value over time, e.g. the token lifetime of
// a step or the certificate expiry of a host.
type TrendSeries struct {
	Name   string       `json:"name"`  // token_lifetime_seconds, tls_cert_expiry_seconds, ...
	Scope  string       `json:"scope"` // the step id, or the host for per-host measurements
	Points []TrendPoint `json:"points"`
}

// TrendPoint is one value of a series.
type TrendPoint struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
}

// Trends are a flow's charts over the 7-day window.
type Trends struct {
	Latency      []LatencyPoint `json:"latency"`
	Measurements []TrendSeries  `json:"measurements"`
}

func (f *flowStats) trendsView() Trends {
	out := Trends{Latency: []LatencyPoint{}, Measurements: []TrendSeries{}}
	var counted []sample
	for _, s := range f.samples {
		if s.counted {
			counted = append(counted, s)
		}
	}
	per := (len(counted) + trendBuckets - 1) / max(trendBuckets, 1)
	for i := 0; i < len(counted); i += max(per, 1) {
		chunk := counted[i:min(i+max(per, 1), len(counted))]
		p := LatencyPoint{Time: time.Unix(0, chunk[len(chunk)-1].start).UTC(), OK: true}
		for _, s := range chunk {
			p.MS = max(p.MS, round3(float64(s.latMS)))
			p.OK = p.OK && s.ok
		}
		out.Latency = append(out.Latency, p)
	}
	if hours := f.hourPoints(counted); len(hours) > 0 {
		out.Latency = mergeByTime(hours, out.Latency)
	}
	for k, pts := range f.trends {
		ts := TrendSeries{Name: k.name, Scope: k.scope, Points: make([]TrendPoint, len(pts))}
		for i, p := range pts {
			ts.Points[i] = TrendPoint{Time: time.Unix(0, p.t).UTC(), Value: round3(p.v)}
		}
		out.Measurements = append(out.Measurements, ts)
	}
	slices.SortFunc(out.Measurements, func(a, b TrendSeries) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Scope, b.Scope))
	})
	return out
}

// hourPoints are the latency points of the hours whose counted runs are
// not all among the whole records (counted, oldest first).
func (f *flowStats) hourPoints(counted []sample) []LatencyPoint {
	var out []LatencyPoint
	for _, b := range f.hours {
		if b.counted == 0 {
			continue
		}
		from, to := b.start*int64(time.Second), (b.start+3600)*int64(time.Second)
		i, _ := slices.BinarySearchFunc(counted, from, func(s sample, t int64) int { return cmp.Compare(s.start, t) })
		var whole, wholeOK int32
		for ; i < len(counted) && counted[i].start < to; i++ {
			whole++
			if counted[i].ok {
				wholeOK++
			}
		}
		if whole >= b.counted || b.p95MS == 0 {
			// Every run of the hour is a point of its own, or the hour has
			// no histogram (back-filled from runs recorded before the
			// upgrade to roll-ups): no latency to draw.
			continue
		}
		p50 := round3(float64(b.p50MS))
		out = append(out, LatencyPoint{Time: time.Unix(b.start, 0).UTC(), MS: round3(float64(b.p95MS)), Hour: true,
			P50MS: &p50, Runs: int(b.counted), OK: b.counted-whole == b.passed-wholeOK})
	}
	return out
}

// mergeByTime merges two lists of points sorted by time; at the same time,
// a's point comes first.
func mergeByTime(a, b []LatencyPoint) []LatencyPoint {
	out := make([]LatencyPoint, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].Time.Before(a[0].Time) {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// timelineView returns the timeline, newest first.
func (f *flowStats) timelineView() []TimelineEntry {
	out := slices.Clone(f.events)
	slices.Reverse(out)
	if out == nil {
		out = []TimelineEntry{}
	}
	return out
}
