package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/statuspage"
)

// loadFlows loads the flows directory; an empty one is a valid (fresh)
// install. Each warning is logged once: not again on every reload while it
// stays the same (the full list is what `authwatch validate` prints).
func (m *Main) loadFlows() (*flows.Set, error) {
	set, err := flows.Load(flows.LoadOptions{Defaults: m.cfg.FlowDefaults(), AllowEmpty: true}, m.cfg.FlowsDir)
	if err != nil {
		return nil, err
	}
	if err := m.checkSecretsStorable(set); err != nil {
		return nil, err
	}
	warnUnscheduled(set)
	m.logNewWarnings(set)
	return set, nil
}

// secretsRefuser is a backend that may have no way to store secrets
// (PostgreSQL without store.postgres.secret_key).
type secretsRefuser interface{ StoresSecrets() bool }

// checkSecretsStorable refuses, at each refresh step with persist, flows
// whose rotated refresh tokens the state store would refuse: such a flow
// would fail on its first rotation, and every run after it.
func (m *Main) checkSecretsStorable(set *flows.Set) error {
	if r, ok := m.db.(secretsRefuser); !ok || r.StoresSecrets() {
		return nil
	}
	if problems := PersistWithoutSecretStore(set); len(problems) > 0 {
		return problems
	}
	return nil
}

// PersistWithoutSecretStore is a problem at each refresh step with
// persist: true, for a state store that cannot keep secrets (PostgreSQL
// without store.postgres.secret_key); authwatch validate asks it too.
func PersistWithoutSecretStore(set *flows.Set) conf.Problems {
	var problems conf.Problems
	for _, f := range set.Flows {
		for i, spec := range f.Steps {
			if step, ok := spec.Step.(*flows.RefreshStep); ok && step.Persist {
				problems = append(problems, &conf.Problem{Pos: spec.Source, Path: fmt.Sprintf("steps[%d].persist", i),
					Message: "the state store is PostgreSQL without store.postgres.secret_key, so it cannot keep the rotated refresh token: set store.postgres.secret_key in authwatch.yaml (openssl rand -base64 32, from a secret reference) and restart, or remove persist"})
			}
		}
	}
	return problems
}

// warnUnscheduled adds a warning, at the flow, for each flow without a
// schedule: such a file is meant for `authwatch check`, and the daemon does
// not run it (it shows on the status page as not scheduled).
func warnUnscheduled(set *flows.Set) {
	for _, f := range set.Flows {
		if !f.Scheduled() {
			set.Warnings = append(set.Warnings, &conf.Problem{Pos: f.Source, Message: fmt.Sprintf(
				"flow %q has no every or cron: the daemon does not schedule it (authwatch check runs it); add every: or cron: to monitor it", f.Name)})
		}
	}
}

// scheduled are the flows the scheduler runs.
func scheduled(fs []*flows.Flow) []*flows.Flow {
	out := make([]*flows.Flow, 0, len(fs))
	for _, f := range fs {
		if f.Scheduled() {
			out = append(out, f)
		}
	}
	return out
}

// logNewWarnings logs the warnings the last load did not have (a warning
// that moved to another line counts as new) and remembers this load's.
func (m *Main) logNewWarnings(set *flows.Set) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(set.Warnings))
	for _, w := range set.Warnings {
		text := w.Error()
		seen[text] = true
		if m.loggedWarnings[text] {
			continue
		}
		if len(set.Flows) == 0 {
			m.log.Warn("flow configuration warning", "problem", text, "next_step", addFlowHint(m.cfg.FlowsDir))
			continue
		}
		m.log.Warn("flow configuration warning", "problem", text)
	}
	m.loggedWarnings = seen
}

// addFlowHint says how to add a first flow (the log and the status page).
func addFlowHint(dir string) string {
	return fmt.Sprintf("add a flow file (*.yaml) to %s, check it with `authwatch validate %s`, then `systemctl reload authwatch` "+
		"(or send SIGHUP; a watched directory reloads by itself)", dir, dir)
}

// Reload validates the whole new set of flows first; if anything is
// invalid, the old flows keep running and the error is logged (with every
// position) and exposed on /healthz and in metrics. Unchanged flows keep
// their schedule; removed flows stop; new ones start.
func (m *Main) Reload() {
	_ = m.notify.Reloading()
	defer func() {
		_ = m.notify.Ready()
		m.updateStatus()
	}()
	now := time.Now()
	err := m.reloadConfig()
	var set *flows.Set
	if err == nil {
		set, err = m.loadFlows()
	}
	if err == nil {
		var added, removed, kept int
		added, removed, kept, err = m.sched.Apply(scheduled(set.Flows))
		if err == nil {
			m.setFlows(set.Flows)
			m.restoreFlowStates(m.statesUnknown(set.Flows)) // a flow added back may have a stored state
			m.alert.setFlows(set.Flows)
			m.metrics.Reloaded(true, now)
			m.forgetRemoved(set.Flows)
			m.log.Info("flows reloaded", "added", added, "removed", removed, "kept", kept)
			return
		}
	}
	m.mu.Lock()
	m.lastReload = err
	m.mu.Unlock()
	m.metrics.Reloaded(false, now)
	var problems conf.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			m.log.Error("reload rejected: the old flows keep running", "problem", p.Error())
		}
		return
	}
	m.log.Error("reload rejected: the old flows keep running", "err", err)
}

// statesUnknown are the flows of fs whose state is not in memory.
func (m *Main) statesUnknown(fs []*flows.Flow) []*flows.Flow {
	var out []*flows.Flow
	for _, f := range fs {
		if _, ok := m.lastState.Load(f.Name); !ok {
			out = append(out, f)
		}
	}
	return out
}

func (m *Main) forgetRemoved(fs []*flows.Flow) {
	keep := make([]string, len(fs))
	kept := make(map[string]bool, len(fs))
	for i, f := range fs {
		keep[i] = f.Name
		kept[f.Name] = true
	}
	m.lastState.ForgetExcept(kept)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.store.ForgetFlows(ctx, keep); err != nil {
		m.log.Error("forgetting removed flows failed", "err", err)
	}
}

// reloadConfig re-reads the configuration file, when there is one, and
// applies what can change without a restart: defaults, retention and
// alerting (notifiers, routes, policy, silences). An invalid file changes
// nothing.
func (m *Main) reloadConfig() error {
	if m.cfgPath == "" {
		return nil
	}
	next, err := config.Load(m.cfgPath, true)
	if err != nil {
		return err
	}
	notifiers, err := next.NewNotifiers(notifierDeps(m))
	if err != nil {
		return err
	}
	if now := restartOnly(next); now != m.fileRestartOnly {
		m.log.Warn("state_dir, listen, store_check, store, cluster, http, metrics or heartbeat changed in the configuration file: they apply at the next restart " +
			"(state_dir and listen: unless --state-dir or --listen override them)")
		m.fileRestartOnly = now
	}
	m.cfg.Defaults, m.cfg.Retention, m.cfg.History = next.Defaults, next.Retention, next.History
	m.cfg.Notifiers, m.cfg.Routes, m.cfg.Policy = next.Notifiers, next.Routes, next.Policy
	m.cfg.Silences, m.cfg.MaintenanceWindows, m.cfg.StatusURL = next.Silences, next.MaintenanceWindows, next.StatusURL
	m.alert.configure(m.cfg, notifiers)
	return nil
}

func (m *Main) currentFlows() []*flows.Flow {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flows
}

// currentFlowInfos are the flows as the status page shows them: the same
// slice until the flows change (the page keeps its order while it is).
func (m *Main) currentFlowInfos() []statuspage.FlowInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flowInfos
}
