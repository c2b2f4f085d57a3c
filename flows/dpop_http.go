package flows

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/internal/challenge"
)

// credDPoP is the credential kind of a request made with auth.dpop.
const credDPoP = "dpop"

// dpopClient wraps an http step's client so that its request carries a
// proof of the key the token was issued to (or, for a token no DPoP step
// of this run asked for, the run's generated key, which a binding-checking
// API refuses: what such a token deserves).
func (st *State) dpopClient(c *http.Client, token string) (*http.Client, error) {
	key := st.dpopState().keyFor(token)
	if key == nil {
		var err error
		if key, err = st.generatedDPoPKey(""); err != nil {
			return nil, err
		}
		st.Note("auth.dpop: no DPoP token step of this run issued this token; its proofs are signed with the run's generated key")
	}
	return withDPoP(st, c, key, token), nil
}

// checkBindingEnforced sends the step's request twice more after it passed:
// with the DPoP-bound token as a plain Bearer token (no proof), and with a
// proof of another key. An API that accepts either does not enforce the
// binding: a stolen token works without the key (RFC 9449 §7.1).
func (s *HTTPStep) checkBindingEnforced(ctx context.Context, st *State, token string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	other, err := newDPoPKey(priv, jose.ES256)
	if err != nil {
		return err
	}
	tries := []struct {
		name, scheme string
		key          *dpopKey
		how          string
	}{
		{"bearer", "Bearer", nil, "presented as Bearer, without a proof"},
		{"other_key", "DPoP", other, "with a proof signed by another key"},
	}
	for _, try := range tries {
		req, _, err := s.request(ctx, st)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", try.scheme+" "+token)
		opts := s.clientOptions()
		// The refusal itself is the answer: a redirect to a login page
		// followed to its 200 would read as accepted.
		opts.NoRedirects = true
		client, err := st.Client(opts)
		if err != nil {
			return err
		}
		if try.key != nil {
			client = withDPoP(st, client, try.key, token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = readBody(resp)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			f := Fail(ReasonTokenBindingMismatch, "%s %s accepted the DPoP-bound token %s (status %d): the API does not enforce the binding, so a stolen token works without its key",
				req.Method, req.URL.Redacted(), try.how, resp.StatusCode).With(F("binding_check", try.name), F("status", resp.StatusCode))
			f.Next = "Make the API demand the DPoP scheme for DPoP-bound tokens and verify the proof (signature, htm, htu, ath, iat, jti) and that its key's thumbprint is the token's cnf.jkt (RFC 9449 §7)."
			return f
		}
	}
	st.Note("the API refused the token as Bearer and with another key's proof (binding enforced)")
	return nil
}

// classifyDPoPChallenge explains a 401 in terms of DPoP when either side
// spoke it: a refused proof, a nonce still missing, or a scheme mismatch.
func classifyDPoPChallenge(st *State, a *answer, chs []challenge.Challenge) *Failure {
	dpop, hasDPoP := challenge.Find(chs, "DPoP")
	_, hasBearer := challenge.Find(chs, "Bearer")
	switch {
	case a.cred.kind == credDPoP && hasDPoP:
		switch dpop.Param("error") {
		case "invalid_dpop_proof":
			return Fail(ReasonDPoPProofInvalid, "%s refused the DPoP proof: %s", hostOf(a), describeParam(dpop)).
				With(F("error_description", dpop.Param("error_description")))
		case "use_dpop_nonce":
			if a.resp.Header.Get("DPoP-Nonce") == "" {
				return Fail(ReasonDPoPProofInvalid, "%s asks for a DPoP nonce but sends none (no DPoP-Nonce header, RFC 9449 §9): %s", hostOf(a), describeParam(dpop))
			}
			return Fail(ReasonDPoPProofInvalid, "%s still asks for a DPoP nonce after authwatch retried with the one it gave (RFC 9449 §9): %s", hostOf(a), describeParam(dpop))
		case "invalid_token":
			return explainInvalidToken(st, a, dpop)
		}
	case a.cred.kind == credDPoP && hasBearer:
		return Fail(ReasonTokenBindingMismatch, "the step sent the token with the DPoP scheme, but %s offers only Bearer: the API does not take DPoP-bound tokens", hostOf(a))
	case a.cred.kind == "bearer" && hasDPoP && !hasBearer:
		f := Fail(ReasonTokenBindingMismatch, "%s demands the DPoP scheme and the step sent a Bearer token (%s)", hostOf(a), describeParam(dpop))
		f.Next = "Ask for a DPoP-bound token (dpop: true on the token step) and call the API with auth.dpop, or, if the API should take Bearer tokens, find who turned DPoP on."
		return f
	}
	return nil
}
