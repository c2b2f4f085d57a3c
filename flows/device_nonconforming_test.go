package flows_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// TestDeviceCodeStopsAtExpiry: an IdP that keeps answering
// authorization_pending after the device code's expires_in (RFC 8628 says
// it must answer expired_token) is reported when the code expires, not at
// the step's deadline. A Go server stands in for the IdP: no real IdP we
// can run breaks the RFC this way.
func TestDeviceCodeStopsAtExpiry(t *testing.T) {
	t.Parallel()
	var polls atomic.Int32
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		itWriteJSONResp(w, 200, map[string]any{
			"device_code": "dc-0123456789", "user_code": "WXYZ-1234",
			"verification_uri": srv.URL + "/activate", "expires_in": 2, "interval": 1,
		})
	})
	mux.HandleFunc("GET /activate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<html><title>Device</title><form method=post><input name=user_code><button>Continue</button></form></html>`))
	})
	mux.HandleFunc("POST /activate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<html><title>Sign in</title><form method=post action=/login><input name=username><input type=password name=password><button>Sign in</button></form></html>`))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<html><title>Device</title><p>Your device is connected.</p></html>`))
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		itWriteJSONResp(w, 400, map[string]string{"error": "authorization_pending"})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	r := itNewRunner(itLookupFrom(map[string]string{"PW": "device-pw-4471"}, nil))
	res := itRunYAML(t, r, `
name: device-expiry
every: 1m
steps:
  - id: device
    kind: device_code
    device_authorization_url: `+srv.URL+`/device
    token_url: `+srv.URL+`/token
    client_id: tv
    client_auth: none
    username: synthetic
    password: ${env:PW}
    timeout: 30s
`)
	f := itMustFail(t, res, "device", flows.ReasonIdPError)
	itSummaryHas(t, f, "expired", "authorization_pending")
	if step := itStep(t, res, "device"); step.Duration > 10e9 {
		t.Errorf("the step took %s: it polled on past the code's expiry", step.Duration)
	}
	if n := polls.Load(); n < 2 || n > 5 {
		t.Errorf("%d polls in a 2 s lifetime at a 1 s interval", n)
	}
}
