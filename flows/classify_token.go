package flows

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/oautherr"
	"github.com/authwatch/authwatch/internal/redact"
)

// classifyTokenError names the reason a token request failed. It is the one
// place that reads *oauth2.RetrieveError. Transport errors are returned as
// they are, for the runner's network classification.
func classifyTokenError(st *State, grant grantType, endpoint string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		var ue *url.Error
		var ne net.Error
		if errors.As(err, &ue) || errors.As(err, &ne) {
			return err
		}
		return Fail(ReasonIdPError, "the token endpoint %s gave an answer that is not a token response: %v", endpoint, err).Wrap(err)
	}
	status := 0
	var header http.Header
	if re.Response != nil {
		status, header = re.Response.StatusCode, re.Response.Header
	}
	oe := oauthError(re, header)
	f := tokenFailure(grant, status, header, oe, st)
	f.Err = err
	f.With(F("status", status))
	if oe.Code != "" {
		f.With(F("error", oe.Code))
	}
	if oe.Description != "" {
		f.With(F("error_description", oe.Description))
	}
	for k, v := range oe.Extra {
		f.With(F(k, v))
	}
	return f
}

// oauthError reads the RFC 6749 §5.2 error, falling back to the vendor
// shapes oautherr knows when oauth2 found no standard error code.
func oauthError(re *oauth2.RetrieveError, header http.Header) oautherr.Error {
	parsed, ok := oautherr.Parse(header.Get("Content-Type"), re.Body)
	if re.ErrorCode != "" {
		parsed.Code = re.ErrorCode
		if re.ErrorDescription != "" {
			parsed.Description = re.ErrorDescription
		}
		return parsed
	}
	if ok {
		return parsed
	}
	return oautherr.Error{}
}

func tokenFailure(grant grantType, status int, header http.Header, oe oautherr.Error, st *State) *Failure {
	if status == http.StatusTooManyRequests || (header.Get("Retry-After") != "" && (status == 401 || status == 403 || status == 503)) {
		return rateLimited(&http.Response{StatusCode: status, Header: header}, st.Now(), "the token endpoint")
	}
	said := describeOAuthError(status, oe)
	alias := recogniseOAuthError(oe)
	code := oe.Code
	if alias != nil {
		code = alias.means
	}
	f := tokenFailureFor(grant, status, header, code, oe.Description, said)
	if alias != nil {
		f.Summary += "; " + alias.note(oe)
		f.With(F("error_recognised_as", alias.means), F("error_alias_source", alias.source))
	}
	return f
}

// tokenFailureFor classifies by the meaning of the error code.
func tokenFailureFor(grant grantType, status int, header http.Header, code, description, said string) *Failure {
	switch code {
	case "invalid_client":
		return Fail(ReasonInvalidClient, "the token endpoint refused the client credentials: %s", said)
	case "invalid_grant":
		if grant == grantRefresh {
			return Fail(ReasonRefreshTokenRejected, "the token endpoint refused the refresh token: %s", said)
		}
		f := Fail(ReasonInvalidGrant, "the token endpoint refused the %s grant: %s", grant, said)
		if grant == grantJWTBearer {
			f.Next = "The JWT assertion was refused: compare its iss and sub (the service account), kid and key (the public key registered at the IdP: rotated?), aud (the IdP's issuer or token endpoint: set assertion_audience) and the clocks (exp, iat, nbf) with what the IdP expects; its log names the check that failed."
		}
		if grant == grantAuthorizationCode {
			// No password is involved here: the code itself was refused.
			f.Next = "The authorization code was refused: it was already redeemed (a proxy retried or mirrored the token request), " +
				"it came from another IdP node without shared storage, it expired before the exchange, or the PKCE verifier does not match " +
				"the challenge (something rewrote the authorization request). Check the IdP's log for this client at the time of the run."
		}
		return f
	case "invalid_scope":
		return Fail(ReasonInvalidScope, "the token endpoint refused the requested scope: %s", said)
	case "invalid_target":
		return Fail(ReasonInvalidTarget, "the token endpoint refused the requested resource or audience (RFC 8707 invalid_target): %s", said)
	case "invalid_dpop_proof":
		return Fail(ReasonDPoPProofInvalid, "the token endpoint refused the DPoP proof: %s", said)
	case "use_dpop_nonce":
		return Fail(ReasonDPoPProofInvalid, "the token endpoint still asks for a DPoP nonce after authwatch retried with the one it gave (RFC 9449 §8): %s", said)
	case "unauthorized_client":
		return Fail(ReasonGrantNotAllowed, "the client may not use the %s grant: %s", grant, said)
	case "unsupported_grant_type":
		return Fail(ReasonGrantNotAllowed, "the token endpoint does not support the %s grant at all (a server setting, not the client's): %s", grant, said)
	case meansAccountLocked:
		return Fail(ReasonAccountLocked, "the token endpoint says the user's account is locked or disabled: %s", said)
	case meansMFARequired:
		return Fail(ReasonMFARequired, "the token endpoint wants a second factor for the %s grant, which cannot give one: %s", grant, said)
	case "invalid_request":
		if f := invalidRequestFailure(grant, description, said); f != nil {
			return f
		}
	case "":
		return tokenFailureWithoutCode(status, header, said)
	}
	return Fail(ReasonIdPError, "the token endpoint refused the request: %s", said)
}

// invalidRequestFailure reads the description of an invalid_request, the
// only evidence when an IdP uses it for something more specific.
func invalidRequestFailure(grant grantType, description, said string) *Failure {
	// oidc-provider (and others) refuse a grant the client may not use
	// with invalid_request.
	d := strings.ToLower(description)
	if strings.Contains(d, "grant") && strings.Contains(d, "not allowed") {
		return Fail(ReasonGrantNotAllowed, "the client may not use the %s grant (inferred from the description of an invalid_request): %s", grant, said)
	}
	if grant == grantAuthorizationCode && pkceProblem.MatchString(d) {
		// zitadel: "code_verifier unexpectedly provided" when the
		// authorization request arrived without code_challenge.
		f := Fail(ReasonInvalidGrant, "the token endpoint refused the code exchange's PKCE verifier: %s; the IdP did not get the code challenge authwatch sent with the authorization request", said)
		f.Next = "Something between authwatch and the IdP rewrote the authorization request (a proxy or WAF that filters query parameters drops code_challenge): let code_challenge and code_challenge_method through."
		return f
	}
	return nil
}

// pkceProblem matches descriptions that blame the PKCE parameters.
var pkceProblem = regexp.MustCompile(`code_verifier|code_challenge|pkce`)

// tokenFailureWithoutCode reads a refusal that carries no OAuth error
// code: only the status is left, so the summary says it is an inference.
func tokenFailureWithoutCode(status int, header http.Header, said string) *Failure {
	switch {
	case status >= 500:
		return Fail(ReasonIdPError, "the token endpoint failed: %s", said)
	case status == http.StatusUnauthorized && strings.Contains(strings.ToLower(header.Get("WWW-Authenticate")), "basic"):
		return Fail(ReasonInvalidClient, "the token endpoint answered 401 with a Basic challenge and no OAuth error code: most likely the client credentials were refused (%s)", said)
	case status == http.StatusUnauthorized:
		// RFC 6749 §5.2: invalid_client is the error that may come as 401.
		return Fail(ReasonInvalidClient, "the token endpoint answered 401 without an OAuth error code (%s); non-standard answer: RFC 6749 §5.2 answers a refused client authentication with 401 invalid_client, so most likely the client credentials were refused, unless a gateway in front of the IdP demands credentials of its own", said)
	case status == http.StatusForbidden:
		return Fail(ReasonGrantNotAllowed, "the token endpoint answered 403 without an OAuth error code (%s); non-standard answer, read as the client being known but not allowed this request (unauthorized_client); a WAF or an IP allow-list in front of the IdP answers 403 the same way", said)
	}
	return Fail(ReasonIdPError, "the token endpoint refused the request without an OAuth error code: %s", said)
}

func describeOAuthError(status int, oe oautherr.Error) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(status))
	if oe.Code != "" {
		b.WriteString(" " + oe.Code)
	} else {
		b.WriteString(" " + http.StatusText(status))
	}
	if oe.Description != "" {
		b.WriteString(": \"" + oe.Description + "\"")
	}
	return b.String()
}

// clientFacts are the facts about the client a token failure shows: which
// id, which method, and a fingerprint of the secret to compare with the IdP.
func clientFacts(st *State, r *TokenRequest) []Fact {
	facts := []Fact{F("client_auth", r.authMethod()), F("token_endpoint_request", "fresh")}
	if id, err := st.Expand(r.ClientID); err == nil {
		facts = append(facts, F("client_id", id))
	}
	if r.authMethod() != authNone && !r.ClientSecret.IsZero() {
		if secret, err := st.Expand(r.ClientSecret); err == nil {
			facts = append(facts, F("client_secret_fingerprint", redact.Fingerprint(secret)))
		}
	}
	return facts
}
