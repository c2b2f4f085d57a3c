package daemon

import (
	"encoding/json"
	"net/http"

	"github.com/authwatch/authwatch/internal/statuspage"
)

func (m *Main) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.metrics.Handler())
	mux.HandleFunc("GET /healthz", m.healthz)
	mux.HandleFunc("GET /readyz", m.readyz)
	if src, ok := m.store.(statuspage.Source); ok {
		mux.Handle("/", statuspage.New(src, statuspage.Options{Config: m.cfg.StatusPage, Logger: m.log, Title: "authwatch",
			Flows: func() []statuspage.FlowInfo { return statuspage.FlowInfos(m.currentFlows()) }}))
	}
	return mux
}

// healthz says the process is alive, and whether the last reload was
// rejected (the old flows still run then; a person should look).
func (m *Main) healthz(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	body := map[string]any{"status": "ok", "flows": len(m.flows)}
	if m.lastReload != nil {
		body["status"] = "degraded"
		body["last_reload_error"] = m.lastReload.Error()
	}
	if len(m.deliveryTrouble) > 0 {
		body["status"] = "degraded"
		body["notifiers_failing"] = m.deliveryTrouble
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// readyz is 200 once flows are scheduled, 503 while starting or stopping.
func (m *Main) readyz(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	ready := m.ready
	m.mu.Unlock()
	if !ready {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
