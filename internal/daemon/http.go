package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/statuspage"
	"github.com/authwatch/authwatch/internal/store/buffered"
)

// httpServer bounds what a client can hold: a slow header, a slow body, a
// slow reader and an idle keep-alive connection all time out; the listener
// caps the connections (Run wraps it).
func (m *Main) httpServer() *http.Server {
	h := m.cfg.HTTP
	return &http.Server{Handler: m.routes(), ReadHeaderTimeout: h.ReadHeaderTimeout.Std(), ReadTimeout: h.ReadTimeout.Std(),
		WriteTimeout: h.WriteTimeout.Std(), IdleTimeout: h.IdleTimeout.Std(), MaxHeaderBytes: 64 << 10}
}

// routes puts every route behind the status page's authentication when it
// is configured, except where the configuration opts a route out
// (metrics_auth: none; health_auth: none, which answers the status alone).
// /debug/pprof/ is there only with http.pprof, always behind the auth.
func (m *Main) routes() http.Handler {
	sp := m.cfg.StatusPage
	secrets := conf.SecretSource{}
	protect := func(h http.Handler) http.Handler { return statuspage.Protect(h, sp, secrets, m.log) }
	mux := http.NewServeMux()
	metrics := m.metrics.Handler()
	if !sp.MetricsPublic() {
		metrics = protect(metrics)
	}
	mux.Handle("GET /metrics", metrics)
	if m.cfg.HTTP.PProf { // config requires status_page.auth with it
		mux.Handle("/debug/pprof/", protect(pprofHandler()))
	}
	for path, detail := range map[string]func() (int, map[string]any){"GET /healthz": m.healthz, "GET /readyz": m.readyz} {
		full := protect(jsonHandler(detail))
		if sp.HealthPublic() && sp.Auth != nil {
			full = statuspage.ProtectOr(full, jsonHandler(statusOnly(detail)), sp, secrets, m.log)
		}
		mux.Handle(path, full)
	}
	mux.Handle("/", statuspage.New(m.store, statuspage.Options{Config: sp, Logger: m.log, Title: "authwatch", FlowsDir: m.cfg.FlowsDir,
		Flows: m.currentFlowInfos, States: &m.lastState, IncidentPolicy: m.alert.policyOf, Baselines: m.baselines.db}))
	return mux
}

// healthz says whether the daemon works: "ok"; "degraded" (200) after a
// rejected reload (the old flows still run), with notifiers failing, while
// flows skip runs for overlap or while runs start late;
// "unhealthy" (503) while the state store refuses writes or no run happens.
func (m *Main) healthz() (int, map[string]any) {
	sched, why := m.schedulerHealthy(time.Now())
	h := m.store.Health()
	skips := m.recentSkips(time.Now()).healthDetail()
	late := m.recentLateness(time.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	body := map[string]any{"status": "ok", "flows": len(m.flows), "concurrency_limit": late.Load.Limit}
	if m.lastReload != nil {
		body["status"] = "degraded"
		body["last_reload_error"] = m.lastReload.Error()
	}
	if len(m.deliveryTrouble) > 0 {
		body["status"] = "degraded"
		body["notifiers_failing"] = m.deliveryTrouble
	}
	if skips != nil {
		body["status"] = "degraded"
		body["runs_skipped"] = skips
	}
	if detail := late.healthDetail(m.late.warned.Load()); detail != nil {
		body["status"] = "degraded"
		body["runs_late"] = detail
	}
	status := http.StatusOK
	if !h.OK {
		status, body["status"] = http.StatusServiceUnavailable, "unhealthy"
		body["state_store"] = map[string]any{"error": "state store unwritable: " + h.LastError, "since": h.Since.UTC().Format(time.RFC3339),
			"runs_held_in_memory": h.PendingRuns, "pages_held_in_memory": h.PendingItems, "runs_dropped": h.Dropped}
	}
	if !sched {
		status, body["status"] = http.StatusServiceUnavailable, "unhealthy"
		body["scheduler"] = why
	}
	return status, body
}

// readyz is 200 once flows are scheduled and the daemon is healthy; 503
// while starting or stopping, or while healthz says unhealthy.
func (m *Main) readyz() (int, map[string]any) {
	m.mu.Lock()
	ready := m.ready
	m.mu.Unlock()
	if !ready {
		return http.StatusServiceUnavailable, map[string]any{"ready": false, "status": "unhealthy", "cause": "starting or stopping"}
	}
	if held, why := m.instanceHeld(); !held {
		return http.StatusServiceUnavailable, map[string]any{"ready": false, "status": "unhealthy", "cause": why}
	}
	cause, leases := m.clusterReadiness()
	if cause != "" {
		return http.StatusServiceUnavailable, map[string]any{"ready": false, "status": "unhealthy", "cause": cause, "cluster": leases}
	}
	if status, body := m.healthz(); status != http.StatusOK {
		body["ready"] = false
		return status, body
	}
	body := map[string]any{"ready": true, "status": "ok"}
	if leases != nil {
		body["cluster"] = leases
	}
	return http.StatusOK, body
}

// statusOnly keeps the status of a health answer and drops its detail
// (errors with paths, notifier names) for unauthenticated callers.
func statusOnly(detail func() (int, map[string]any)) func() (int, map[string]any) {
	return func() (int, map[string]any) {
		status, body := detail()
		out := map[string]any{"status": body["status"]}
		if ready, ok := body["ready"]; ok {
			out["ready"] = ready
		}
		return status, out
	}
}

// pprofHandler serves net/http/pprof's index, profiles and traces,
// without the package's registration on http.DefaultServeMux.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, allocs, ...
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func jsonHandler(f func() (int, map[string]any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		status, body := f()
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var _ statuspage.RunPager = (*buffered.Store)(nil)
