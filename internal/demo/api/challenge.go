package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
)

// challenge is an RFC 6750 §3 (or, with the DPoP scheme, RFC 9449 §7.1)
// answer to a request that may not proceed.
type challenge struct {
	status      int
	code        string // RFC 6750 error code; empty when no credentials came
	description string
	scope       string // for insufficient_scope: the scope the request needs
	dpop        bool   // a DPoP challenge (with algs) instead of Bearer
}

// noCredentials: RFC 6750 §3.1 says a request without credentials (or with
// an unsupported scheme) gets a bare challenge without an error code.
func noCredentials(description string) challenge {
	return challenge{status: http.StatusUnauthorized, description: description}
}

func invalidToken(description string) challenge {
	return challenge{status: http.StatusUnauthorized, code: "invalid_token", description: description}
}

func invalidRequest(description string) challenge {
	return challenge{status: http.StatusBadRequest, code: "invalid_request", description: description}
}

// dpopChallenge answers a request about a DPoP-bound token, or made with
// the DPoP scheme, with the DPoP scheme's challenge (RFC 9449 §7.1):
// invalid_token for the token, invalid_dpop_proof for the proof.
func dpopChallenge(code, description string) challenge {
	return challenge{status: http.StatusUnauthorized, code: code, description: description, dpop: true}
}

func insufficientScope(scope, description string) challenge {
	return challenge{status: http.StatusForbidden, code: "insufficient_scope", description: description, scope: scope}
}

// write sends the WWW-Authenticate header and a JSON body saying the same, for
// clients that only read bodies.
func (c challenge) write(w http.ResponseWriter) {
	h := `Bearer realm="` + Realm + `"`
	if c.dpop {
		h = `DPoP realm="` + Realm + `"`
	}
	if c.code != "" {
		h += `, error="` + c.code + `"`
		if c.description != "" {
			h += `, error_description="` + quotable(c.description) + `"`
		}
		if c.scope != "" {
			h += `, scope="` + quotable(c.scope) + `"`
		}
	}
	if c.dpop {
		h += `, algs="` + strings.Join(dpopproof.AlgorithmNames(), " ") + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	code := c.code
	if code == "" {
		code = "unauthorized" // not an RFC 6750 code, which §3.1 withholds here
	}
	writeJSON(w, c.status, errorBody{Error: code, Description: c.description})
}

// quotable keeps a value inside the character set RFC 6750 §3 allows in
// error_description and scope (printable ASCII without '"' and '\').
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\':
			return '/'
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
