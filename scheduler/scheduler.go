// Package scheduler decides when flows run; it knows nothing of what a run
// does. Every flow is an entry in one timer heap (timers.go): `every:`
// flows start on a stable per-flow phase of their interval, `cron:` flows
// at their expression's times (parsed by gocron's cron implementation)
// shifted by a stable per-flow delay (see schedule.go). One goroutine
// sleeps on one timer until the earliest entry is due. A run is handed to
// the RunFunc and its Result to Hooks.OnResult.
//
// Each flow was one gocron job until issue 15. At 10,000 flows every
// second (BenchmarkFire10000: no-op runs, whole process) that cost 32–37
// µs of CPU, 29 allocations and 3.0 KB per run, gocron's executor and
// per-job goroutines taking half of it (a context, channel messages and a
// reflect call per fire), and about 1 KB of memory per flow; with the heap
// it is 11–13 µs, 5 allocations and 370 bytes per run, most of it the
// run's own context and worker hand-off. The project keeps gocron for
// what it does well here (its cron parsing) and not as one job per flow.
//
// Policies, in the order a due run meets them:
//
//   - Retry-After: a flow deferred by DeferUntil (or by a failure that
//     carried Retry-After) skips its runs until then (OnSkip "retry_after").
//   - No overlap: a flow whose previous run is still running skips this
//     run (OnSkip "overlap"): the target is slower than the flow's
//     interval. The flag is ours, per flow name, not gocron's
//     WithSingletonMode: see Scheduler.
//   - Concurrency limit: at most that many runs execute at once, a fixed
//     MaxConcurrent or, by default, a limit that follows the load (see
//     adapt.go). A due run waits for a slot, in order of arrival, and is
//     late meanwhile (OnLateness, Event.Lateness): runs are delayed, not
//     lost. A flow whose run still waits when its next start comes is the
//     monitor falling behind, not the target being slow: the waiting run
//     stays pending and stands for that start too, which is counted apart
//     (OnSkip "behind"), so the queue holds at most one run per flow and
//     never bursts. So is a start that comes while the previous result is
//     still being handed on (a slow OnResult: the store).
//
// A run admitted under an admission (Options.Admit: a cluster node's shard
// lease) can be withdrawn while it waits or runs (Revoke, revoke.go): its
// context is cancelled and its result handed to OnRevoked, not OnResult,
// since it is not the flow's (another node runs the flow now).
//
// This is what Gatus does (a ticker per endpoint keeps one pending tick
// while a run waits on its concurrency semaphore, and drops the others
// silently) and what Prometheus does with its scrapes (a late scrape runs
// late; missed intervals show only in the interval-length summary), except
// that here every start not made is counted and named.
//
// Lifecycle: New, then Apply (any number of times, before or after Start),
// Start, and finally Shutdown. A Scheduler cannot be restarted.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/authwatch/authwatch/flows"
)

// RunFunc runs one flow within ctx and returns its result; the daemon
// passes (*flows.Runner).Run. It must return when ctx ends and must not
// return nil.
type RunFunc func(ctx context.Context, f *flows.Flow) *flows.Result

// Event is one completed run.
type Event struct {
	Flow   *flows.Flow
	Result *flows.Result
	// Planned is the schedule's start time for this run, Started the time
	// it actually began (after waiting for a slot); Lateness is their
	// difference, never negative.
	Planned, Started time.Time
	Lateness         time.Duration
	// Admission is what Options.Admit returned for this run (nil without
	// Admit). A run with an admission runs under a context of its own,
	// which Revoke cancels.
	Admission any
}

// Reasons given to Hooks.OnSkip; they match the "why" label of
// authwatch_runs_skipped_total.
const (
	// SkipOverlap: the flow's previous run was still running: the target
	// is slower than the flow's interval.
	SkipOverlap = "overlap"
	// SkipBehind: the flow's previous run was still waiting for a slot, or
	// its result was still being handed on (OnResult): the monitor is
	// behind its schedule by a whole interval. A waiting run stays pending
	// and runs late.
	SkipBehind = "behind"
	// SkipRetryAfter: the target asked to wait (Retry-After) or DeferUntil
	// was called.
	SkipRetryAfter = "retry_after"
)

// Hooks receive what the scheduler observes. All are optional. They are
// called from run goroutines, possibly concurrently for different flows,
// OnSkip from the timer goroutine, and must be fast (a slow OnSkip delays
// every flow's start): a run's flow stays busy until OnResult returns, so a
// slow OnResult makes that flow's next run skip as behind (it never
// holds a concurrency slot). For one flow, calls are never concurrent and
// results arrive in order.
type Hooks struct {
	// OnResult is called with every completed run, including runs cut short
	// by Shutdown (Result.Cancelled) and runs of a flow removed meanwhile.
	OnResult func(Event)
	// OnSkip is called for each run not made: why is SkipOverlap,
	// SkipBehind or SkipRetryAfter.
	OnSkip func(flow, why string)
	// OnLateness is called as each run starts with how late it is.
	OnLateness func(flow string, d time.Duration)
	// OnRevoked is called, instead of OnResult, with a run whose
	// admission Revoke withdrew (a cluster node lost the flow's shard),
	// and Revoke's cause. Its Result, cut short, is nil if the run was
	// revoked before it started (waiting for a slot); it is not the
	// flow's result and must not be recorded.
	OnRevoked func(ev Event, cause error)
}

// MaxDeferral bounds a deferral: a Retry-After of a day (or a bogus date)
// must not blind a monitor for a day. Later runs that are still refused
// defer again.
const MaxDeferral = flows.MaxRetryAfter

// Options configure a Scheduler. The zero value is usable.
type Options struct {
	// MaxConcurrent is a fixed limit on simultaneous runs; 0 (the default)
	// is a limit that follows the load, between AutoMinConcurrent and
	// AutoMaxConcurrent (see adapt.go).
	MaxConcurrent int
	// Clock drives the schedule, lateness and run deadlines (default: the
	// real clock; tests pass a clockwork.FakeClock).
	Clock clockwork.Clock
	// Logger receives the scheduler's own messages (default: discarded).
	Logger *slog.Logger
	Hooks  Hooks
	// Admit, when set, is asked first as each run of a flow falls due,
	// on the timer goroutine (it must not block); false drops the run silently: another node runs it (a cluster
	// node's shard leases, internal/cluster). A dropped run is not a skip
	// nor late, and calls no hook. What it returns with true is the run's
	// admission (the lease fence it runs under), handed back with its
	// result (Event.Admission); that of a run then skipped is dropped. A
	// non-nil admission can be withdrawn while its run is in progress
	// (Revoke): the run's context is cancelled and its result discarded.
	// Admit is called under the lock Revoke takes.
	Admit func(flow string) (admission any, ok bool)
}

// ErrClosed is returned by Apply and Shutdown after Shutdown.
var ErrClosed = errors.New("scheduler: shut down")

// errStopping is the cause of every run context cancelled at the end of
// Shutdown's grace period; it wraps context.Canceled so that the runner
// marks those results Cancelled.
var errStopping = fmt.Errorf("scheduler: shutdown grace period ended: %w", context.Canceled)

// Scheduler runs flows on their schedules. It is safe for concurrent use.
//
// The timer loop only checks the policies and hands the run to a worker
// goroutine of ours, so it never waits for a run. When gocron was the
// timer wheel (one job per flow, until issue 15) two measurements chose
// that shape (gocron v2.21.2, Go 1.26, 2 cores; TestMeasureJobMemory:
// no-op jobs at 1,000 runs/s, RSS after GC):
//
//   - Memory. FACTS.md's ~21 KB of RSS per job is the price of
//     WithSingletonMode: each singleton job gets, at its first run and for
//     its lifetime, a goroutine and a 1,000-slot channel. With 10,000 jobs
//     every 10 s: singleton gocron jobs 175 MB (17.9 KB per job, 10,004
//     goroutines), plain gocron jobs 30 MB (3.0 KB), this Scheduler 43 MB
//     (4.4 KB per flow, gocron included, 4 goroutines plus one per run in
//     progress); with 2,000 jobs every 2 s: 28, 4.0 and 5.6 KB per job.
//     Budget about 5 KB per flow. Lateness was p50 0.6 ms, p99 1.2–3 ms,
//     at about 10–13 % of one core.
//   - Shutdown. gocron's Shutdown waits for running tasks in a busy loop:
//     with a 2 s task running it burnt 1.9 s of CPU; this Shutdown waits on
//     a WaitGroup (6 ms of CPU for the same run).
//
// Overlap is therefore our own per-flow flag, and the global limit our own
// semaphore, not gocron's WithLimitConcurrentJobs: its LimitModeReschedule
// drops runs without telling (only a SchedulerMonitor hears of it), and
// its LimitModeWait queues every due run in a 1,000-slot channel, so one
// slow target lets a frequent flow pile up and run back to back, and a
// full queue blocks gocron's executor.
type Scheduler struct {
	run   RunFunc
	clock clockwork.Clock
	log   *slog.Logger
	hooks Hooks
	ours  func(flow string) (any, bool) // Options.Admit; nil: every run is ours
	slots *limiter                      // one slot per run in progress; the runs waiting for one
	auto  bool                          // slots follow the load
	gaps  gapCache

	latency    latencyMeter   // of completed runs, for the adaptive limit
	cpuBusy    func() bool    // whether the process is short of CPU, for the adaptive limit
	demandBits atomic.Uint64  // float64: planned runs per second
	bg         sync.WaitGroup // the adapting goroutine and the timer loop

	tmu    sync.Mutex // guards timers, and job.due and job.index
	timers timers

	live liveRuns // runs with an admission, for Revoke (revoke.go)

	// root is the parent of every run's context; it is cancelled when
	// Shutdown's grace period ends. It is the only context kept.
	root   context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{} // closed when Shutdown begins
	runs   sync.WaitGroup
	pool   workerPool // the goroutines that execute runs (workers.go)

	applyMu sync.Mutex // serializes Apply and Shutdown

	mu     sync.RWMutex // guards jobs and closed; runs.Add happens under it
	jobs   map[string]*job
	closed bool

	running atomic.Int64
}

// New returns a stopped Scheduler that runs flows with run.
func New(run RunFunc, o Options) (*Scheduler, error) {
	if run == nil {
		return nil, errors.New("scheduler: nil RunFunc")
	}
	if o.MaxConcurrent < 0 {
		return nil, fmt.Errorf("scheduler: MaxConcurrent must not be negative, got %d", o.MaxConcurrent)
	}
	auto := o.MaxConcurrent == 0
	if auto {
		o.MaxConcurrent = AutoMinConcurrent
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{run: run, clock: o.Clock, log: o.Logger, hooks: o.Hooks, ours: o.Admit,
		slots: newLimiter(o.MaxConcurrent), auto: auto, cpuBusy: newSchedLatency().busy, stop: make(chan struct{}), jobs: make(map[string]*job),
		timers: timers{wake: make(chan struct{}, 1)}}
	s.root, s.cancel = context.WithCancelCause(context.Background())
	return s, nil
}

// Start begins scheduling. Flows applied before Start get their timers
// now, keeping their phase.
func (s *Scheduler) Start() {
	if s.auto {
		s.bg.Add(1)
		go s.adapt(s.clock.NewTicker(adaptEvery)) // made here, so that it counts from Start
	}
	s.startTimers()
}

// Shutdown stops scheduling at once: no run starts after it is called,
// and runs waiting for a slot give up. Runs in progress may finish until
// ctx ends; then their contexts are cancelled and Shutdown waits for them
// to return (a RunFunc that ignores its context blocks it). It returns an
// error saying how many runs were cancelled, if any.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	for _, a := range s.slots.close() {
		s.giveUp(a)
	}
	s.bg.Wait() // the timer loop and the adapting goroutine end at s.stop
	done := make(chan struct{})
	go func() { s.runs.Wait(); s.pool.all.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel(errStopping)
		return nil
	case <-ctx.Done():
	}
	n := s.running.Load()
	s.cancel(errStopping)
	<-done
	if n > 0 {
		return fmt.Errorf("scheduler: cancelled %d running flows: %w", n, context.Cause(ctx))
	}
	return nil
}

// DeferUntil skips the runs of flow until t (at most MaxDeferral from
// now); runs resume at the first scheduled time at or after t. A zero t
// ends a deferral. Unknown flows are ignored. Failures that carry a
// Retry-After do this automatically.
func (s *Scheduler) DeferUntil(flow string, t time.Time) {
	if j := s.lookup(flow); j != nil {
		s.deferFlow(j.state, t)
	}
}

// NextRun is the flow's next planned start; ok is false for an unknown
// flow, before Start, and for a cron flow whose times have all passed.
func (s *Scheduler) NextRun(flow string) (next time.Time, ok bool) {
	j := s.lookup(flow)
	if j == nil {
		return time.Time{}, false
	}
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if !s.timers.started || j.index < 0 {
		return time.Time{}, false
	}
	return j.due, true
}

// Stats is a snapshot of the scheduler's counters.
type Stats struct {
	Load
	Flows map[string]FlowStats
}

// FlowStats are one flow's counters since it was first applied; they
// survive changes of its definition.
type FlowStats struct {
	Runs          uint64    // completed runs
	Skipped       uint64    // runs skipped because the previous one was still running (overlap)
	Behind        uint64    // starts the previous run stood for, still waiting for a slot
	Deferred      uint64    // runs skipped because of Retry-After / DeferUntil
	DeferredUntil time.Time // zero when not deferred
	InProgress    bool      // a run is waiting for a slot, running or being reported
}

// Stats returns the current counters.
func (s *Scheduler) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := Stats{Load: s.Load(), Flows: make(map[string]FlowStats, len(s.jobs))}
	for name, j := range s.jobs {
		out.Flows[name] = j.state.stats()
	}
	return out
}

// Load is how busy the scheduler is now; unlike Stats it costs nothing
// per flow.
type Load struct {
	Running int  // runs executing now
	Waiting int  // runs due but waiting for a slot
	Limit   int  // the concurrency limit now
	Auto    bool // Limit follows the load
	// OldestWaiting is how late the run waiting longest for a slot is now;
	// 0 when none waits.
	OldestWaiting time.Duration
}

// Load returns the scheduler's load now.
func (s *Scheduler) Load() Load {
	st := s.slots.state()
	l := Load{Running: int(s.running.Load()), Waiting: st.waiting, Limit: st.limit, Auto: s.auto}
	if !st.oldest.IsZero() {
		l.OldestWaiting = max(s.clock.Since(st.oldest), 0)
	}
	return l
}

func (s *Scheduler) lookup(flow string) *job {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.jobs[flow]
}
