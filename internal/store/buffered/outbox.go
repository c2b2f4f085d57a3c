package buffered

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// CommitIncident commits the incident state and its items in the backend
// or, when it fails, keeps both in memory (the items then wait for the
// daemon's direct delivery, see Unsent); a refusal of the backend is not
// an error, except for a fenced commit (see notKept).
func (s *Store) CommitIncident(ctx context.Context, flow string, state json.RawMessage, items []store.OutboxItem) error {
	_, fenced := store.FenceFrom(ctx)
	s.mu.Lock()
	if s.failing && !fenced {
		s.keepIncidentLocked(flow, state, items)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	err := s.backend.CommitIncident(ctx, flow, state, items)
	if !isStoreFault(ctx, err) {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(err)
	if fenced {
		return notKept(err)
	}
	s.keepIncidentLocked(flow, state, items)
	return nil
}

func (s *Store) keepIncidentLocked(flow string, state json.RawMessage, items []store.OutboxItem) {
	s.version++
	s.incidents[flow] = pendingIncident{state: state, version: s.version}
	for _, it := range items {
		s.nextSeq++
		s.items = append(s.items, Item{Seq: s.nextSeq, Flow: flow, OutboxItem: it})
	}
	s.boundItemsLocked()
	if len(items) > 0 {
		s.wake()
	}
}

// boundItemsLocked drops sent items first, then the oldest, beyond MaxItems.
func (s *Store) boundItemsLocked() {
	if len(s.items) <= s.opts.MaxItems {
		return
	}
	s.items = slices.DeleteFunc(s.items, func(it Item) bool { return it.Sent })
	if over := len(s.items) - s.opts.MaxItems; over > 0 {
		s.items = slices.Delete(s.items, 0, over)
	}
}

// IncidentStates returns the backend's incident states overlaid by those
// kept in memory.
func (s *Store) IncidentStates(ctx context.Context) (map[string]json.RawMessage, error) {
	stored, err := s.backend.IncidentStates(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !s.failing {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(stored)+len(s.incidents))
	maps.Copy(out, stored)
	for flow, p := range s.incidents {
		out[flow] = p.state
	}
	return out, nil
}

// Unsent returns copies of the items kept in memory that are due for a
// direct delivery: for each (notifier, incident), its oldest unsent item,
// if that is due at now.
func (s *Store) Unsent(now time.Time) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[[2]string]bool{}
	var out []Item
	for _, it := range s.items {
		key := [2]string{it.Notifier, it.IncidentKey}
		if it.Sent || seen[key] {
			continue
		}
		seen[key] = true
		if !it.NextAttempt.After(now) {
			out = append(out, it)
		}
	}
	return out
}

// MarkSent records a direct delivery attempt of item seq: sent, or to try
// again at next.
func (s *Store) MarkSent(seq int64, sent bool, next time.Time, lastErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.items {
		if s.items[i].Seq == seq {
			s.items[i].Sent = sent
			s.items[i].Attempts++
			s.items[i].NextAttempt, s.items[i].LastError = next, lastErr
			return
		}
	}
}

// Due returns the backend's due items, minus those whose delivery is
// recorded in memory, with retries rescheduled as memory says.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]store.OutboxItem, error) {
	due, err := s.backend.Due(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marks) == 0 {
		return due, nil
	}
	out := due[:0]
	for _, it := range due {
		m, ok := s.marks[it.ID]
		switch {
		case !ok:
		case m.kind != markRetry, m.next.After(now):
			continue
		default:
			it.Attempts, it.NextAttempt, it.LastError = m.attempts, m.next, m.lastErr
		}
		out = append(out, it)
	}
	return out, nil
}

// Delivered marks a backend item sent, in the backend or in memory.
func (s *Store) Delivered(ctx context.Context, id int64, at time.Time) error {
	return s.markItem(ctx, id, mark{kind: markDelivered, at: at}, func() error { return s.backend.Delivered(ctx, id, at) })
}

// Retry records a failed attempt of a backend item.
func (s *Store) Retry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	return s.markItem(ctx, id, mark{kind: markRetry, attempts: attempts, next: next, lastErr: lastErr},
		func() error { return s.backend.Retry(ctx, id, attempts, next, lastErr) })
}

// Dead gives up on a backend item.
func (s *Store) Dead(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return s.markItem(ctx, id, mark{kind: markDead, at: at, lastErr: lastErr},
		func() error { return s.backend.Dead(ctx, id, at, lastErr) })
}

func (s *Store) markItem(ctx context.Context, id int64, m mark, write func() error) error {
	s.mu.Lock()
	if s.failing {
		s.marks[id] = m
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	err := write()
	if !isStoreFault(ctx, err) {
		return err
	}
	s.mu.Lock()
	s.failLocked(err)
	s.marks[id] = m
	s.mu.Unlock()
	return nil
}

// Backlog counts the backend's undelivered items plus those kept in memory.
func (s *Store) Backlog(ctx context.Context) (map[string]store.Backlog, error) {
	b, err := s.backend.Backlog(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !s.failing {
		return nil, err
	}
	if b == nil {
		b = map[string]store.Backlog{}
	}
	for _, it := range s.items {
		if it.Sent {
			continue
		}
		q := b[it.Notifier]
		q.Pending++
		if q.Oldest.IsZero() || it.Created.Before(q.Oldest) {
			q.Oldest = it.Created
		}
		b[it.Notifier] = q
	}
	return b, nil
}

// PruneOutbox prunes the backend's outbox; while it fails, nothing.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	if err := s.failingErr(); err != nil {
		return 0, err
	}
	return s.backend.PruneOutbox(ctx, before)
}
