package daemon

import (
	"fmt"
	"strings"

	"github.com/authwatch/authwatch/internal/store"
)

// The daemon's one-line status for the service manager (systemd's STATUS=,
// shown by `systemctl status authwatch`): "42 flows, 3 failing, 1 incident
// open; last reload ok", then "; state store unwritable" while it is. It
// is sent when it changes, looked at every second by the store guard and
// after every reload.

// statusLine renders the status from its parts.
func statusLine(flowCount, failing, incidents int, reloadOK, storeOK bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d failing, %s open; ", plural(flowCount, "flow"), failing, plural(incidents, "incident"))
	if reloadOK {
		b.WriteString("last reload ok")
	} else {
		b.WriteString("last reload rejected (the old flows run; see the log)")
	}
	if !storeOK {
		b.WriteString("; state store unwritable (results held in memory)")
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// currentStatus is the daemon's status line now.
func (m *Main) currentStatus() string {
	storeOK := m.store.Health().OK
	failing := 0
	m.lastState.Range(func(st store.FlowState) bool {
		if !st.OK && !st.LastRun.IsZero() {
			failing++
		}
		return true
	})
	m.mu.Lock()
	flowCount, reloadOK := len(m.flows), m.lastReload == nil
	m.mu.Unlock()
	return statusLine(flowCount, failing, m.alert.openIncidents(), reloadOK, storeOK)
}

// updateStatus tells the service manager the status if it changed.
func (m *Main) updateStatus() {
	m.statusMu.Lock()
	defer m.statusMu.Unlock()
	if s := m.currentStatus(); s != m.sentStatus {
		m.sentStatus = s
		_ = m.notify.Status(s)
	}
}
