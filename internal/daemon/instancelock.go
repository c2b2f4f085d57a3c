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
		m.cancelRunsWithoutLock()
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

// skipInstanceLost is the "why" of authwatch_runs_skipped_total for a run
// cancelled because the daemon lost its instance lock while it ran.
const skipInstanceLost = "instance_lock_lost"

// instanceAdmission is the admission of a single daemon's run on
// PostgreSQL: it makes the run revocable (a nil admission is not).
type instanceAdmission struct{}

// instanceLost is why a run was cancelled: the daemon lost its instance
// lock, so another daemon may run the same flows now.
type instanceLost struct{}

func (instanceLost) Error() string { return "instance lock lost" }

// cancelRunsWithoutLock cancels the runs in progress when the instance
// lock is lost: whoever took it runs these flows now, and a run of ours
// would call the same targets at the same time and page for them too.
// Their results are discarded (onRevoked), as a cluster node's are when
// it loses a shard.
func (m *Main) cancelRunsWithoutLock() {
	if m.sched == nil {
		return
	}
	n := m.sched.Revoke(func(admission any) error {
		if admission != nil {
			return instanceLost{}
		}
		return nil
	})
	if n > 0 {
		m.log.Warn("runs in progress cancelled: instance lock lost", "runs", n)
	}
}
