package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/cluster"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/scheduler"
)

// setupCluster makes the daemon a cluster node (cluster.enabled): it then
// runs only the flows of the shards it leases (docs/cluster.md).
func (m *Main) setupCluster() error {
	if !m.cfg.Cluster.Enabled {
		return nil
	}
	pg, ok := m.db.(*postgres.Store)
	if !ok {
		return errors.New("cluster.enabled needs store.postgres")
	}
	m.cluster = cluster.New(pg, cluster.Options{Location: m.cfg.Cluster.Location,
		Logger: m.log.With("component", "cluster"), OnClaim: m.reloadIncidents, OnLose: m.cancelLostRuns})
	m.alert.owns = m.ownsFlow
	m.alert.across = &acrossLocations{store: pg, here: m.cluster.Location(), places: &m.places, shown: m.showWorst}
	m.log.Info("cluster node", "node", m.cluster.Node(), "location", m.cluster.Location())
	return nil
}

// admitRun is the scheduler's Admit: a run is ours unless another node
// holds the flow's shard; a cluster node's run carries the lease fence it
// was admitted under (its admission). A node that runs none of the flows
// is still active (its health and the watchdog).
func (m *Main) admitRun(flow string) (any, bool) {
	if held, _ := m.instanceHeld(); !held {
		m.markActivity() // not stuck: kept from running on purpose, as /readyz says
		return nil, false
	}
	if m.cluster == nil {
		if m.instance != nil {
			return instanceAdmission{}, true // revocable when the lock is lost
		}
		return nil, true
	}
	m.markActivity()
	if !m.runsHere(flow) {
		return nil, false // another location's flow
	}
	f, ok := m.cluster.Admit(flow)
	return f, ok
}

// fenced returns ctx carrying the lease fence a run was admitted under
// (admitRun), so that the store refuses its writes once another node has
// taken the shard.
func (m *Main) fenced(ctx context.Context, admission any) context.Context {
	if f, ok := admission.(store.Fence); ok {
		return store.WithFence(ctx, f)
	}
	return ctx
}

// skipLeaseLost is the "why" of authwatch_runs_skipped_total for a run
// cancelled because its node lost the flow's shard: its result was not
// the flow's, and another node runs the flow.
const skipLeaseLost = "lease_lost"

// shardLost is why a run was cancelled: the node no longer holds its
// flow's shard under the lease generation it was admitted under.
type shardLost struct{ shard int }

func (e shardLost) Error() string { return fmt.Sprintf("shard %d lost", e.shard) }

// cancelLostRuns is the member's OnLose: it cancels the runs in progress
// under the fences the node no longer holds, so that two nodes never
// call a flow's target at once (the store's fence only keeps the second
// record out). Their results are discarded (onRevoked).
func (m *Main) cancelLostRuns(lost []store.Fence) {
	gone := make(map[store.Fence]bool, len(lost))
	for _, f := range lost {
		gone[f] = true
	}
	m.sched.Revoke(func(admission any) error {
		if f, ok := admission.(store.Fence); ok && gone[f] {
			return shardLost{f.Shard}
		}
		return nil
	})
}

// onRevoked is the scheduler's OnRevoked: a run cancelled (or never
// started) because its shard was lost. Its result is not the flow's: it
// is not recorded, counted as a failure nor paged; it is counted as a
// skip (lease_lost, or instance_lock_lost) and said in the log.
func (m *Main) onRevoked(ev scheduler.Event, cause error) {
	m.markActivity()
	why := skipLeaseLost
	if errors.As(cause, new(instanceLost)) {
		why = skipInstanceLost
	}
	m.metrics.Skipped(ev.Flow.Name, why)
	m.log.Info("run of "+ev.Flow.Name+" cancelled: "+cause.Error(), "flow", ev.Flow.Name, "started", ev.Result != nil)
}

// fencedOff reports (and logs) a run whose record the store refused
// because the flow's shard moved to another node meanwhile.
func (m *Main) fencedOff(flow string, err error) bool {
	if !errors.Is(err, store.ErrStaleLease) {
		return false
	}
	m.log.Warn("run discarded: the flow's shard moved to another node while it ran", "flow", flow)
	return true
}

// ownsFlow reports whether this node sends flow's reminders now, and the
// fence to write them under (always true for a single node).
func (m *Main) ownsFlow(ctx context.Context, flow string) (context.Context, bool) {
	if m.cluster == nil {
		return ctx, true
	}
	f, ok := m.cluster.Holds(flow)
	if !ok || !m.runsHere(flow) {
		return ctx, false
	}
	return store.WithFence(ctx, f), true
}

// joinCluster runs the first lease cycle before the scheduler starts, so
// that a node starting alone runs its flows from their first planned
// start. A failure is logged; Run keeps trying.
func (m *Main) joinCluster(ctx context.Context) {
	if m.cluster == nil {
		return
	}
	if _, err := m.cluster.Cycle(ctx); err != nil {
		m.log.Warn("cluster: first lease cycle failed; retrying", "err", err)
	}
}

// runCluster renews the leases until ctx ends, then gives them back.
func (m *Main) runCluster(ctx context.Context) {
	if m.cluster != nil {
		m.cluster.Run(ctx)
	}
}

// clusterReadiness is why the node is not ready ("" when it is), and what
// /readyz says of its leases.
func (m *Main) clusterReadiness() (cause string, detail map[string]any) {
	if m.cluster == nil {
		return "", nil
	}
	st := m.cluster.Status()
	detail = map[string]any{"node": st.Node, "location": st.Location, "shards": st.Shards, "live_nodes": st.LiveNodes}
	if st.Lost {
		return "cluster: lease lost", detail
	}
	return "", detail
}

// reloadIncidents reads the incident states of the flows of shards this
// node just claimed: their previous holder wrote them, and this node's
// memory of them is stale. While it fails, the member does not run those
// shards' flows (and retries at its next cycle).
func (m *Main) reloadIncidents(shards []int) error {
	if m.alert == nil {
		return nil
	}
	claimed := make(map[int]bool, len(shards))
	for _, s := range shards {
		claimed[s] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.alert.reload(ctx, func(flow string) bool { return claimed[cluster.ShardOf(flow)] }); err != nil {
		return fmt.Errorf("reading the incident states of claimed flows: %w", err)
	}
	return nil
}

// reload replaces the incident states of the flows mine selects with the
// stored ones.
func (a *alerting) reload(ctx context.Context, mine func(flow string) bool) error {
	raw, err := a.outbox.IncidentStates(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for flow := range a.states {
		if mine(flow) {
			delete(a.states, flow)
			delete(a.stored, flow)
		}
	}
	for flow, b := range raw {
		var st incident.State
		if flow == MonitorFlow || !mine(flow) {
			continue
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("incident state of %q: %w", flow, err)
		}
		a.states[flow], a.stored[flow] = st, st
	}
	return nil
}
