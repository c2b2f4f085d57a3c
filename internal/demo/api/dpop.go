package api

import (
	"errors"
	"net/http"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
)

// bindingChecker enforces DPoP binding (RFC 9449 §7): a token with cnf.jkt
// is taken only with the DPoP scheme and a proof of that key for this very
// request; the DPoP scheme only with such a token.
type bindingChecker struct {
	// baseURL is the API's own URL, the htu of a proof without the path
	// (never taken from the request's Host header).
	baseURL string
	proofs  *dpopproof.Verifier
}

// check returns the challenge for a request whose token and scheme do not
// go together, or whose proof is refused.
func (b *bindingChecker) check(r *http.Request, cred credentials, tok *accessToken) (challenge, bool) {
	switch {
	case tok.JKT == "" && cred.scheme == schemeDPoP:
		return dpopChallenge("invalid_token", "the token is not DPoP-bound (no cnf.jkt): present it with the Bearer scheme"), false
	case tok.JKT == "":
		return challenge{}, true
	case cred.scheme != schemeDPoP:
		// A bound token without its proof is what a thief would send.
		return dpopChallenge("invalid_token", "the token is DPoP-bound: present it with the DPoP scheme and a proof of its key"), false
	}
	raw, present, err := dpopproof.FromHeader(r.Header)
	if err == nil && !present {
		err = &dpopproof.Error{Description: "no DPoP proof came with the DPoP-bound token"}
	}
	var proof *dpopproof.Proof
	if err == nil {
		proof, err = b.proofs.Check(raw, dpopproof.Request{Method: r.Method, URL: b.baseURL + r.URL.EscapedPath(), AccessToken: cred.token})
	}
	if err != nil {
		desc := err.Error()
		if e := (*dpopproof.Error)(nil); errors.As(err, &e) {
			desc = e.Description
		}
		return dpopChallenge(dpopproof.ErrorCode, desc), false
	}
	if proof.JKT != tok.JKT {
		return dpopChallenge(dpopproof.ErrorCode, "the proof is signed by another key than the one the token is bound to (cnf.jkt)"), false
	}
	return challenge{}, true
}
