package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/store/postgres"
)

// The instance lock keeps two daemons that do not share flows off one
// PostgreSQL database (each would run every flow and page twice): a
// daemon takes it at start, exclusively, or shared as a cluster node, and
// refuses to start without it. guardInstanceLock checks it every
// instanceLockCheck; while it is lost (its connection dropped and another
// daemon took it), the daemon runs no flow and /readyz says why.
const instanceLockCheck = 10 * time.Second

// lockInstance takes the instance lock on PostgreSQL.
func (m *Main) lockInstance() error {
	pg, ok := m.db.(*postgres.Store)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresOpenTimeout)
	defer cancel()
	l, err := pg.LockInstance(ctx, m.cfg.Cluster.Enabled)
	if err != nil {
		return fmt.Errorf("store.postgres: %w", err)
	}
	m.instance = l
	return nil
}

// guardInstanceLock checks the lock every instanceLockCheck until ctx
// ends, on its own goroutine: not behind the store guard's work (a direct
// delivery can take an attempt's timeout), so a dead lock connection reads
// as lost within instanceLockCheck plus one check's timeout.
func (m *Main) guardInstanceLock(ctx context.Context) {
	if m.instance == nil {
		return
	}
	ticker := time.NewTicker(instanceLockCheck)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		m.checkInstance(ctx)
	}
}

// checkInstance checks the lock, taking it again if its connection
// dropped; a change is logged once.
func (m *Main) checkInstance(ctx context.Context) {
	was, _ := m.instance.Held()
	err := m.instance.Check(ctx)
	switch {
	case err != nil && was:
		m.log.Error("instance lock on the PostgreSQL database lost: running no flow until it is taken again", "err", err)
	case err == nil && !was:
		m.log.Info("instance lock on the PostgreSQL database taken again: running flows")
	}
}

// instanceHeld reports whether this daemon may run flows, and why not.
func (m *Main) instanceHeld() (bool, string) {
	if m.instance == nil {
		return true, ""
	}
	if held, err := m.instance.Held(); !held {
		return false, fmt.Sprintf("instance lock lost: %v", err)
	}
	return true, ""
}

func (m *Main) releaseInstance() error {
	if m.instance == nil {
		return nil
	}
	return m.instance.Release()
}
