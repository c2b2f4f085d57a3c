package baseline

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestBaselinesShareStrings: two flows' baselines learned from runs of the
// same shape hold one copy of each key, label, value and element, and so
// does a baseline read back from its JSON; comparing still works on them.
func TestBaselinesShareStrings(t *testing.T) {
	a, b := learned(t, 5), learned(t, 5)
	same := func(what, x, y string) {
		t.Helper()
		if x != y {
			t.Fatalf("%s: %q vs %q", what, x, y)
		}
		if unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s %q: two copies", what, x)
		}
	}
	key := func(m map[string]*ScalarStats, want string) string {
		for k := range m {
			if k == want {
				return k
			}
		}
		t.Fatalf("no scalar %q", want)
		return ""
	}
	const alg = "token.access_token.alg"
	same("scalar key", key(a.Scalars, alg), key(b.Scalars, alg))
	same("label", a.Scalars[alg].Label, b.Scalars[alg].Label)
	same("value", a.Scalars[alg].Value, b.Scalars[alg].Value)
	same("lost phrase", a.Sets["token.access_token.scopes"].Lost, b.Sets["token.access_token.scopes"].Lost)
	elem := func(s *SetStats, want string) string {
		for e := range s.Elems {
			if e == want {
				return e
			}
		}
		t.Fatalf("no element %q", want)
		return ""
	}
	same("element", elem(a.Sets["token.access_token.scopes"], "orders.read"), elem(b.Sets["token.access_token.scopes"], "orders.read"))

	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var c Baseline
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	c.ShareStrings()
	same("read back: scalar key", key(a.Scalars, alg), key(c.Scalars, alg))
	same("read back: value", a.Scalars[alg].Value, c.Scalars[alg].Value)
	same("read back: element", elem(a.Sets["token.access_token.scopes"], "orders.read"), elem(c.Sets["token.access_token.scopes"], "orders.read"))
	if drifts := c.Observe(observe(t, result(t0.Add(time.Hour), 0, tokenStep(1))), noLatency); len(drifts) != 0 {
		t.Errorf("a baseline read back drifted on a normal run: %v", drifts)
	}
}

// TestInternTableIsBounded: past its size, or for a long string, a table
// gives the string back as it is and grows no more.
func TestInternTableIsBounded(t *testing.T) {
	tab := newInternTable(3)
	for i := range 10 {
		s := fmt.Sprint("value-", i)
		if got := tab.intern(s); got != s {
			t.Fatalf("intern(%q) = %q", s, got)
		}
	}
	if n := len(tab.m); n != 3 {
		t.Errorf("table holds %d strings, want 3", n)
	}
	long := strings.Repeat("x", maxInternedLen+1)
	big := newInternTable(10)
	big.intern(long)
	if len(big.m) != 0 {
		t.Errorf("a %d-byte string was kept", len(long))
	}
	first := fmt.Sprint("value-", 0)
	if got := tab.intern(first); unsafe.StringData(got) == unsafe.StringData(first) {
		t.Errorf("a string in the table was not shared")
	}
}
