package daemon

import (
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/heartbeat"
)

// heartbeat returns the configured dead man's switch, or nil.
func (m *Main) heartbeat() *heartbeat.Pinger {
	if m.cfg.Heartbeat == nil {
		return nil
	}
	return &heartbeat.Pinger{Config: *m.cfg.Heartbeat, Secrets: conf.SecretSource{}, Logger: m.log,
		Healthy: m.heartbeatHealthy, Status: m.heartbeatStatus, OnOutcome: m.metrics.Heartbeat}
}

// heartbeatHealthy: the store takes writes and the scheduler runs flows.
func (m *Main) heartbeatHealthy() (bool, string) {
	m.mu.Lock()
	ready := m.ready
	m.mu.Unlock()
	h := m.store.Health()
	switch {
	case !ready:
		return false, "starting or stopping"
	case !h.OK:
		return false, "state store unwritable: " + h.LastError
	}
	return m.schedulerHealthy(time.Now())
}

func (m *Main) heartbeatStatus() string {
	return fmt.Sprintf("authwatch on %s: %d flows, state store writable, scheduler running\n", m.alert.host, len(m.currentFlows()))
}
