package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// maxBody bounds request bodies.
const maxBody = 64 << 10

// newHandler wires the routes. Method-specific patterns give 405 with an Allow
// header for anything else.
func newHandler(v *tokenVerifier, b *bindingChecker, store *orderStore) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("OPTIONS /orders", preflight)
	mux.HandleFunc("GET /orders", withCORS(requireScope(v, b, ScopeRead, listOrders(store))))
	mux.HandleFunc("POST /orders", withCORS(requireScope(v, b, ScopeWrite, createOrder(store))))
	mux.HandleFunc("GET /admin/export", adminExport(store))
	return withRequestID(mux)
}

func listOrders(store *orderStore) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"orders": store.list()})
	}
}

func createOrder(store *orderStore) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Item     string `json:"item"`
			Quantity int    `json:"quantity"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Description: "body must be JSON like {\"item\":\"widget\",\"quantity\":1}"})
			return
		}
		if in.Item == "" || in.Quantity < 1 {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Description: "item must be set and quantity at least 1"})
			return
		}
		o := store.add(in.Item, in.Quantity, subject(r.Context()))
		w.Header().Set("Location", "/orders/"+strconv.Itoa(o.ID))
		writeJSON(w, http.StatusCreated, o)
	}
}

// adminExport is the demo's planted bug: it was meant to sit behind
// requireScope like the other routes, but was wired without it, so anyone can
// download every order. `authwatch demo` finds it as auth_not_enforced. Do not
// "fix" it; the demo depends on it.
func adminExport(store *orderStore) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"exported_at": time.Now().UTC().Format(time.RFC3339),
			"orders":      store.list(),
		})
	}
}
