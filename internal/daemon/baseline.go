package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/store"
)

// baselineSaveEvery spaces the saves of a baseline that only added latency
// samples: a crash loses at most that many samples, never a learned value
// nor a drift's since.
const baselineSaveEvery = 60

// baselineLearnSaveEvery spaces the saves of a learning baseline: its
// progress shows on the page, but losing a few runs of it to a crash
// costs only their relearning.
const baselineLearnSaveEvery = 5

// baselineFlushEvery is how often the daemon writes the baselines its runs
// changed, all in one transaction: a commit per baseline took the SQLite
// writer from the runs at 10,000 flows (records lost to their deadline).
const baselineFlushEvery = 2 * time.Second

// baselines keeps each flow's learned baseline (internal/baseline) in
// memory and in the store, compares every passing run with it, and applies
// the accepts recorded in the store (authwatch baseline accept, the flow
// page's button). Runs of one flow never overlap, but runs of different
// flows do: the map is locked, each flow's baseline is used by one run at
// a time.
type baselines struct {
	db  store.Baselines // nil: kept in memory only
	log *slog.Logger

	mu     sync.Mutex
	byFlow map[string]*flowBaseline
	// batched: saves wait for flush (the daemon's); else each is written
	// at once (the demo).
	batched bool
	pending map[string]*flowBaseline // to write at the next flush
}

type flowBaseline struct {
	mu      sync.Mutex // a run's check, or the save at shutdown
	b       *baseline.Baseline
	unsaved int       // runs observed since the last save
	savedAt time.Time // the Updated time of a batched save
}

func newBaselines(backend any, log *slog.Logger) *baselines {
	db, _ := backend.(store.Baselines)
	return &baselines{db: db, log: log, byFlow: map[string]*flowBaseline{}}
}

// check compares a passing run with its flow's baseline (learning from it
// while the baseline learns) and adds a baseline_changed warning to the
// run when it drifted. A failed or cancelled run is neither learned nor
// compared: a change the flow's expectations fail on stays that failure.
func (bs *baselines) check(ctx context.Context, f *flows.Flow, r *flows.Result) {
	if bs == nil || f == nil || !f.Baseline.Enabled() {
		return
	}
	if !baseline.Observable(r) {
		return
	}
	fb := bs.load(ctx, f)
	fb.mu.Lock()
	defer fb.mu.Unlock()
	accepted := bs.applyAccepts(ctx, fb.b)
	learning := fb.b.Learning()
	before := driftMarks(fb.b.Drifts)
	drifts, _ := fb.b.ObserveRun(r, baseline.RulesOf(f))
	baseline.Warn(r, drifts, r.Start)
	fb.unsaved++
	// Saved when what the page shows changes (an accept, the end of
	// learning, a drift starting or ending), every few runs while
	// learning, and every baselineSaveEvery runs for the latencies.
	switch {
	case accepted, learning && !fb.b.Learning(), !slices.Equal(before, driftMarks(fb.b.Drifts)),
		learning && fb.unsaved >= baselineLearnSaveEvery, fb.unsaved >= baselineSaveEvery:
		bs.save(ctx, fb, r.Start)
	}
}

// driftMarks names a baseline's standing drifts and since when: a drift
// whose value moves while it stands is not a change to save.
func driftMarks(ds []baseline.Drift) []string {
	if len(ds) == 0 {
		return nil
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Step + "\x00" + d.Key + "\x00" + d.Since.String()
	}
	return out
}

// load returns the flow's baseline: from memory, else from the store, else
// a new one. A baseline learned for another definition of the flow (its
// digest changed) is learned anew.
func (bs *baselines) load(ctx context.Context, f *flows.Flow) *flowBaseline {
	bs.mu.Lock()
	fb := bs.byFlow[f.Name]
	bs.mu.Unlock()
	if fb == nil {
		fb = &flowBaseline{b: bs.fromStore(ctx, f.Name)}
	}
	if fb.b == nil || fb.b.Digest != f.Digest {
		fb = &flowBaseline{b: baseline.New(f.Name, f.Digest, f.Baseline.LearnRuns())}
		if old := bs.fromStore(ctx, f.Name); old != nil {
			// The accepts made so far belong to the old definition.
			fb.b.LastAccept = old.LastAccept
		}
	}
	bs.mu.Lock()
	bs.byFlow[f.Name] = fb
	bs.mu.Unlock()
	return fb
}

// forgetExcept drops from memory the baselines of flows no longer
// configured (a reload removed or renamed them), so that reloads do not
// grow the daemon; what waits for the flusher is still written, and the
// store keeps them for a flow that comes back.
func (bs *baselines) forgetExcept(configured map[string]bool) {
	if bs == nil {
		return
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for name := range bs.byFlow {
		if !configured[name] {
			delete(bs.byFlow, name)
		}
	}
}

func (bs *baselines) fromStore(ctx context.Context, flow string) *baseline.Baseline {
	if bs.db == nil {
		return nil
	}
	rec, found, err := bs.db.LoadBaseline(ctx, flow)
	if err != nil {
		bs.log.Warn("reading the flow's baseline failed: learning it anew", "flow", flow, "err", err)
		return nil
	}
	if !found {
		return nil
	}
	var b baseline.Baseline
	if err := json.Unmarshal(rec.Data, &b); err != nil {
		bs.log.Warn("the flow's stored baseline is unreadable: learning it anew", "flow", flow, "err", err)
		return nil
	}
	b.ShareStrings()
	return &b
}

// applyAccepts applies the accepts recorded since the last one applied. An
// accept takes the drifts shown when it was made as normal; one made while
// nothing had drifted changes nothing.
func (bs *baselines) applyAccepts(ctx context.Context, b *baseline.Baseline) bool {
	if bs.db == nil || len(b.Drifts) == 0 {
		return false
	}
	accepts, err := bs.db.BaselineAccepts(ctx, b.Flow, b.LastAccept, 0)
	if err != nil {
		bs.log.Warn("reading the flow's baseline accepts failed", "flow", b.Flow, "err", err)
		return false
	}
	applied := false
	for _, a := range accepts {
		b.LastAccept = a.ID
		if len(b.Drifts) > 0 && !a.At.Before(firstSince(b.Drifts)) {
			accepted := b.Accept(a.By, a.At)
			bs.log.Info("baseline accepted", "flow", b.Flow, "by", a.By, "changes", accepted.Drifts)
			applied = true
		}
	}
	return applied || len(accepts) > 0
}

func firstSince(drifts []baseline.Drift) time.Time {
	first := drifts[0].Since
	for _, d := range drifts[1:] {
		if d.Since.Before(first) {
			first = d.Since
		}
	}
	return first
}

func (bs *baselines) save(ctx context.Context, fb *flowBaseline, now time.Time) {
	fb.unsaved = 0
	if bs.db == nil {
		return
	}
	if bs.batched {
		fb.savedAt = now
		bs.mu.Lock()
		if bs.pending == nil {
			bs.pending = map[string]*flowBaseline{}
		}
		bs.pending[fb.b.Flow] = fb
		bs.mu.Unlock()
		return
	}
	data, err := json.Marshal(fb.b)
	if err == nil {
		err = bs.db.SaveBaseline(ctx, store.Baseline{Flow: fb.b.Flow, Data: data, Updated: now})
	}
	if err != nil {
		bs.log.Warn("saving the flow's baseline failed (kept in memory)", "flow", fb.b.Flow, "err", err)
	}
}

// flush writes the baselines saved since the last flush, in one
// transaction; on failure they stay pending for the next.
func (bs *baselines) flush(ctx context.Context) {
	if bs == nil || bs.db == nil {
		return
	}
	bs.mu.Lock()
	pending := bs.pending
	bs.pending = nil
	bs.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	batch := make([]store.Baseline, 0, len(pending))
	for _, fb := range pending {
		fb.mu.Lock()
		data, err := json.Marshal(fb.b)
		at := fb.savedAt
		fb.mu.Unlock()
		if err != nil {
			bs.log.Warn("saving the flow's baseline failed (kept in memory)", "flow", fb.b.Flow, "err", err)
			continue
		}
		batch = append(batch, store.Baseline{Flow: fb.b.Flow, Data: data, Updated: at})
	}
	if err := bs.db.SaveBaselines(ctx, batch); err != nil {
		bs.log.Warn("saving the flows' baselines failed (kept in memory, retried)", "baselines", len(batch), "err", err)
		bs.mu.Lock()
		if bs.pending == nil {
			bs.pending = map[string]*flowBaseline{}
		}
		for flow, fb := range pending {
			if _, newer := bs.pending[flow]; !newer {
				bs.pending[flow] = fb
			}
		}
		bs.mu.Unlock()
	}
}

// runFlusher flushes every baselineFlushEvery until ctx ends.
func (bs *baselines) runFlusher(ctx context.Context) {
	t := time.NewTicker(baselineFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			bs.flush(fctx)
			cancel()
		}
	}
}

// saveAll saves every baseline with unsaved samples, at shutdown.
func (bs *baselines) saveAll(ctx context.Context, now time.Time) {
	if bs == nil {
		return
	}
	defer bs.flush(ctx)
	bs.mu.Lock()
	pending := make([]*flowBaseline, 0, len(bs.byFlow))
	for _, fb := range bs.byFlow {
		pending = append(pending, fb)
	}
	bs.mu.Unlock()
	for _, fb := range pending {
		fb.mu.Lock()
		if fb.unsaved > 0 {
			bs.save(ctx, fb, now)
		}
		fb.mu.Unlock()
	}
}

// Baselines is the daemon's baseline keeping for a run loop of its own:
// the demo compares its runs the way the daemon does, so its page shows
// the same baselines and warnings. (Its store is thrown away at exit, so
// nothing is saved at shutdown.)
type Baselines struct{ bs *baselines }

// NewBaselines keeps baselines in backend when it is a store.Baselines,
// else in memory.
func NewBaselines(backend any, log *slog.Logger) *Baselines {
	return &Baselines{bs: newBaselines(backend, log)}
}

// Check compares a run of f with f's baseline as the daemon does for each
// result, adding a baseline_changed warning to r when it drifted.
func (b *Baselines) Check(ctx context.Context, f *flows.Flow, r *flows.Result) { b.bs.check(ctx, f, r) }
