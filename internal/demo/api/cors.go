package api

import "net/http"

// CORS for /orders, written out by hand so each header the demo checks is
// visible here. Only AllowedOrigin is let in; any other origin simply gets no
// Access-Control-Allow-Origin, which is how browsers learn the answer is no.

// preflight answers OPTIONS without authentication: browsers never send
// credentials on a preflight, so requiring them would break every caller.
func preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if r.Header.Get("Origin") == AllowedOrigin {
		h.Set("Access-Control-Allow-Origin", AllowedOrigin)
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// withCORS adds the response-side CORS headers to actual requests, errors
// included: a browser app can only read a 401's WWW-Authenticate if the 401
// itself carries Allow-Origin and exposes the header.
func withCORS(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if r.Header.Get("Origin") == AllowedOrigin {
			h.Set("Access-Control-Allow-Origin", AllowedOrigin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, X-Request-Id")
		}
		next(w, r)
	}
}
