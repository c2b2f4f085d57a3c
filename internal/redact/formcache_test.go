package redact

import (
	"fmt"
	"slices"
	"testing"
)

// TestFormCache: a cached secret's forms and marker are the ones made
// afresh; the cache holds at most its size, the oldest going first; and a
// Secrets redacts a secret whose forms came from the cache.
func TestFormCache(t *testing.T) {
	c := newFormsCache(3)
	for i := range 5 {
		v := fmt.Sprintf("secret-%d&x", i)
		e := c.get(v)
		if e.marker != Marker(v) || !slices.Equal(e.forms, forms(v)) {
			t.Fatalf("cached forms of %q differ from fresh ones", v)
		}
		if again := c.get(v); again != e {
			t.Errorf("%q: a second get made the forms again", v)
		}
	}
	if len(c.entries) != 3 || len(c.ring) != 3 {
		t.Fatalf("cache of size 3 holds %d entries (%d in its ring)", len(c.entries), len(c.ring))
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := c.entries[fmt.Sprintf("secret-%d&x", i)]; ok != want {
			t.Errorf("secret-%d cached = %v, want %v (the oldest go first)", i, ok, want)
		}
	}
	for range 2 { // the second run's forms come from the cache
		var s Secrets
		s.Add("tok-A9zQ7xK2mP4vL8nR3sT6wY1bC5dF0gH")
		if got := s.String("Bearer tok-A9zQ7xK2mP4vL8nR3sT6wY1bC5dF0gH"); got != "Bearer "+Marker("tok-A9zQ7xK2mP4vL8nR3sT6wY1bC5dF0gH") {
			t.Errorf("String = %q", got)
		}
	}
}
