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

type formsEntry struct {
	marker string
	forms  []string // never modified once made: shared by every Secrets
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
	e = &formsEntry{marker: Marker(v), forms: forms(v)}
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
