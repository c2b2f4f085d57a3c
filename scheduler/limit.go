package scheduler

import (
	"sync"
	"time"
)

// limiter is a counting semaphore whose size may change while runs hold
// slots. A run that finds no free slot waits in a queue as data, not as a
// goroutine (at 10,000 flows on a busy machine thousands wait at once, and
// each waiting goroutine kept a stack grown to a run's depth), and is
// handed the next free slot in arrival order, so the run due first starts
// first, and the one waiting longest is known (oldest).
type limiter struct {
	mu     sync.Mutex
	limit  int
	inUse  int
	queue  []admitted // oldest first; queue[:head] are taken
	head   int
	closed bool // Shutdown began: nothing waits any more
}

func newLimiter(n int) *limiter { return &limiter{limit: n} }

// take gives a a slot if one is free and no run waits (granted), or puts
// it in the queue (neither). After close it does neither and refuses a:
// the caller gives the run up.
func (l *limiter) take(a admitted) (granted, refused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return false, true
	case l.inUse < l.limit && l.waiting() == 0:
		l.inUse++
		return true, false
	}
	l.queue = append(l.queue, a)
	return false, false
}

// release returns a slot; if the limit allows, the slot goes on to the
// oldest waiting run, which release returns (ok) for the caller to start.
func (l *limiter) release() (next admitted, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inUse <= l.limit && l.waiting() > 0 {
		return l.pop(), true // the slot passes on: inUse unchanged
	}
	l.inUse--
	return admitted{}, false
}

// setLimit changes the number of slots and returns the waiting runs that
// got one, for the caller to start. Lowering it takes effect as runs end:
// none is interrupted.
func (l *limiter) setLimit(n int) []admitted {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit = n
	var granted []admitted
	for l.inUse < l.limit && l.waiting() > 0 {
		l.inUse++
		granted = append(granted, l.pop())
	}
	return granted
}

// close refuses every later take and returns the runs that were waiting,
// for the caller to give up.
func (l *limiter) close() []admitted {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	waiting := l.queue[l.head:]
	l.queue, l.head = nil, 0
	return waiting
}

func (l *limiter) waiting() int { return len(l.queue) - l.head }

// pop takes the oldest waiting run; l.mu is held. The taken part of the
// queue is dropped when it is half of it, so the queue's memory follows
// the number of waiting runs.
func (l *limiter) pop() admitted {
	a := l.queue[l.head]
	l.queue[l.head] = admitted{} // its job may be removed meanwhile
	l.head++
	switch {
	case l.head == len(l.queue):
		l.queue, l.head = l.queue[:0], 0
	case l.head >= 1024 && l.head*2 >= len(l.queue):
		l.queue, l.head = append(l.queue[:0], l.queue[l.head:]...), 0
	}
	return a
}

// limiterState is a snapshot of a limiter.
type limiterState struct {
	limit, inUse, waiting int
	oldest                time.Time // planned start of the run waiting longest; zero when none waits
}

func (l *limiter) state() limiterState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := limiterState{limit: l.limit, inUse: l.inUse, waiting: l.waiting()}
	if st.waiting > 0 {
		st.oldest = l.queue[l.head].planned
	}
	return st
}
