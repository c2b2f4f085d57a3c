package sqlite

import (
	"context"
	"fmt"

	"github.com/authwatch/authwatch/internal/store"
)

// RunsBefore returns the flow's runs older than the run with ID before (in
// the order of Runs: by start, then ID), newest first, at most limit of
// them: the pages after the first of a flow's history. A before that is
// not a run of the flow (pruned, or another flow's) returns none: pruning
// deletes the oldest runs, so none older than it is left either.
func (s *Store) RunsBefore(ctx context.Context, flow string, before int64, limit int) ([]store.Run, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE flow = ?1
		AND (start_ns, id) < (SELECT start_ns, id FROM runs WHERE id = ?2 AND flow = ?1)
		ORDER BY start_ns DESC, id DESC LIMIT ?3`, flow, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: runs of flow %q before %d: %w", flow, before, err)
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: runs of flow %q before %d: %w", flow, before, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: runs of flow %q before %d: %w", flow, before, err)
	}
	return out, nil
}
