package scheduler

import (
	"slices"
	"sync"
	"time"
)

// workerIdle is how long a worker goroutine waits for another run before
// it ends.
const workerIdle = 5 * time.Second

// admitted is a run admitted by fire, on its way to a worker.
type admitted struct {
	j         *job
	planned   time.Time
	admission any      // Options.Admit's, for Event.Admission
	live      *liveRun // the run as Revoke reaches it; nil without an admission
}

// workerPool holds the idle workers, the most recently idle last: a run
// goes to the worker that ran last (its stack is grown, the garbage
// collector has not shrunk it yet), and workers the load no longer needs
// stay idle long enough to end. (A channel would wake them in turn and
// keep every worker of the busiest moment.)
type workerPool struct {
	mu   sync.Mutex
	idle []*worker
	all  sync.WaitGroup // worker goroutines
}

// worker is one goroutine that executes runs one after the other.
type worker struct{ next chan admitted } // capacity 1: dispatch never blocks

// dispatch hands an admitted run to the latest idle worker, or to a new
// one. Workers outlive their runs so that a run starts on a stack that
// has already grown to a run's depth: a goroutine per run started at the
// runtime's average size (small: most goroutines are the transport's)
// and copied its stack two or three times in every run.
func (s *Scheduler) dispatch(a admitted) {
	p := &s.pool
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1], p.idle = nil, p.idle[:n-1]
		p.mu.Unlock()
		w.next <- a
		return
	}
	p.mu.Unlock()
	p.all.Add(1)
	go s.work(&worker{next: make(chan admitted, 1)}, a)
}

// work executes a, then the runs dispatched to w, until w has been idle
// for workerIdle or Shutdown begins.
func (s *Scheduler) work(w *worker, a admitted) {
	p := &s.pool
	defer p.all.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.execute(a)
		p.mu.Lock()
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		idle.Reset(workerIdle)
		select {
		case a = <-w.next:
			continue
		case <-idle.C:
		case <-s.stop:
		}
		if p.retire(w) {
			return
		}
		a = <-w.next // taken from the idle list meanwhile: its run is on the way
	}
}

// retire takes w off the idle list; false if dispatch took it first.
func (p *workerPool) retire(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.idle, w)
	if i < 0 {
		return false
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	return true
}
