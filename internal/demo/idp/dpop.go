package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
)

// zitadel's op knows nothing of DPoP (RFC 9449), so the demo IdP adds it
// around the op: withDPoP checks the proof of a token request and hands
// its key's thumbprint to the storage through the request context; the
// storage binds the JWT access token to it (cnf.jkt, see
// GetPrivateClaimsFromRequest); withDPoP then says so in the answer's
// token_type. Only what gets bound is called DPoP: a token the storage did
// not bind (an opaque one) stays Bearer, as §5 allows.

// maxRewrittenResponse bounds a token or discovery answer buffered to be
// rewritten; the op's are a few KiB.
const maxRewrittenResponse = 64 << 10

// tokenBinding is a verified proof's key on its way from withDPoP to the
// storage, and back the news that a token was bound to it.
type tokenBinding struct {
	jkt   string
	bound atomic.Bool
}

type tokenBindingKey struct{}

// dpopBinding returns the token request's verified proof key, if any.
func dpopBinding(ctx context.Context) *tokenBinding {
	b, _ := ctx.Value(tokenBindingKey{}).(*tokenBinding)
	return b
}

// withDPoP verifies the DPoP proof of a token request (a POST to
// tokenPath), known by its public URL tokenURL for htu. A request without
// one passes untouched; a bad one is refused with 400 invalid_dpop_proof
// (§5.2) before the op sees it.
func withDPoP(tokenPath, tokenURL string, proofs *dpopproof.Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != tokenPath {
			next.ServeHTTP(w, r)
			return
		}
		raw, present, err := dpopproof.FromHeader(r.Header)
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		var proof *dpopproof.Proof
		if err == nil {
			proof, err = proofs.Check(raw, dpopproof.Request{Method: r.Method, URL: tokenURL})
		}
		if err != nil {
			op.RequestError(w, r, invalidDPoPProof(err), nil)
			return
		}
		b := &tokenBinding{jkt: proof.JKT}
		buf := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(buf, r.WithContext(context.WithValue(r.Context(), tokenBindingKey{}, b)))
		if !b.bound.Load() {
			buf.send(w, r)
			return
		}
		buf.rewriteJSON(w, r, func(m map[string]json.RawMessage) bool {
			if _, ok := m["token_type"]; !ok {
				return false
			}
			m["token_type"] = json.RawMessage(`"DPoP"`)
			return true
		})
	})
}

// invalidDPoPProof is the op's error for a refused proof: 400 with the
// proof's problem as error_description.
func invalidDPoPProof(err error) *oidc.Error {
	desc := err.Error()
	if e := (*dpopproof.Error)(nil); errors.As(err, &e) {
		desc = e.Description
	}
	return &oidc.Error{ErrorType: dpopproof.ErrorCode, Description: desc}
}

// withDPoPDiscovery adds dpop_signing_alg_values_supported (§5.1) to the
// op's discovery document, so clients know the IdP takes proofs.
func withDPoPDiscovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != oidc.DiscoveryEndpoint {
			next.ServeHTTP(w, r)
			return
		}
		buf := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(buf, r)
		algs, _ := json.Marshal(dpopproof.AlgorithmNames())
		buf.rewriteJSON(w, r, func(m map[string]json.RawMessage) bool {
			m["dpop_signing_alg_values_supported"] = algs
			return true
		})
	})
}

// bufferedResponse holds a handler's answer so it can be rewritten before
// it goes out; at most maxRewrittenResponse bytes of body.
type bufferedResponse struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

var errResponseTooLarge = errors.New("demo idp: response too large to rewrite")

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	if b.body.Len()+len(p) > maxRewrittenResponse {
		b.overflow = true
		return 0, errResponseTooLarge
	}
	return b.body.Write(p)
}

// send passes the answer on as it is.
func (b *bufferedResponse) send(w http.ResponseWriter, r *http.Request) {
	if b.overflow {
		op.RequestError(w, r, oidc.ErrServerError().WithDescription("the answer was too large"), nil)
		return
	}
	b.writeTo(w, b.body.Bytes())
}

// rewriteJSON edits a 200 JSON object answer with edit, which says whether
// it applies; anything else goes out unchanged. An answer that should
// have been rewritten and cannot be is a server error rather than a
// token that claims to be what it is not.
func (b *bufferedResponse) rewriteJSON(w http.ResponseWriter, r *http.Request, edit func(map[string]json.RawMessage) bool) {
	if b.overflow || b.status != http.StatusOK {
		b.send(w, r)
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b.body.Bytes(), &m); err != nil || !edit(m) {
		op.RequestError(w, r, oidc.ErrServerError().WithDescription("cannot rewrite the answer"), nil)
		return
	}
	body, err := json.Marshal(m)
	if err != nil {
		op.RequestError(w, r, oidc.ErrServerError().WithDescription("cannot rewrite the answer"), nil)
		return
	}
	b.writeTo(w, append(body, '\n'))
}

func (b *bufferedResponse) writeTo(w http.ResponseWriter, body []byte) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
