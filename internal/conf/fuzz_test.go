package conf

import (
	"strings"
	"testing"
)

// FuzzTemplate checks that NewTemplate never panics, that String() gives
// the input back, and that a parsed template is the input with its escapes
// resolved and each reference in canonical form.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"", "plain", "${env:A}", "${file:/a/b}", "${credential:c.d}", "${steps.a.b}", "$${env:A}", "$$${env:A}",
		"Bearer ${steps.token.access_token}", "${env:A", "${nope:x}", "${}", "}${", "$", "${steps.a.b}$${x}",
		"https://api/${env:A}/x?y=${file:/z}", "\x00${env:\xff}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tp := NewTemplate(in)
		if tp.String() != in {
			t.Fatalf("String() = %q, want %q", tp.String(), in)
		}
		if text, _ := tp.MarshalText(); string(text) != in {
			t.Fatalf("MarshalText() = %q", text)
		}
		if tp.IsZero() != (in == "") {
			t.Fatalf("IsZero() = %v", tp.IsZero())
		}
		if tp.LoadErr() != nil {
			if len(tp.Refs()) != 0 {
				t.Fatalf("a bad template has refs %v", tp.Refs())
			}
			return
		}
		var b strings.Builder
		plain := true // no reference holds a "$", which ReplaceAll would unescape
		for _, p := range tp.parts {
			if p.ref == nil {
				b.WriteString(p.literal)
				continue
			}
			b.WriteString(p.ref.String())
			plain = plain && !strings.Contains(p.ref.Name, "$")
			again := NewTemplate(p.ref.String()).Refs()
			if len(again) != 1 || again[0] != *p.ref {
				t.Fatalf("ref %+v does not parse back from %q: %+v", *p.ref, p.ref.String(), again)
			}
		}
		if want := strings.ReplaceAll(in, "$${", "${"); plain && b.String() != want {
			t.Fatalf("parsed %q as %q, want %q", in, b.String(), want)
		}
	})
}
