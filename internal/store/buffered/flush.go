package buffered

import (
	"context"
	"errors"
	"slices"

	"github.com/authwatch/authwatch/internal/store"
)

// flushChunk is how many runs one RestoreRuns transaction writes.
const flushChunk = 500

// Flush writes what memory holds to the backend, oldest first: runs with
// their states, incident states with their unsent items (sent ones are
// done and never reach the outbox), secrets, delivery marks, a pending
// ForgetFlows. When everything is written, the store is healthy again and
// writes go to the backend. On the first refusal it stops and returns it;
// what was written stays written. Not for concurrent use with itself,
// Unsent or MarkSent.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	failing := s.failing
	s.mu.Unlock()
	if !failing {
		return nil
	}
	for {
		wrote, err := s.flushOnce(ctx)
		if err != nil {
			s.mu.Lock()
			if isStoreFault(ctx, err) {
				s.failLocked(err)
			}
			s.mu.Unlock()
			return err
		}
		if !wrote {
			if s.recovered() {
				return nil
			}
			return errStuck // an item without its incident state: a bug, not a loop
		}
	}
}

var errStuck = errors.New("buffered store: items wait without an incident state to commit them with")

// flushOnce writes one round of what waits; wrote is false when nothing did.
func (s *Store) flushOnce(ctx context.Context) (wrote bool, err error) {
	for _, step := range []func(context.Context) (bool, error){s.flushRuns, s.flushIncidents, s.flushSecrets, s.flushMarks, s.flushForget} {
		w, err := step(ctx)
		if err != nil {
			return wrote, err
		}
		wrote = wrote || w
	}
	return wrote, nil
}

// recovered makes the store healthy if nothing waits any more.
func (s *Store) recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.runs)+len(s.incidents)+len(s.secrets)+len(s.marks) > 0 || s.forgetSet || slices.ContainsFunc(s.items, func(it Item) bool { return !it.Sent }) {
		return false
	}
	s.items = nil
	s.failing = false
	s.health = Health{OK: true, Dropped: s.health.Dropped, Stripped: s.health.Stripped}
	return true
}

func (s *Store) flushRuns(ctx context.Context) (bool, error) {
	s.mu.Lock()
	n := flushChunk
	if s.isolate > 0 {
		n = 1
	}
	chunk := slices.Clone(s.runs[:min(len(s.runs), n)])
	s.mu.Unlock()
	if len(chunk) == 0 {
		return false, nil
	}
	runs := make([]store.Run, len(chunk))
	last := map[string]store.FlowState{}
	for i, p := range chunk {
		runs[i] = p.run
		last[p.run.Flow] = p.state
	}
	states := make([]store.FlowState, 0, len(last))
	for _, st := range last {
		states = append(states, st)
	}
	err := s.backend.RestoreRuns(ctx, runs, states)
	switch {
	case errors.Is(err, store.ErrRefused) && len(chunk) > 1:
		s.mu.Lock()
		s.isolate = len(chunk) // then one at a time, to drop only the refused one
		s.mu.Unlock()
		return true, nil
	case errors.Is(err, store.ErrRefused):
		s.opts.Logger.Error("state store refuses a run held in memory for good; dropping it",
			"flow", chunk[0].run.Flow, "start", chunk[0].run.Start, "err", err)
	case err != nil:
		return false, err
	}
	upTo := chunk[len(chunk)-1].seq
	s.mu.Lock()
	s.isolate = max(s.isolate-1, 0)
	s.runs = slices.DeleteFunc(s.runs, func(p pendingRun) bool {
		if p.seq <= upTo {
			s.evidence -= len(p.run.Steps)
			return true
		}
		return false
	})
	s.mu.Unlock()
	return true, nil
}

// refused reports whether err refuses a write for good, and logs that the
// write (what) is dropped; other errors stop the flush.
func (s *Store) refused(err error, what string, args ...any) bool {
	if !errors.Is(err, store.ErrRefused) {
		return false
	}
	s.opts.Logger.Error("state store refuses "+what+" held in memory for good; dropping it", append(args, "err", err)...)
	return true
}

func (s *Store) flushIncidents(ctx context.Context) (bool, error) {
	s.mu.Lock()
	type commit struct {
		flow    string
		p       pendingIncident
		items   []store.OutboxItem
		upToSeq int64
	}
	var todo []commit
	for flow, p := range s.incidents {
		c := commit{flow: flow, p: p}
		for _, it := range s.items {
			if it.Flow == flow && !it.Sent {
				it.NextAttempt = s.opts.Now() // due in the outbox at once
				c.items = append(c.items, it.OutboxItem)
				c.upToSeq = it.Seq
			}
		}
		todo = append(todo, c)
	}
	s.mu.Unlock()
	for _, c := range todo {
		if err := s.backend.CommitIncident(ctx, c.flow, c.p.state, c.items); err != nil &&
			!s.refused(err, "an incident state and its notifications", "flow", c.flow, "notifications", len(c.items)) {
			return false, err
		}
		s.mu.Lock()
		if s.incidents[c.flow].version == c.p.version {
			delete(s.incidents, c.flow)
		}
		s.items = slices.DeleteFunc(s.items, func(it Item) bool { return it.Flow == c.flow && (it.Sent || it.Seq <= c.upToSeq) })
		s.mu.Unlock()
	}
	return len(todo) > 0, nil
}

func (s *Store) flushSecrets(ctx context.Context) (bool, error) {
	s.mu.Lock()
	todo := make(map[string]*string, len(s.secrets))
	for k, v := range s.secrets {
		todo[k] = v
	}
	s.mu.Unlock()
	for key, v := range todo {
		var err error
		if v == nil {
			err = s.backend.DeleteSecret(ctx, key)
		} else {
			err = s.backend.SaveSecret(ctx, key, *v)
		}
		if err != nil && !s.refused(err, "a secret", "key", key) {
			return false, err
		}
		s.mu.Lock()
		if s.secrets[key] == v {
			delete(s.secrets, key)
		}
		s.mu.Unlock()
	}
	return len(todo) > 0, nil
}

func (s *Store) flushMarks(ctx context.Context) (bool, error) {
	s.mu.Lock()
	todo := make(map[int64]mark, len(s.marks))
	for id, m := range s.marks {
		todo[id] = m
	}
	s.mu.Unlock()
	for id, m := range todo {
		var err error
		switch m.kind {
		case markDelivered:
			err = s.backend.Delivered(ctx, id, m.at)
		case markRetry:
			err = s.backend.Retry(ctx, id, m.attempts, m.next, m.lastErr)
		case markDead:
			err = s.backend.Dead(ctx, id, m.at, m.lastErr)
		}
		if err != nil && !s.refused(err, "a delivery outcome", "outbox_id", id) {
			return false, err
		}
		s.mu.Lock()
		if s.marks[id] == m {
			delete(s.marks, id)
		}
		s.mu.Unlock()
	}
	return len(todo) > 0, nil
}

func (s *Store) flushForget(ctx context.Context) (bool, error) {
	s.mu.Lock()
	keep, set := s.forget, s.forgetSet
	s.mu.Unlock()
	if !set {
		return false, nil
	}
	if err := s.backend.ForgetFlows(ctx, keep); err != nil && !s.refused(err, "a removal of flows") {
		return false, err
	}
	s.mu.Lock()
	if slices.Equal(s.forget, keep) {
		s.forget, s.forgetSet = nil, false
	}
	s.mu.Unlock()
	return true, nil
}
