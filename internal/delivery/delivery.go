// Package delivery sends the outbox: every notification was written to the
// state store before it is sent, and it is marked delivered only when the
// receiver accepted it. A receiver's outage of any length, a restart or a
// SIGKILL mid-delivery loses no page; a crash between sending and marking
// sends it again, which the receivers' dedup keys absorb (PagerDuty's
// dedup_key, Alertmanager's labels, the webhook's delivery id).
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/notify"
)

// Defaults of a Sender.
const (
	DefaultAttemptTimeout = 30 * time.Second
	DefaultBaseBackoff    = 2 * time.Second
	DefaultMaxBackoff     = 10 * time.Minute
	DefaultWorkers        = 8
	pollInterval          = time.Second
	batch                 = 64
)

// Hooks report deliveries (metrics); all optional.
type Hooks struct {
	OnAttempt func(notifier string, ok bool, d time.Duration)
	OnDead    func(notifier string)
}

// Sender delivers due outbox items with retries: exponential backoff with
// jitter, honouring Retry-After, capped; never giving up on a retryable
// failure. Each (notifier, incident) is sent strictly in order.
type Sender struct {
	Outbox         store.Outbox
	Now            func() time.Time
	Logger         *slog.Logger
	AttemptTimeout time.Duration
	BaseBackoff    time.Duration
	MaxBackoff     time.Duration
	Workers        int
	Hooks          Hooks

	mu        sync.Mutex
	notifiers map[string]notify.Notifier
	inflight  map[int64]bool
	dueCalls  uint64           // Due calls begun
	ended     map[int64]uint64 // items whose attempt ended → dueCalls then
	kick      chan struct{}
}

// SetNotifiers swaps the configured notifiers (on reload). Items for a
// notifier that no longer exists wait (they are not lost) until it comes
// back or they are pruned by hand.
func (s *Sender) SetNotifiers(n map[string]notify.Notifier) {
	s.mu.Lock()
	s.notifiers = n
	s.mu.Unlock()
	s.Kick()
}

// Kick asks for an immediate look at the outbox (after new items).
func (s *Sender) Kick() {
	s.mu.Lock()
	if s.kick == nil {
		s.kick = make(chan struct{}, 1)
	}
	k := s.kick
	s.mu.Unlock()
	select {
	case k <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for attempts in flight.
func (s *Sender) Run(ctx context.Context) {
	s.Kick() // create the channel and look at once
	s.mu.Lock()
	kick := s.kick
	s.mu.Unlock()
	workers := s.Workers
	if workers <= 0 {
		workers = DefaultWorkers // a hung receiver must not hold up the others' pages
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-kick:
		}
		// Claim only what free workers start now: an item claimed and left
		// waiting for a worker could see its claim expire and another
		// node send it too. Items of this node still in flight come back
		// from Due (its own claims) and are skipped, so ask for them too.
		free := workers - len(sem)
		if free == 0 {
			continue
		}
		for _, it := range s.due(ctx, free) {
			sem <- struct{}{} // never blocks: only this loop fills sem, and free slots were counted
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Kick() // a worker is free: look for more at once
				defer func() { <-sem }()
				defer s.release(it.ID)
				s.attempt(ctx, it)
			}()
		}
	}
}

// due claims and returns at most take due items not already being sent.
func (s *Sender) due(ctx context.Context, take int) []store.OutboxItem {
	s.mu.Lock()
	inflight := len(s.inflight)
	s.dueCalls++
	call := s.dueCalls
	s.mu.Unlock()
	items, err := s.Outbox.Due(ctx, s.now(), min(take+inflight, batch))
	if err != nil {
		if ctx.Err() == nil {
			s.log().Error("reading the notification outbox failed", "err", err)
		}
		return nil
	}
	s.mu.Lock()
	if s.inflight == nil {
		s.inflight = map[int64]bool{}
	}
	var out, extra []store.OutboxItem
	for _, it := range items {
		switch {
		// An item in flight, or whose attempt ended while Due ran: Due
		// may have read it (this node's own claim) before its outcome.
		case s.inflight[it.ID], s.ended[it.ID] >= call:
		case len(out) < take:
			s.inflight[it.ID] = true
			out = append(out, it)
		default:
			extra = append(extra, it)
		}
	}
	for id, endedIn := range s.ended {
		if endedIn < call {
			delete(s.ended, id) // its outcome was written before this Due began
		}
	}
	s.mu.Unlock()
	for _, it := range extra {
		// Give the claim back unchanged (another node may send it now)
		// rather than hold it with no worker to send it.
		if err := s.Outbox.Retry(ctx, it.ID, it.Attempts, it.NextAttempt, it.LastError); err != nil && ctx.Err() == nil {
			s.log().Warn("giving back an outbox claim failed (it waits for the claim to expire)", "notifier", it.Notifier, "err", err)
		}
	}
	return out
}

// release forgets an item that is no longer being sent.
func (s *Sender) release(id int64) {
	s.mu.Lock()
	delete(s.inflight, id)
	if s.ended == nil {
		s.ended = map[int64]uint64{}
	}
	s.ended[id] = s.dueCalls
	s.mu.Unlock()
}

// attempt makes one delivery attempt and records its outcome.
func (s *Sender) attempt(ctx context.Context, it store.OutboxItem) {
	retry, err := s.DeliverNow(ctx, it)
	switch {
	case err == nil:
		if err := s.Outbox.Delivered(context.WithoutCancel(ctx), it.ID, s.now()); err != nil {
			s.outcomeFailed("marking a notification delivered failed (it may be sent again)", it, err)
		}
	case retry:
		s.reschedule(ctx, it, err, RetryAfter(err))
	default:
		s.giveUp(ctx, it, err)
	}
}

// DeliverNow makes one attempt to send an outbox item's event through its
// notifier, without the outbox: for items the state store could not take
// (the daemon retries them itself and never enqueues one that went out).
func (s *Sender) DeliverNow(ctx context.Context, it store.OutboxItem) (retry bool, err error) {
	s.mu.Lock()
	n := s.notifiers[it.Notifier]
	s.mu.Unlock()
	if n == nil {
		return true, errors.New("notifier " + it.Notifier + " is not configured")
	}
	var ev notify.Event
	if err := json.Unmarshal(it.Event, &ev); err != nil {
		return false, err
	}
	timeout := s.AttemptTimeout
	if timeout == 0 {
		timeout = DefaultAttemptTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := s.now()
	retry, err = safeNotify(actx, n, ev)
	if s.Hooks.OnAttempt != nil {
		s.Hooks.OnAttempt(it.Notifier, err == nil, s.now().Sub(start))
	}
	return retry, err
}

// RetryAfter is the wait a receiver asked for in err (0: none).
func RetryAfter(err error) time.Duration {
	var ra *notify.RetryAfterError
	if errors.As(err, &ra) {
		return ra.After
	}
	return 0
}

// Backoff is the wait before attempt number attempts+1 (for DeliverNow's callers).
func (s *Sender) Backoff(attempts int) time.Duration { return s.backoff(attempts) }

// Notifiers names the configured notifiers.
func (s *Sender) Notifiers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.notifiers))
	for name := range s.notifiers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// safeNotify keeps a notifier's panic from killing the daemon.
func safeNotify(ctx context.Context, n notify.Notifier, ev notify.Event) (retry bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			retry, err = false, errors.New("notifier panicked (an authwatch bug)")
		}
	}()
	return n.Notify(ctx, ev)
}

func (s *Sender) reschedule(ctx context.Context, it store.OutboxItem, cause error, after time.Duration) {
	attempts := it.Attempts + 1
	wait := max(s.backoff(attempts), after)
	next := s.now().Add(wait)
	s.log().Warn("notification delivery failed; will retry", "notifier", it.Notifier, "incident", it.IncidentKey,
		"attempts", attempts, "retry_in", wait.Round(time.Second).String(), "err", cause)
	if err := s.Outbox.Retry(context.WithoutCancel(ctx), it.ID, attempts, next, cause.Error()); err != nil {
		s.outcomeFailed("recording a failed delivery failed", it, err)
	}
}

func (s *Sender) giveUp(ctx context.Context, it store.OutboxItem, cause error) {
	s.log().Error("notification refused by the receiver; not retrying", "notifier", it.Notifier, "incident", it.IncidentKey, "err", cause)
	if s.Hooks.OnDead != nil {
		s.Hooks.OnDead(it.Notifier)
	}
	if err := s.Outbox.Dead(context.WithoutCancel(ctx), it.ID, s.now(), cause.Error()); err != nil {
		s.outcomeFailed("recording a refused delivery failed", it, err)
	}
}

// outcomeFailed logs an outcome the outbox did not record. ErrStaleLease:
// this node's claim expired and another node took the item (the outbox
// keeps that node's claim and outcome); a warning, not an error of the store.
func (s *Sender) outcomeFailed(msg string, it store.OutboxItem, err error) {
	if errors.Is(err, store.ErrStaleLease) {
		s.log().Warn("another node claimed this notification after this node's claim expired; its outcome here is not recorded",
			"notifier", it.Notifier, "incident", it.IncidentKey, "err", err)
		return
	}
	s.log().Error(msg, "notifier", it.Notifier, "err", err)
}

// backoff is exponential with full jitter in its upper half, capped.
func (s *Sender) backoff(attempts int) time.Duration {
	base, ceiling := s.BaseBackoff, s.MaxBackoff
	if base == 0 {
		base = DefaultBaseBackoff
	}
	if ceiling == 0 {
		ceiling = DefaultMaxBackoff
	}
	d := base << min(attempts-1, 20)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	return d/2 + rand.N(d/2+1)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
