package jwtinspect

import "strings"

// The kinds returned by Kind and KindFor.
const (
	KindAccess  = "access"  // an access token (RFC 9068)
	KindID      = "id"      // an OpenID Connect ID token (OIDC Core §2)
	KindUnknown = "unknown" // nothing in the token tells
)

// kindRule inspects one piece of evidence; ok is false when it does not apply.
type kindRule func(t *Token, clientID string) (kind, evidence string, ok bool)

// kindRules run in order and the first that applies wins: explicit type
// markers first, then claims only one kind carries, then audience shape.
var kindRules = []kindRule{
	typHeader, tokenUse, nonceClaim, hashClaims, keycloakTyp, accessClaims, audIsClient, audIsAzp,
}

// Kind guesses whether the token is an access token or an ID token, from
// the token alone, and says which evidence decided (never a claim value, so
// the evidence can go into notifications). See KindFor for the rules.
func (t *Token) Kind() (kind, evidence string) {
	return t.KindFor("")
}

// KindFor is Kind with the client id we expect ID tokens to be issued to,
// which enables the audience rule. In order, first match wins:
//
//   - header typ "at+jwt" or "application/at+jwt": access (RFC 9068 §2.1)
//   - claim token_use "id" or "access": as it says (Amazon Cognito)
//   - claim nonce: id (OIDC Core §2; access tokens carry none)
//   - claim at_hash or c_hash: id (OIDC Core §3.1.3.6, §3.3.2.11)
//   - claim typ "ID" or "Bearer": id or access (Keycloak)
//   - claim scope, scp or client_id (or cid): access (RFC 9068 §2.2, §2.2.3)
//   - aud is clientID alone, with azp or auth_time: id (OIDC Core §2)
//   - aud is azp alone: id (the token was issued to the client itself)
//
// Otherwise the kind is "unknown".
func (t *Token) KindFor(clientID string) (kind, evidence string) {
	for _, rule := range kindRules {
		if k, ev, ok := rule(t, clientID); ok {
			return k, ev
		}
	}
	if clientID != "" && t.audIsOnly(clientID) {
		return KindUnknown, "aud is the client id, but nothing tells an ID token from an access token for the client's own API"
	}
	return KindUnknown, "no claim tells an ID token from an access token"
}

// IsIDToken reports whether the token is, by the KindFor heuristics, an
// OpenID Connect ID token issued to clientID: the evidence behind
// id_token_used_as_access_token when an API rejects it.
func (t *Token) IsIDToken(clientID string) bool {
	k, _ := t.KindFor(clientID)
	return k == KindID
}

func typHeader(t *Token, _ string) (string, string, bool) {
	typ := strings.ToLower(t.Typ)
	if typ == "at+jwt" || typ == "application/at+jwt" {
		return KindAccess, `header typ is "at+jwt" (RFC 9068 §2.1)`, true
	}
	return "", "", false
}

func tokenUse(t *Token, _ string) (string, string, bool) {
	switch str(t.Claims["token_use"]) {
	case "id":
		return KindID, `claim token_use is "id"`, true
	case "access":
		return KindAccess, `claim token_use is "access"`, true
	}
	return "", "", false
}

func nonceClaim(t *Token, _ string) (string, string, bool) {
	if _, ok := t.Claims["nonce"]; ok {
		return KindID, "nonce claim present (OIDC Core §2: only ID tokens carry one)", true
	}
	return "", "", false
}

func hashClaims(t *Token, _ string) (string, string, bool) {
	for _, k := range []string{"at_hash", "c_hash"} {
		if _, ok := t.Claims[k]; ok {
			return KindID, k + " claim present (OIDC Core §3.1.3.6: only ID tokens carry one)", true
		}
	}
	return "", "", false
}

func keycloakTyp(t *Token, _ string) (string, string, bool) {
	switch str(t.Claims["typ"]) {
	case "ID":
		return KindID, `claim typ is "ID" (Keycloak)`, true
	case "Bearer":
		return KindAccess, `claim typ is "Bearer" (Keycloak)`, true
	}
	return "", "", false
}

func accessClaims(t *Token, _ string) (string, string, bool) {
	for _, k := range []string{"scope", "scp", "client_id", "cid"} {
		if _, ok := t.Claims[k]; ok {
			return KindAccess, k + " claim present (RFC 9068 §2.2: ID tokens carry none)", true
		}
	}
	return "", "", false
}

func audIsClient(t *Token, clientID string) (string, string, bool) {
	if clientID == "" || !t.audIsOnly(clientID) {
		return "", "", false
	}
	if _, ok := t.Claims["auth_time"]; ok || t.AuthorizedParty != "" {
		return KindID, "aud is the client id alone, with azp or auth_time (OIDC Core §2)", true
	}
	return "", "", false
}

func audIsAzp(t *Token, _ string) (string, string, bool) {
	if t.AuthorizedParty != "" && t.audIsOnly(t.AuthorizedParty) {
		return KindID, "aud is azp alone: the token was issued to the client itself (OIDC Core §2)", true
	}
	return "", "", false
}

func (t *Token) audIsOnly(s string) bool {
	return len(t.Audience) == 1 && t.Audience[0] == s
}
