package scheduler

import (
	"container/heap"
	"time"

	"github.com/jonboulle/clockwork"
)

// timers is every scheduled job ordered by its next fire time. One
// goroutine (loop) sleeps on one timer until the earliest, fires the jobs
// then due and sleeps again: per fire that is a heap fix and a call,
// where a gocron job per flow cost a goroutine, a context and channel
// messages (see the package comment).
//
// Its fields are guarded by Scheduler.tmu; job.due and job.index too.
type timers struct {
	jobs    jobHeap
	started bool // loop runs: Start was called
	// parked is set while loop waits with nothing due and no wake
	// pending, armed being the deadline its timer is set to (zero: none).
	// A test on the fake clock advances it only then, so that each
	// advance is seen as one instant.
	parked bool
	armed  time.Time
	wake   chan struct{} // capacity 1: the earliest job may have changed
}

// jobHeap is a binary min-heap of jobs by due time, then name (so that
// jobs due at the same instant fire in a stable order).
type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(a, b int) bool {
	if !h[a].due.Equal(h[b].due) {
		return h[a].due.Before(h[b].due)
	}
	return h[a].flow.Name < h[b].flow.Name
}
func (h jobHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].index, h[b].index = a, b
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}

// add schedules j at j.due and wakes loop if j is now the earliest.
func (s *Scheduler) add(j *job) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	heap.Push(&s.timers.jobs, j)
	if s.timers.started && j.index == 0 {
		s.wakeLocked()
	}
}

// drop unschedules j; a fire already taken from the heap is dropped by
// fire (j.gone).
func (s *Scheduler) drop(j *job) {
	j.gone.Store(true)
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if j.index >= 0 {
		heap.Remove(&s.timers.jobs, j.index)
	}
}

func (s *Scheduler) wakeLocked() {
	s.timers.parked = false
	select {
	case s.timers.wake <- struct{}{}:
	default:
	}
}

// startTimers moves the fire times of jobs applied before Start that have
// passed to their next ones from now, keeping their phase, and starts
// loop.
func (s *Scheduler) startTimers() {
	s.tmu.Lock()
	now := s.clock.Now()
	for _, j := range s.timers.jobs {
		if j.due.Before(now) {
			j.due = j.nextFrom(now)
		}
	}
	heap.Init(&s.timers.jobs)
	for len(s.timers.jobs) > 0 && s.timers.jobs[0].due.IsZero() { // a cron time that never comes again
		heap.Pop(&s.timers.jobs)
	}
	s.timers.started = true
	s.tmu.Unlock()
	t := s.clock.NewTimer(time.Hour)
	t.Stop()
	s.bg.Add(1)
	go s.loop(t)
}

// loop fires the jobs due, then sleeps until the next one is due, the
// earliest changes (wake) or Shutdown begins.
func (s *Scheduler) loop(t clockwork.Timer) {
	defer s.bg.Done()
	defer t.Stop()
	var due []*job
	for {
		due = s.takeDue(s.clock.Now(), due[:0])
		for i, j := range due {
			s.fire(j)
			due[i] = nil
		}
		if !s.arm(t) {
			continue
		}
		select {
		case <-s.stop:
			return
		case <-t.Chan():
		case <-s.timers.wake:
		}
	}
}

// takeDue appends the jobs due at now to buf and moves each to its next
// fire time after now: starts missed while the process was stalled are
// not fired one by one (the run that fires stands for them; its plan
// tells which start it is, and its lateness says how late).
func (s *Scheduler) takeDue(now time.Time, buf []*job) []*job {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	h := &s.timers.jobs
	for len(*h) > 0 && !(*h)[0].due.After(now) {
		j := (*h)[0]
		buf = append(buf, j)
		if j.due = j.nextAfter(now); j.due.IsZero() {
			heap.Pop(h)
			continue
		}
		heap.Fix(h, 0)
	}
	return buf
}

// arm sets t to the earliest job's time and marks loop parked; false if
// a job is due already or a wake is pending (loop goes round again).
func (s *Scheduler) arm(t clockwork.Timer) bool {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if !t.Stop() {
		select { // a fire not received: the new deadline replaces it
		case <-t.Chan():
		default:
		}
	}
	s.timers.armed = time.Time{}
	if len(s.timers.jobs) > 0 {
		next := s.timers.jobs[0].due
		d := next.Sub(s.clock.Now())
		if d <= 0 {
			return false
		}
		t.Reset(d)
		s.timers.armed = next
	}
	if len(s.timers.wake) > 0 {
		return true // received at once
	}
	s.timers.parked = true
	return true
}

// nextFrom is j's first fire time at or after now (zero: none).
func (j *job) nextFrom(now time.Time) time.Time {
	switch sc := j.plan.sched.(type) {
	case everySchedule:
		return firstRun(j.flow.Name, sc.every, now)
	default:
		return sc.next(now.Add(-1))
	}
}

// nextAfter is j's first fire time after now, j.due being one of its
// times at or before now (zero: none).
func (j *job) nextAfter(now time.Time) time.Time {
	switch sc := j.plan.sched.(type) {
	case everySchedule:
		k := now.Sub(j.due)/sc.every + 1
		return j.due.Add(k * sc.every)
	default:
		return sc.next(now)
	}
}
