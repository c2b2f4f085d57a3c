package redact

import (
	"encoding/binary"
	"slices"
	"strings"
)

// matcher finds one secret's forms in text. Each secret's matcher is made
// once (formsEntry) and a run's Secrets scans with those of its secrets
// (replace, find): a run built its own table of every form of every
// secret, a tenth of its allocations, for the same few secrets each run.
//
// Every form is at least minSecretLen (4) bytes long. A bit per hash of
// the first four bytes rejects almost every position with one load per
// secret; the forms starting with a position's first four bytes are then
// compared, longest first. 4,096 bits (512 bytes per secret) pass about
// a quarter of a percent of positions at a secret's usual ten forms.
type matcher struct {
	seen  *[headWords]uint64  // bit headHash(form) of every form
	heads map[uint32][]string // first four bytes → forms, longest first
}

const (
	headBits  = 12
	headWords = 1 << headBits / 64
)

func (m *matcher) add(form string) {
	if m.seen == nil {
		m.seen = new([headWords]uint64)
		m.heads = make(map[uint32][]string, 16) // one secret's forms
	}
	k := headKey(form)
	h := headHash(k)
	m.seen[h/64] |= 1 << (h % 64)
	forms := m.heads[k]
	at, _ := slices.BinarySearchFunc(forms, len(form), func(f string, n int) int { return n - len(f) })
	m.heads[k] = slices.Insert(forms, at, form)
}

func headKey(s string) uint32 { return binary.LittleEndian.Uint32([]byte(s[:4])) }

// headHash spreads a head over headBits bits (Fibonacci hashing).
func headHash(k uint32) uint32 { return (k * 2654435761) >> (32 - headBits) }

func (m *matcher) has(h uint32) bool { return m.seen != nil && m.seen[h/64]&(1<<(h%64)) != 0 }

// longestAt is the longest form of any of the secrets that text[i:] starts
// with, and its secret's marker; the first secret registered wins a form
// two secrets share. union holds the bits of all the secrets' matchers: most
// positions are rejected with one load, whatever the number of secrets.
func longestAt(union *[headWords]uint64, secrets []*formsEntry, text string, i int) (form, marker string) {
	k := headKey(text[i:])
	h := headHash(k)
	if union[h/64]&(1<<(h%64)) == 0 {
		return "", ""
	}
	for _, e := range secrets {
		if !e.match.has(h) {
			continue
		}
		for _, f := range e.match.heads[k] { // longest first
			if len(f) <= len(form) {
				break
			}
			if strings.HasPrefix(text[i:], f) {
				form, marker = f, e.marker
				break
			}
		}
	}
	return form, marker
}

// replace returns text with every form of the secrets replaced by its
// secret's marker, in one pass, longest first at each position (as
// strings.Replacer does), so a secret containing another is replaced
// whole; text without any form is returned without a copy.
func replace(union *[headWords]uint64, secrets []*formsEntry, text string) string {
	if union == nil {
		return text
	}
	var b strings.Builder
	done := 0 // text[:done] is written to b (or needs no change)
	for i := 0; i+minSecretLen <= len(text); {
		form, marker := longestAt(union, secrets, text, i)
		if form == "" {
			i++
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(text) + 32)
		}
		b.WriteString(text[done:i])
		b.WriteString(marker)
		i += len(form)
		done = i
	}
	if done == 0 {
		return text
	}
	b.WriteString(text[done:])
	return b.String()
}

// find returns the position of the first form of the secrets in text, or -1.
func find(union *[headWords]uint64, secrets []*formsEntry, text string) int {
	if union == nil {
		return -1
	}
	for i := 0; i+minSecretLen <= len(text); i++ {
		if form, _ := longestAt(union, secrets, text, i); form != "" {
			return i
		}
	}
	return -1
}
