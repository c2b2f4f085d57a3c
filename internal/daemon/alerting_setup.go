package daemon

import (
	"context"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/delivery"
	"github.com/authwatch/authwatch/internal/incident"
)

func (m *Main) setupAlerting(cfg *config.Config) error {
	outbox := m.store
	notifiers, err := cfg.NewNotifiers(notifierDeps(m))
	if err != nil {
		return err
	}
	sender := &delivery.Sender{Outbox: outbox, Logger: m.log, Hooks: delivery.Hooks{
		OnAttempt: func(n string, ok bool, _ time.Duration) { m.metrics.NotificationAttempt(n, ok) },
		OnDead:    m.metrics.NotificationRefused,
	}}
	m.alert = &alerting{outbox: outbox, sender: sender, host: hostname(), log: m.log, states: map[string]incident.State{},
		stored: map[string]incident.State{}}
	m.alert.configure(cfg, notifiers)
	return nil
}

// observeBacklog exports the outbox backlog and remembers trouble for /healthz.
func (m *Main) observeBacklog(ctx context.Context) {
	b, err := m.alert.outbox.Backlog(ctx)
	if err != nil {
		return
	}
	var trouble []string
	for name := range m.cfg.Notifiers {
		if _, queued := b[name]; !queued {
			m.metrics.Backlog(name, 0) // drained: the gauge must say so
		}
	}
	for name, q := range b {
		m.metrics.Backlog(name, q.Pending)
		if q.Dead > 0 || (q.Pending > 0 && time.Since(q.Oldest) > 10*time.Minute) {
			trouble = append(trouble, name)
		}
	}
	m.mu.Lock()
	m.deliveryTrouble = trouble
	m.mu.Unlock()
}
