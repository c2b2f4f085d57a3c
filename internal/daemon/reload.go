package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/authwatch/authwatch/flows"
)

func (m *Main) loadFlows() (*flows.Set, error) {
	set, err := flows.Load(flows.LoadOptions{Defaults: m.cfg.FlowDefaults()}, m.cfg.FlowsDir)
	if err != nil {
		return nil, err
	}
	for _, w := range set.Warnings {
		m.log.Warn("flow configuration warning", "problem", w.Error())
	}
	return set, nil
}

// Reload validates the whole new set of flows first; if anything is
// invalid, the old flows keep running and the error is logged (with every
// position) and exposed on /healthz and in metrics. Unchanged flows keep
// their schedule; removed flows stop; new ones start.
func (m *Main) Reload() {
	_ = m.notify.Reloading()
	defer func() { _ = m.notify.Ready() }()
	now := time.Now()
	set, err := m.loadFlows()
	if err == nil {
		var added, removed, kept int
		added, removed, kept, err = m.sched.Apply(set.Flows)
		if err == nil {
			m.setFlows(set.Flows)
			m.forgetRemoved(set.Flows)
			m.metrics.Reloaded(true, now)
			m.log.Info("flows reloaded", "added", added, "removed", removed, "kept", kept)
			return
		}
	}
	m.mu.Lock()
	m.lastReload = err
	m.mu.Unlock()
	m.metrics.Reloaded(false, now)
	var problems flows.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			m.log.Error("reload rejected: the old flows keep running", "problem", p.Error())
		}
		return
	}
	m.log.Error("reload rejected: the old flows keep running", "err", err)
}

func (m *Main) forgetRemoved(fs []*flows.Flow) {
	keep := make([]string, len(fs))
	for i, f := range fs {
		keep[i] = f.Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.store.ForgetFlows(ctx, keep); err != nil {
		m.log.Error("forgetting removed flows failed", "err", err)
	}
}
