package redact

import "sync"

// formCacheSize bounds the secrets whose forms are kept between runs.
const formCacheSize = 512

// formCache keeps the forms of the secrets runs registered last: most
// repeat on every run (a client secret, a token from the shared token
// cache, the same bearer header), and making a long token's base64 forms
// anew each time was most of a passing run's allocations. The values it
// holds are ones the process holds anyway (its secret sources, the token
// cache) or held a moment ago; the oldest go first.
var formCache = newFormsCache(formCacheSize)

// formsEntry is one secret's marker and forms, and a matcher of those
// forms; never modified once made, it is shared by every Secrets.
type formsEntry struct {
	marker  string
	forms   []string
	match   matcher // the forms of at least minSecretLen bytes
	longest int     // the length of the longest form
}

func newFormsEntry(v string) *formsEntry {
	e := &formsEntry{marker: Marker(v), forms: forms(v)}
	seen := make(map[string]bool, len(e.forms))
	for _, form := range e.forms {
		if len(form) < minSecretLen || seen[form] {
			continue
		}
		seen[form] = true
		e.match.add(form)
		e.longest = max(e.longest, len(form))
	}
	return e
}

type formsCache struct {
	mu      sync.Mutex
	entries map[string]*formsEntry
	ring    []string // keys in order of insertion; next is the oldest once full
	next    int
}

func newFormsCache(size int) *formsCache {
	return &formsCache{entries: make(map[string]*formsEntry, size), ring: make([]string, 0, size)}
}

// get returns v's marker and forms, made once while v stays cached.
func (c *formsCache) get(v string) *formsEntry {
	c.mu.Lock()
	e, ok := c.entries[v]
	c.mu.Unlock()
	if ok {
		return e
	}
	e = newFormsEntry(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[v]; ok {
		return old // made meanwhile by another run
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, v)
	} else {
		delete(c.entries, c.ring[c.next])
		c.ring[c.next] = v
		c.next = (c.next + 1) % len(c.ring)
	}
	c.entries[v] = e
	return e
}
