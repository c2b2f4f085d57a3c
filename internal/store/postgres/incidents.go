package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
)

// incidentLockClass is the first key of the advisory locks that serialize
// a flow's incident steps ("awic"); the second is a hash of the flow's
// name. Two-key advisory locks do not share the keyspace of the one-key
// locks (migrations, the instance lock).
const incidentLockClass int32 = 0x61776963

var _ store.SharedIncidents = (*Store)(nil)

// StepIncident implements store.SharedIncidents: the lock is a
// transaction-scoped advisory lock on the flow (no row is written to take
// it), then two reads, step, and the writes of CommitIncident; three round
// trips besides BEGIN and COMMIT when step writes.
func (s *Store) StepIncident(ctx context.Context, flow string, step store.IncidentStep) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var stored []byte
		var states []store.FlowState
		b := &pgx.Batch{}
		var fence fenceCheck
		queueFence(ctx, b, &fence)
		b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, incidentLockClass, flow)
		b.Queue(`SELECT state FROM incident_state WHERE flow = $1`, flow).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&stored); !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			return nil
		})
		b.Queue(`SELECT `+stateColumns+` FROM flow_state WHERE flow = $1 AND runs > 0 ORDER BY location COLLATE "C"`, flow).
			Query(func(rows pgx.Rows) error {
				var err error
				states, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.FlowState, error) { return scanState(row, nil) })
				return err
			})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if err := fence.err(); err != nil {
			return err
		}
		state, items, err := step(stored, states)
		if err != nil || state == nil {
			return err
		}
		b = &pgx.Batch{}
		queueCommit(b, flow, state, items)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return s.errorf("store: incident step of %q: %w", flow, err)
	}
	return nil
}
