package scheduler

import (
	"container/list"
	"sync"
	"time"
)

// limiter is a counting semaphore whose size may change while runs hold
// and wait for slots. Waiters are served in arrival order, so the run due
// first starts first, and the one waiting longest is known (oldest).
type limiter struct {
	mu      sync.Mutex
	limit   int
	inUse   int
	waiters list.List // of *slotWaiter, oldest first
}

type slotWaiter struct {
	ready   chan struct{} // closed when granted
	granted bool
	planned time.Time
}

func newLimiter(n int) *limiter { return &limiter{limit: n} }

// acquire takes a slot for a run planned at planned, waiting for one
// unless stop is closed first; once stop is closed it takes none.
func (l *limiter) acquire(planned time.Time, stop <-chan struct{}) bool {
	if !l.wait(planned, stop) {
		return false
	}
	select {
	case <-stop: // both were ready and select chose the slot
		l.release()
		return false
	default:
		return true
	}
}

func (l *limiter) wait(planned time.Time, stop <-chan struct{}) bool {
	l.mu.Lock()
	if l.inUse < l.limit && l.waiters.Len() == 0 {
		l.inUse++
		l.mu.Unlock()
		return true
	}
	w := &slotWaiter{ready: make(chan struct{}), planned: planned}
	e := l.waiters.PushBack(w)
	l.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-stop:
	}
	l.mu.Lock()
	granted := w.granted
	if !granted {
		l.waiters.Remove(e)
	}
	l.mu.Unlock()
	if granted { // the slot came with the stop: give it on
		l.release()
	}
	return false
}

// release returns a slot and hands it to the oldest waiter, if the limit
// allows.
func (l *limiter) release() {
	l.mu.Lock()
	l.inUse--
	l.grant()
	l.mu.Unlock()
}

// setLimit changes the number of slots. Lowering it takes effect as runs
// end: none is interrupted.
func (l *limiter) setLimit(n int) {
	l.mu.Lock()
	l.limit = n
	l.grant()
	l.mu.Unlock()
}

// grant wakes waiters while slots are free; l.mu is held.
func (l *limiter) grant() {
	for l.inUse < l.limit && l.waiters.Len() > 0 {
		w := l.waiters.Remove(l.waiters.Front()).(*slotWaiter)
		w.granted = true
		l.inUse++
		close(w.ready)
	}
}

// limiterState is a snapshot of a limiter.
type limiterState struct {
	limit, inUse, waiting int
	oldest                time.Time // planned start of the run waiting longest; zero when none waits
}

func (l *limiter) state() limiterState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := limiterState{limit: l.limit, inUse: l.inUse, waiting: l.waiters.Len()}
	if f := l.waiters.Front(); f != nil {
		st.oldest = f.Value.(*slotWaiter).planned
	}
	return st
}
