package scheduler

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/robfig/cron/v3"

	"github.com/authwatch/authwatch/flows"
)

// Spreading runs
//
// `every: d` flows start at the instants whose offset within their d-long
// period (counted from Go's zero time, so independent of when the daemon
// started) is jitter(name, d): a flow keeps its phase across restarts,
// reloads and definition changes, and a thousand flows with the same
// interval spread evenly over it instead of firing in the same second. The
// price is that a flow's first run after start may come up to one
// interval later, as on any other cycle.
//
// `cron:` flows run at their expression's times plus a stable delay,
// jitter(name, min(gap/10, MaxCronDelay)), where gap is the shortest
// distance between two of the expression's times. Whoever writes a cron
// expression picked a wall-clock time, so the shift is kept small and far
// from the next time (the order of runs never changes); with 5-field
// expressions gap is at least a minute, so the spread is 6 s for
// "* * * * *" and 30 s for anything every 5 minutes or slower. Flows
// that need a wide spread should use every.

// MaxCronDelay caps the delay added to a cron flow's times.
const MaxCronDelay = 30 * time.Second

// jitter maps name to an offset in [0, span), the same in every process.
// Changing it moves every flow's phase once.
func jitter(name string, span time.Duration) time.Duration {
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	hi, _ := bits.Mul64(mix64(h.Sum64()), uint64(span))
	return time.Duration(hi)
}

// mix64 is the splitmix64 finalizer; it spreads names that differ in one
// character over the whole range.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// firstRun is the first start at or after now of a flow run every d.
func firstRun(name string, every time.Duration, now time.Time) time.Time {
	t := now.Truncate(every).Add(jitter(name, every))
	if t.Before(now) {
		t = t.Add(every)
	}
	return t
}

// schedule is a flow's sequence of planned starts.
type schedule interface {
	// next returns the first planned start after t, or zero if none.
	next(t time.Time) time.Time
}

type everySchedule struct{ every time.Duration }

func (e everySchedule) next(t time.Time) time.Time { return t.Add(e.every) }

// cronSchedule is a five-field cron expression (in the local time zone
// unless it starts with CRON_TZ=) shifted by a stable delay.
type cronSchedule struct {
	spec  cron.Schedule
	delay time.Duration
}

// parseCron parses a five-field expression that matches some time after
// now, with gocron's cron implementation (robfig/cron's standard parser in
// the local time zone, as flows.Load validates it).
func parseCron(expr string, now time.Time) (cron.Schedule, error) {
	spec := gocron.NewDefaultCron(false)
	switch err := spec.IsValid(expr, time.Local, now); {
	case errors.Is(err, gocron.ErrCronJobInvalid):
		return nil, fmt.Errorf("cron expression %q never matches", expr)
	case err != nil:
		return nil, fmt.Errorf("bad cron expression %q: %w", expr, parserError(err))
	}
	return spec, nil
}

// parserError is the parser's own error under gocron's ErrCronJobParse
// (joined with it: two lines).
func parserError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !errors.Is(e, gocron.ErrCronJobParse) {
				return e
			}
		}
	}
	return err
}

// newCronSchedule shifts spec, whose shortest gap is gap, by name's delay.
func newCronSchedule(name string, spec cron.Schedule, gap time.Duration) *cronSchedule {
	return &cronSchedule{spec: spec, delay: jitter(name, min(gap/10, MaxCronDelay))}
}

// gapCache remembers minGap per expression: it walks 64 of the
// expression's times (about 0.25 ms for a daily one).
type gapCache struct{ m sync.Map }

func (g *gapCache) of(expr string, spec cron.Schedule) time.Duration {
	if v, ok := g.m.Load(expr); ok {
		return v.(time.Duration)
	}
	gap := minGap(spec)
	g.m.Store(expr, gap)
	return gap
}

// minGap is the shortest distance between two of spec's times, over 64 of
// them from a fixed reference, so that it does not depend on today's date.
func minGap(spec cron.Schedule) time.Duration {
	gap := time.Duration(1<<63 - 1)
	prev := spec.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	for range 64 {
		n := spec.Next(prev)
		if n.IsZero() {
			break
		}
		gap = min(gap, n.Sub(prev))
		prev = n
	}
	return gap
}

func (c *cronSchedule) next(t time.Time) time.Time {
	n := c.spec.Next(t.Add(-c.delay))
	if n.IsZero() {
		return n
	}
	return n.Add(c.delay)
}

// maxCatchUp bounds the walk over missed cron times in plan.at.
const maxCatchUp = 4096

// plan tells which planned start a run belongs to, so that its lateness
// can be measured: it remembers the last planned start it handed out and
// walks the schedule from there. The timer heap moves a job to its next
// fire time before it fires, so by then NextRun already names the
// following start.
type plan struct {
	mu    sync.Mutex
	sched schedule
	last  time.Time // last planned start handed out, or an instant before the first
}

// at returns the latest planned start at or before now (skipped ones
// included), or now when none is due (a clock step backwards) or a cron
// flow is more than maxCatchUp starts behind.
func (p *plan) at(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.sched.(everySchedule); ok {
		k := now.Sub(p.last) / e.every
		if k <= 0 {
			return now
		}
		p.last = p.last.Add(k * e.every)
		return p.last
	}
	found := false
	for range maxCatchUp {
		n := p.sched.next(p.last)
		if n.IsZero() || n.After(now) {
			if !found {
				return now
			}
			return p.last
		}
		p.last, found = n, true
	}
	p.last = now // too far behind to tell: walk from now on
	return now
}

// Interval is the time between two planned starts of f: its every:, or
// the shortest gap of its cron expression; 0 when it has neither or the
// expression does not parse.
func (s *Scheduler) Interval(f *flows.Flow) time.Duration {
	if f.Cron == "" {
		return f.Every.Std()
	}
	spec, err := parseCron(f.Cron, s.clock.Now())
	if err != nil {
		return 0
	}
	return s.gaps.of(f.Cron, spec)
}
