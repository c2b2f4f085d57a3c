package jwtinspect

import "strings"

// maxSafeDepth bounds the copy made by SafeClaims; deeper values are
// replaced, not walked, so a hostile nesting cannot cost much.
const maxSafeDepth = 32

// secretWords mark claim names whose values could be credentials: embedded
// tokens (Entra _claim_sources, custom refresh_token claims), secrets,
// passwords, authorization codes.
var secretWords = []string{"token", "secret", "password", "passwd", "code", "credential", "apikey", "api_key", "private"}

// keptNames contain a secret word but are standard and harmless: OIDC Core
// §5.1.1 address.postal_code, Cognito's token_use.
var keptNames = map[string]bool{"postal_code": true, "token_use": true}

// SafeClaims returns a deep copy of the claims fit for evidence (REASONS.md:
// decoded claims without secrets): members whose name contains "token",
// "secret", "password", "code" and the like are dropped at every depth,
// and string values that are themselves JWTs are replaced by a marker.
// Standard claims (iss, sub, aud, exp, nonce, at_hash, ...) are kept.
func (t *Token) SafeClaims() map[string]any {
	return safeObject(t.Claims, 0)
}

func safeObject(m map[string]any, depth int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !isSecretName(k) {
			out[k] = safeValue(v, depth+1)
		}
	}
	return out
}

func safeValue(v any, depth int) any {
	if depth > maxSafeDepth {
		return "[nested too deep]"
	}
	switch v := v.(type) {
	case map[string]any:
		return safeObject(v, depth)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = safeValue(x, depth+1)
		}
		return out
	case string:
		if looksLikeCompact(v) {
			return "[redacted: embedded JWT]"
		}
	}
	return v
}

func isSecretName(k string) bool {
	k = strings.ToLower(k)
	if keptNames[k] {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// looksLikeCompact reports a JWS (checked as LooksLikeJWT does) or a
// five-part JWE (RFC 7516 §7.1, only its character set checked: its parts
// are ciphertext).
func looksLikeCompact(s string) bool {
	switch strings.Count(s, ".") {
	case 2:
		return LooksLikeJWT(s)
	case 4:
		return len(s) >= 40 && strings.Trim(s, base64URLChars) == ""
	}
	return false
}

const base64URLChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
