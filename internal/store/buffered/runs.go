package buffered

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// RecordRun records r in the backend or, when the backend fails (or has
// failed and not been flushed since), in memory; either way it returns the
// flow's new state and no error for a refusal of the backend. Its error is
// the caller's own (an ended context, an invalid run), or the backend's for
// a fenced write (see notKept).
func (s *Store) RecordRun(ctx context.Context, r store.Run) (store.FlowState, error) {
	if err := r.Validate(); err != nil {
		return store.FlowState{}, err
	}
	_, fenced := store.FenceFrom(ctx)
	s.mu.Lock()
	if s.failing && !fenced {
		defer s.mu.Unlock()
		return s.keepRunLocked(r), nil
	}
	s.mu.Unlock()
	st, err := s.backend.RecordRun(ctx, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.states[r.Flow] = st
		return st, nil
	case !isStoreFault(ctx, err):
		return store.FlowState{}, err
	}
	s.failLocked(err)
	if fenced {
		return store.FlowState{}, notKept(err)
	}
	return s.keepRunLocked(r), nil
}

// notKept is the error of a fenced write (store.Fence: a cluster node's)
// that the backend failed: it is not kept in memory, since memory is
// written back unfenced, possibly after another node took the flow over,
// and its pages would be sent directly by a node that may no longer run
// the flow. Such a write is tried on the backend even while it fails: the
// fence keeps it safe, and the node stops running flows anyway when it
// cannot renew its leases.
func notKept(err error) error {
	return fmt.Errorf("buffered: a fenced write is not held in memory: %w", err)
}

// keepRunLocked keeps r in memory with the state it leads to; s.mu is held.
func (s *Store) keepRunLocked(r store.Run) store.FlowState {
	st := s.states[r.Flow].Next(r)
	s.states[r.Flow] = st
	s.nextSeq++
	s.runs = append(s.runs, pendingRun{seq: s.nextSeq, run: r, state: st})
	s.evidence += len(r.Steps)
	s.boundRunsLocked()
	return st
}

// boundRunsLocked drops the step details of the oldest runs beyond
// MaxEvidenceBytes, then the oldest runs beyond MaxRuns.
func (s *Store) boundRunsLocked() {
	for i := 0; s.evidence > s.opts.MaxEvidenceBytes && i < len(s.runs); i++ {
		if n := len(s.runs[i].run.Steps); n > 0 {
			s.runs[i].run.Steps = nil
			s.evidence -= n
			s.health.Stripped++
		}
	}
	if over := len(s.runs) - s.opts.MaxRuns; over > 0 {
		for _, p := range s.runs[:over] {
			s.evidence -= len(p.run.Steps)
		}
		s.runs = slices.Delete(s.runs, 0, over)
		s.health.Dropped += int64(over)
	}
}

// FlowStates returns the backend's states overlaid by memory; while the
// backend fails, memory's alone (it has every flow's latest state).
func (s *Store) FlowStates(ctx context.Context) ([]store.FlowState, error) {
	s.mu.Lock()
	failing, closed := s.failing, s.closed
	s.mu.Unlock()
	if !failing || closed {
		if states, err := s.backend.FlowStates(ctx); err == nil || closed {
			return states, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.FlowState, 0, len(s.states))
	for _, st := range s.states {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b store.FlowState) int { return strings.Compare(a.Flow, b.Flow) })
	return out, nil
}

// MemoryState returns the flow's state as memory holds it (the backend's
// at New, then each recorded run's), without reading the backend.
func (s *Store) MemoryState(flow string) (store.FlowState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[flow]
	return st, ok
}

// FlowState returns the flow's state as of its last recorded run.
func (s *Store) FlowState(ctx context.Context, flow string) (store.FlowState, bool, error) {
	s.mu.Lock()
	st, ok := s.states[flow]
	s.mu.Unlock()
	if ok {
		return st, true, nil
	}
	return s.backend.FlowState(ctx, flow)
}

// Runs returns the runs kept in memory (newest first) followed by the
// backend's. While the backend fails, a read it refuses gives memory's runs
// alone.
func (s *Store) Runs(ctx context.Context, flow string, limit int) ([]store.Run, error) {
	s.mu.Lock()
	var kept []store.Run
	for i := len(s.runs) - 1; i >= 0 && (limit <= 0 || len(kept) < limit); i-- {
		if s.runs[i].run.Flow == flow {
			kept = append(kept, s.runs[i].run)
		}
	}
	failing := s.failing
	s.mu.Unlock()
	if limit > 0 && len(kept) >= limit {
		return kept, nil
	}
	rest := limit
	if limit > 0 {
		rest = limit - len(kept)
	}
	stored, err := s.backend.Runs(ctx, flow, rest)
	if err != nil {
		if failing {
			return kept, nil
		}
		return nil, err
	}
	return append(kept, stored...), nil
}

// Prune prunes the backend; while it fails, nothing (the next prune will).
func (s *Store) Prune(ctx context.Context, now time.Time, ret store.Retention) (int, error) {
	if err := s.failingErr(); err != nil {
		return 0, err
	}
	return s.backend.Prune(ctx, now, ret)
}

// ForgetFlows drops the states of flows not in keep, in memory at once and
// in the backend now or at the next flush.
func (s *Store) ForgetFlows(ctx context.Context, keep []string) error {
	kept := make(map[string]bool, len(keep))
	for _, f := range keep {
		kept[f] = true
	}
	s.mu.Lock()
	for flow := range s.states {
		if !kept[flow] {
			delete(s.states, flow)
		}
	}
	if s.failing {
		s.forget, s.forgetSet = slices.Clone(keep), true
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.backend.ForgetFlows(ctx, keep)
}

// failingErr is an error while the backend fails.
func (s *Store) failingErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return &FailingError{Since: s.health.Since, Last: s.health.LastError}
	}
	return nil
}

// FailingError is returned by calls that have no memory fallback (Prune,
// PruneOutbox) while the backend fails.
type FailingError struct {
	Since time.Time
	Last  string
}

func (e *FailingError) Error() string {
	return "state store unwritable since " + e.Since.UTC().Format(time.RFC3339) + ": " + e.Last
}

// RunsBefore pages through the backend's history (runs held in memory have
// no ID yet and are always the newest: they come only with the first page,
// from Runs).
func (s *Store) RunsBefore(ctx context.Context, flow string, before int64, limit int) ([]store.Run, error) {
	pager, ok := s.backend.(interface {
		RunsBefore(ctx context.Context, flow string, before int64, limit int) ([]store.Run, error)
	})
	if !ok {
		return nil, errors.New("buffered: the backend does not page runs")
	}
	return pager.RunsBefore(ctx, flow, before, limit)
}

// Rollups reads the backend's roll-ups (runs held in memory while the
// backend fails are not in them). While the backend fails, a read error is
// ErrNoRollups: the status page then shows its figures from the runs
// (those in memory included) instead of an error, as Runs does.
func (s *Store) Rollups(ctx context.Context, flow string, tier store.Tier, since time.Time) ([]store.Rollup, error) {
	rr, ok := s.backend.(store.RollupReader)
	if !ok {
		return nil, store.ErrNoRollups
	}
	ups, err := rr.Rollups(ctx, flow, tier, since)
	if err != nil && s.failingErr() != nil {
		return nil, store.ErrNoRollups
	}
	return ups, err
}

// RollupTotals reads the backend's roll-up totals, as Rollups.
func (s *Store) RollupTotals(ctx context.Context, tier store.Tier, since time.Time) (map[string]store.Rollup, error) {
	rr, ok := s.backend.(store.RollupReader)
	if !ok {
		return nil, store.ErrNoRollups
	}
	totals, err := rr.RollupTotals(ctx, tier, since)
	if err != nil && s.failingErr() != nil {
		return nil, store.ErrNoRollups
	}
	return totals, err
}
