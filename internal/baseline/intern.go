package baseline

import "sync"

// Interning: the keys, labels, values and set elements of baselines repeat
// from flow to flow (every client-credentials flow has
// "token.access_token.alg", "access token alg", "RS256"), and a heap
// profile at 10,000 flows found them the largest part of the daemon's
// memory (each flow's baseline held its own copies: ~45 MB of ~150 MB live).
// A baseline keeps the shared copy instead. The table only grows, so it is
// bounded: past maxInterned strings, or for a string longer than
// maxInternedLen (a hostile target's values), the string is kept as given.
const (
	maxInterned    = 1 << 16
	maxInternedLen = 128
)

var interned = newInternTable(maxInterned)

// intern returns the shared copy of s.
func intern(s string) string { return interned.intern(s) }

type internTable struct {
	mu  sync.Mutex
	m   map[string]string
	max int
}

func newInternTable(size int) *internTable { return &internTable{m: map[string]string{}, max: size} }

func (t *internTable) intern(s string) string {
	if s == "" || len(s) > maxInternedLen {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if shared, ok := t.m[s]; ok {
		return shared
	}
	if len(t.m) >= t.max {
		return s
	}
	t.m[s] = s
	return s
}

// ShareStrings replaces the baseline's strings by their shared copies: for
// a baseline read from the store, whose strings are all its own.
func (b *Baseline) ShareStrings() {
	b.Flow = intern(b.Flow)
	b.shareFeatures()
	latency := make(map[string]*LatencyStats, len(b.Latency))
	for k, l := range b.Latency {
		latency[intern(k)] = l
	}
	b.Latency = latency
}

// shareFeatures shares the strings of the learned scalars and sets.
func (b *Baseline) shareFeatures() {
	scalars := make(map[string]*ScalarStats, len(b.Scalars))
	for k, s := range b.Scalars {
		s.Label, s.Value = intern(s.Label), intern(s.Value)
		scalars[intern(k)] = s
	}
	b.Scalars = scalars
	sets := make(map[string]*SetStats, len(b.Sets))
	for k, s := range b.Sets {
		s.Lost, s.Gained = intern(s.Lost), intern(s.Gained)
		elems := make(map[string]int, len(s.Elems))
		for e, n := range s.Elems {
			elems[intern(e)] = n
		}
		s.Elems = elems
		sets[intern(k)] = s
	}
	b.Sets = sets
}
