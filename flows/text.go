package flows

import "unicode/utf8"

// truncate shortens s to at most n bytes and an ellipsis, for quoting
// target and user text in messages and evidence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // never split a UTF-8 sequence
	}
	return s[:n] + "…"
}
