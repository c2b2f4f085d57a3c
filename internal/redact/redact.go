// Package redact keeps secrets out of everything authwatch shows or stores.
//
// Two nets catch a secret: by name (Authorization, Cookie, client_secret,
// access_token, ...) and by value (every secret a run resolved or received is
// registered, and any occurrence of it in any string is replaced by its
// fingerprint). The second net catches secrets that leak into places nobody
// thought of, such as an error message echoing a request.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// jwtPattern finds compact JWS/JWE tokens: a token authwatch never saw is
// still a credential, shown only as a fingerprint.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// minSecretLen is the shortest value replaced by value; shorter ones would
// mangle ordinary text and are caught by name only.
const minSecretLen = 4

// Fingerprint identifies a secret without revealing it: a short SHA-256
// prefix, enough to tell two tokens apart in evidence.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// Marker is what replaces a secret in text.
func Marker(secret string) string { return "[redacted " + Fingerprint(secret) + "]" }

// Secrets is the set of secret values known to one run. The zero value is
// ready to use; it is safe for concurrent use.
type Secrets struct {
	mu      sync.RWMutex
	secrets []string           // as registered, for Len
	pending []string           // registered, their forms not made yet
	made    []*formsEntry      // the secrets whose forms are made, in the order made
	heads   *[headWords]uint64 // the bits of every made secret's matcher
}

// Add registers values as secret, in every encoding they can be shown in
// (see forms). Empty and very short values are ignored. The forms are made
// when a text that could hold them is first redacted (see rlockFor): most
// passing runs redact only short texts, and making a token's forms was a
// tenth of a run's allocations.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if len(v) < minSecretLen || slices.Contains(s.secrets, v) {
			continue
		}
		s.secrets = append(s.secrets, v)
		s.pending = append(s.pending, v)
	}
}

// rlock read-locks s with the forms of every secret registered so far made.
func (s *Secrets) rlock() { s.rlockFor(-1) }

// rlockFor read-locks s with the forms made of every registered secret
// that could appear in a text of n bytes (all of them when n < 0). A run
// registers a new token of hundreds of bytes on every run and mostly
// redacts short texts (an endpoint, a claim, a cookie name): making the
// token's forms for those was a fifth of a passing run's allocated bytes.
func (s *Secrets) rlockFor(n int) {
	s.mu.RLock()
	if !s.pendingFit(n) {
		return
	}
	s.mu.RUnlock()
	s.mu.Lock()
	s.addFormsLocked(n)
	// Downgrading cannot be atomic, but a secret added in between only
	// goes unredacted by a caller that began before it was added.
	s.mu.Unlock()
	s.mu.RLock()
}

// pendingFit reports whether a secret whose forms are not made yet could
// appear in a text of n bytes (n < 0: any text); s.mu is held.
func (s *Secrets) pendingFit(n int) bool {
	for _, v := range s.pending {
		if n < 0 || shortestForm(v) <= n {
			return true
		}
	}
	return false
}

// shortestForm is a lower bound on the length of every form of v: text
// encodings only lengthen a value, and base64 and its fragments lengthen
// one of shortFormLimit bytes or more (forms_test checks both). Shorter
// values count as 0: their forms are made for any text.
func shortestForm(v string) int {
	if len(v) < shortFormLimit {
		return 0
	}
	return len(v)
}

const shortFormLimit = 16

// addFormsLocked makes the forms of the pending secrets that could appear
// in a text of n bytes (n < 0: all of them); s.mu is held. A secret's
// forms and their matcher are made once per process while it stays in
// formCache, not once per run.
func (s *Secrets) addFormsLocked(n int) {
	later := s.pending[:0]
	for _, v := range s.pending {
		if n >= 0 && shortestForm(v) > n {
			later = append(later, v)
			continue
		}
		e := formCache.get(v)
		s.made = append(s.made, e)
		if e.match.seen != nil {
			if s.heads == nil {
				s.heads = new([headWords]uint64)
			}
			for i, w := range e.match.seen {
				s.heads[i] |= w
			}
		}
	}
	clear(s.pending[len(later):])
	s.pending = later
}

// Len reports how many secrets are registered.
func (s *Secrets) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.secrets)
}

// Longest is the length of the longest form of any registered secret: a
// text cut at some limit must drop that many bytes before its end, or a
// form cut there escapes the redaction.
func (s *Secrets) Longest() int {
	s.rlock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.made {
		n = max(n, e.longest)
	}
	return n
}

// Contains reports whether text holds a registered secret in any of its
// forms.
func (s *Secrets) Contains(text string) bool {
	if s == nil {
		return false
	}
	s.rlockFor(len(text))
	defer s.mu.RUnlock()
	return find(s.heads, s.made, text) >= 0
}

// String replaces every registered secret in text by its marker, in one
// pass (longest first), so a short secret never corrupts another's marker.
func (s *Secrets) String(text string) string {
	if s == nil {
		return text
	}
	s.rlockFor(len(text))
	defer s.mu.RUnlock()
	if strings.Contains(text, "eyJ") {
		text = jwtPattern.ReplaceAllStringFunc(text, Marker)
	}
	return replace(s.heads, s.made, text)
}
