// Package fit fits event text into a vendor API's limits.
package fit

import (
	"crypto/sha256"
	"encoding/hex"
)

// Runes shortens s to at most n runes, marking the cut with "…".
func Runes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Key is an identifier of at most n bytes (an incident key as PagerDuty's
// dedup_key, Opsgenie's alias): k itself when short enough, else
// "authwatch-" and k's hex SHA-256, the same on every send.
func Key(k string, n int) string {
	if len(k) <= n {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "authwatch-" + hex.EncodeToString(sum[:])
}
