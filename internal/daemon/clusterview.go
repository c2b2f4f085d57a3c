package daemon

import (
	"context"
	"time"
)

// A cluster node keeps in memory the states and metrics of the runs it
// made; the flows other nodes run would show what they were when this
// node last ran them (a flow failing here, moved to another node, passing
// there, still failing here). So every clusterViewRefresh a node reads the
// states of the flows it does not run from the store (status page, API,
// status line) and drops their per-flow result series from /metrics:
// those are exported by the node that runs the flow.
const clusterViewRefresh = 5 * time.Second

// runClusterView refreshes the view of other nodes' flows until ctx ends.
func (m *Main) runClusterView(ctx context.Context) {
	if m.cluster == nil {
		return
	}
	ticker := time.NewTicker(clusterViewRefresh)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		m.refreshClusterView(ctx)
	}
}

// refreshClusterView is one refresh: the flows not run here take their
// states from the store and lose their result series here.
func (m *Main) refreshClusterView(ctx context.Context) {
	notHere := map[string]bool{}
	var names []string
	for _, f := range m.currentFlows() {
		if _, held := m.cluster.Holds(f.Name); !held || !m.runsHere(f.Name) {
			notHere[f.Name] = true
			names = append(names, f.Name)
		}
	}
	if len(names) == 0 {
		return
	}
	m.metrics.ForgetFlowResults(names)
	states, err := m.store.FlowStates(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Debug("cluster: reading the states of other nodes' flows failed", "err", err)
		}
		return
	}
	for _, st := range m.worstStates(states, time.Now()) {
		// Held since the list was made: this node's own runs set it now.
		if _, held := m.cluster.Holds(st.Flow); notHere[st.Flow] && (!held || !m.runsHere(st.Flow)) {
			m.lastState.Set(st)
		}
	}
	m.updateStatus()
}
