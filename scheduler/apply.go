package scheduler

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// job is one flow definition scheduled in the timer heap (timers.go).
type job struct {
	flow  *flows.Flow
	state *flowState // per flow name: outlives definition changes
	plan  *plan
	// due is the next fire time, index the job's place in the heap (-1:
	// not in it); both guarded by Scheduler.tmu.
	due   time.Time
	index int
	// gone is set when the job is replaced or removed: a fire already on
	// its way is dropped.
	gone atomic.Bool
}

// Apply makes fs the set of scheduled flows, matching flows by Name and
// Digest:
//
//   - a flow whose digest did not change keeps its job, its next run time,
//     its counters and the *flows.Flow it was first applied with;
//   - a changed flow (or one without a digest) gets a new job, counted as
//     one removed and one added; its counters, deferral and busy flag carry
//     over, and an `every:` flow keeps its phase;
//   - flows no longer in fs stop; a run in progress finishes and is
//     reported;
//   - new flows start.
//
// The whole set is checked first (names present and unique, schedules
// valid); if anything is wrong nothing changes. Apply is safe to call while
// the scheduler runs (reload) and before Start.
func (s *Scheduler) Apply(fs []*flows.Flow) (added, removed, kept int, err error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.isClosed() {
		return 0, 0, 0, ErrClosed
	}
	s.mu.RLock()
	old := make(map[string]*job, len(s.jobs))
	for name, j := range s.jobs {
		old[name] = j
	}
	s.mu.RUnlock()
	fresh, err := s.prepare(fs, old)
	if err != nil {
		return 0, 0, 0, err
	}
	kept = len(fs) - len(fresh)
	for _, j := range fresh {
		added++
		if prev := old[j.flow.Name]; prev != nil {
			s.drop(prev)
			removed++
		}
		s.put(j)
		s.add(j)
	}
	want := make(map[string]bool, len(fs))
	for _, f := range fs {
		want[f.Name] = true
	}
	for name, j := range old {
		if !want[name] {
			s.drop(j)
			s.remove(name)
			removed++
		}
	}
	s.updateDemand()
	return added, removed, kept, nil
}

// prepare checks fs and builds a job for each flow that is new or changed.
func (s *Scheduler) prepare(fs []*flows.Flow, old map[string]*job) ([]*job, error) {
	var (
		errs  []error
		fresh []*job
		seen  = make(map[string]bool, len(fs))
		now   = s.clock.Now()
	)
	for i, f := range fs {
		switch {
		case f == nil:
			errs = append(errs, fmt.Errorf("scheduler: flow %d is nil", i))
			continue
		case f.Name == "":
			errs = append(errs, fmt.Errorf("scheduler: flow %d has no name", i))
			continue
		case seen[f.Name]:
			errs = append(errs, fmt.Errorf("scheduler: flow %q appears twice", f.Name))
			continue
		}
		seen[f.Name] = true
		prev := old[f.Name]
		if prev != nil && f.Digest != "" && prev.flow.Digest == f.Digest {
			continue
		}
		j, err := s.newJob(f, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		j.state = &flowState{}
		if prev != nil {
			j.state = prev.state
		}
		fresh = append(fresh, j)
	}
	return fresh, errors.Join(errs...)
}

// newJob builds the job of f, its plan and first fire time, as of now.
func (s *Scheduler) newJob(f *flows.Flow, now time.Time) (*job, error) {
	switch {
	case f.Cron != "" && !f.Every.IsZero():
		return nil, fmt.Errorf("scheduler: flow %q: both every and cron are set", f.Name)
	case f.Cron != "":
		spec, err := parseCron(f.Cron, now)
		if err != nil {
			return nil, fmt.Errorf("scheduler: flow %q: %w", f.Name, err)
		}
		cs := newCronSchedule(f.Name, spec, s.gaps.of(f.Cron, spec))
		return &job{flow: f, plan: &plan{sched: cs, last: now}, due: cs.next(now), index: -1}, nil
	case f.Every.Std() > 0:
		every := f.Every.Std()
		first := firstRun(f.Name, every, now)
		return &job{flow: f, plan: &plan{sched: everySchedule{every}, last: first.Add(-every)}, due: first, index: -1}, nil
	default:
		return nil, fmt.Errorf("scheduler: flow %q has no schedule: set every or cron", f.Name)
	}
}

func (s *Scheduler) put(j *job) {
	s.mu.Lock()
	s.jobs[j.flow.Name] = j
	s.mu.Unlock()
}

func (s *Scheduler) remove(name string) {
	s.mu.Lock()
	delete(s.jobs, name)
	s.mu.Unlock()
}

func (s *Scheduler) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}
