package setcookie

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzSetCookie checks that ParseSetCookie, Check and Describe never panic
// together, that Describe and the problems depend on the value only through
// its length (so they never show it), and that reports stay bounded.
func FuzzSetCookie(f *testing.F) {
	seeds := []struct {
		line, target string
		now          int64
	}{
		{"sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax", "https://a.example/", 1700000000},
		{"__Host-sid=abcd; Domain=a.example; Path=/x; SameSite=None", "http://a.example/x", 0},
		{"sid=secret; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "http://localhost/", 1},
		{`id="/api"; Path=/api; Domain=.b.example`, "https://[::1]:8443/apiv2", 1700000000},
		{"a=Path; Path=api; Expires=junk; Partitioned", "", -1},
		{"__Secure-x=1; secure; samesite=none", "HTTP://127.0.0.1", 1700000000},
	}
	for _, s := range seeds {
		f.Add(s.line, s.target, s.now)
	}
	f.Fuzz(func(t *testing.T, line, target string, nowUnix int64) {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			return
		}
		u, _ := url.Parse(target)
		_ = Check(c, u) // the wall-clock entry point, for panics only
		checkValueHidden(t, c, u, time.Unix(nowUnix, 0))
	})
}

// checkValueHidden compares the reports for c with those for the same
// cookie holding another value of the same length: they must be equal.
func checkValueHidden(t *testing.T, c *http.Cookie, u *url.URL, at time.Time) {
	t.Helper()
	other := *c
	other.Value = strings.Repeat("\x00", len(c.Value)) // never rendered
	d, d2 := Describe(c), Describe(&other)
	if len(c.Value) >= 4 && strings.Contains(d, c.Value) && !strings.Contains(d2, c.Value) {
		t.Fatalf("Describe = %q shows the value", d)
	}
	if d != d2 || len(d) > 512 { // name, path and domain are cut at 64 bytes
		t.Fatalf("Describe depends on the value's bytes or is too long: %q vs %q", d, d2)
	}
	problems, problems2 := CheckAt(c, u, at), CheckAt(&other, u, at)
	if !reflect.DeepEqual(problems, problems2) || len(problems) > len(checks)+2 {
		t.Fatalf("problems depend on the value's bytes or are too many: %+v vs %+v", problems, problems2)
	}
	for _, p := range problems {
		if p.Cookie == "" || p.Attribute == "" || p.Detail == "" || strings.ContainsAny(p.Detail, "\r\n") {
			t.Fatalf("malformed problem %+v", p)
		}
	}
}
