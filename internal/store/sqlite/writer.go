package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// maxBatch bounds how many runs one commit carries, and so how long the
// write lock is held (about 0.15 ms of CPU per run).
const maxBatch = 128

var errClosed = errors.New("store is closed")

// recordReq is a RecordRun waiting for the writer; resp has room for the
// answer, so the writer never blocks on it.
type recordReq struct {
	ctx  context.Context
	run  store.Run
	resp chan recordResp
}

type recordResp struct {
	state store.FlowState
	err   error
}

// writeLoop is the group commit: it takes the runs whose RecordRun calls are
// waiting (they queue while the previous commit syncs) and records them in
// one transaction, so one fsync makes a whole batch durable. A batch it took
// is always committed (or failed) and answered before it looks at closing.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	var lastCommit time.Time
	for {
		select {
		case <-s.closing:
			// The open roll-ups; an error leaves them lost, as a crash
			// would (at most a minute of each flow's counts).
			_ = s.flushAll(context.Background())
			return
		case req := <-s.records:
			batch := s.collect(req)
			if wait := time.Duration(s.commitEvery.Load()) - time.Since(lastCommit); wait > 0 {
				batch = s.collectFor(batch, wait)
			}
			lastCommit = time.Now()
			for i, resp := range s.recordBatch(batch) {
				batch[i].resp <- resp
			}
		}
	}
}

// collect returns first and the requests already waiting, up to maxBatch.
func (s *Store) collect(first recordReq) []recordReq {
	batch := []recordReq{first}
	for len(batch) < maxBatch {
		select {
		case req := <-s.records:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// collectFor adds the requests that arrive within wait, up to maxBatch. It
// stops early when the store closes: the batch is still committed.
func (s *Store) collectFor(batch []recordReq, wait time.Duration) []recordReq {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(batch) < maxBatch {
		select {
		case req := <-s.records:
			batch = append(batch, req)
		case <-timer.C:
			return batch
		case <-s.closing:
			return batch
		}
	}
	return batch
}

// recordBatch records the batch in one transaction. A request whose context
// ended while it waited is skipped; any other error fails the whole batch,
// of which nothing is then committed.
func (s *Store) recordBatch(batch []recordReq) []recordResp {
	resps := make([]recordResp, len(batch))
	fail := func(err error) []recordResp {
		for i := range resps {
			resps[i] = recordResp{err: err}
		}
		return resps
	}
	// The batch's own context: the callers' contexts were checked when
	// their runs were taken, and a taken run is committed or failed as one.
	ctx := context.Background()
	// The write connection first, then hist.mu (see history): waiting for
	// the connection (a prune's statement) holds no lock that readers of
	// the open roll-ups need.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	s.hist.mu.Lock()
	// The writer's memory is put back as it was if the batch fails.
	undo := newUndo(&s.hist)
	err = s.recordRuns(ctx, tx, undo, batch, resps)
	s.hist.mu.Unlock()
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		s.hist.mu.Lock()
		undo.restore(&s.hist)
		s.hist.mu.Unlock()
		return fail(err)
	}
	s.commits.Add(1)
	return resps
}

// recordRuns records the batch's runs inside tx, writes the runs they
// pushed out and sweeps the roll-ups of past minutes. s.hist.mu is held.
func (s *Store) recordRuns(ctx context.Context, tx *sql.Tx, undo *batchUndo, batch []recordReq, resps []recordResp) error {
	newest := int64(math.MinInt64)
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			resps[i].err = err
			continue
		}
		var err error
		if resps[i].state, err = s.recordRun(ctx, tx, undo, req.run); err != nil {
			return err
		}
		newest = max(newest, unixMinute(req.run.Start))
	}
	if err := s.deleteEvicted(ctx, tx, undo); err != nil {
		return err
	}
	return s.sweep(ctx, tx, undo, newest)
}
