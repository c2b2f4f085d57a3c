package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/redact/redacttest"
)

var markerInText = regexp.MustCompile(`\[redacted sha256:[0-9a-f]{12}\]`)

// withoutMarkers splits text at the markers, so that a check for a secret
// never looks across the text a marker replaced.
func withoutMarkers(text string) []string {
	return markerInText.Split(text, -1)
}

// leaksIn reports every encoding of secret left in the pieces of text
// between markers.
func leaksIn(t *testing.T, text, secret string) {
	t.Helper()
	for _, piece := range withoutMarkers(text) {
		for _, l := range redacttest.Leaks(piece, secret) {
			t.Errorf("%s left in %q", l, text)
		}
	}
}

// TestSecretsEncodings: every encoding a target can echo a secret in is
// replaced by the secret's own marker, for secrets drawn from the whole
// printable ASCII set and from non-ASCII text.
func TestSecretsEncodings(t *testing.T) {
	secrets := append([]string{"plain-alnum-secret-0123456789", "eleven-byte"}, redacttest.Canaries...)
	for i, secret := range secrets {
		var s Secrets
		s.Add(secret)
		for _, e := range redacttest.Encodings(secret) {
			t.Run(fmt.Sprintf("secret %d/%s", i, e.Name), func(t *testing.T) {
				got := s.String(`{"echo":"` + e.Text + `"}`)
				leaksIn(t, got, secret)
				if !strings.Contains(got, Marker(secret)) {
					t.Errorf("%q: no marker of the secret in %q", e.Name, got)
				}
			})
		}
		if s.Len() != 1 {
			t.Errorf("Len() = %d after one secret, want 1 (its forms are not secrets of their own)", s.Len())
		}
	}
}

// TestSecretsInsideBase64Blob: a secret inside a longer base64 blob (a
// Basic credential, a dumped request) is found at each of its three
// alignments within a 3-byte group, whatever bytes surround it.
func TestSecretsInsideBase64Blob(t *testing.T) {
	secret := redacttest.Canaries[0]
	var s Secrets
	s.Add(secret)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		for _, before := range []string{"", "u", "us", "user:", "\xff\xfe\xfd\x00"} {
			for _, after := range []string{"", "!", "?x", "\x00\x01\x02"} {
				blob := enc.EncodeToString([]byte(before + secret + after))
				got := s.String("Basic " + blob)
				if !strings.Contains(got, Marker(secret)) {
					t.Errorf("%q + secret + %q: blob %q not redacted: %q", before, after, blob, got)
				}
				frag := redacttest.Fragment(enc, secret, len(before)%3)
				for _, piece := range withoutMarkers(got) {
					if strings.Contains(piece, frag) {
						t.Errorf("fragment %q left in %q", frag, got)
					}
				}
			}
		}
	}
}

// TestShortSecretBase64Fragments: fragments shorter than minFragmentLen
// are not registered: they would match ordinary text.
func TestShortSecretBase64Fragments(t *testing.T) {
	var s Secrets
	s.Add("abcd")
	text := "the quick brown fox: " + base64.StdEncoding.EncodeToString([]byte("xabcdx"))
	if got := s.String(text); got != text {
		t.Errorf("a 4-byte secret's fragments changed %q into %q", text, got)
	}
}

// FuzzSecretsEncodings: for any secret, any of its encodings embedded in
// any text, and the secret inside any base64 blob, the redacted text holds
// no encoding of the secret between its markers.
func FuzzSecretsEncodings(f *testing.F) {
	for i, c := range redacttest.Canaries {
		f.Add(c, "before ", " after", uint8(i*7))
	}
	f.Add("abcd", "", "", uint8(0))
	f.Add("secret-with-\x00-nul", "{\"a\":\"", "\"}", uint8(3))
	f.Fuzz(func(t *testing.T, secret, before, after string, pick uint8) {
		if len(secret) < minSecretLen || len(secret) > 512 || len(before)+len(after) > 4096 {
			return
		}
		for _, form := range forms(secret) {
			if len(form) < shortestForm(secret) {
				t.Fatalf("form %q of %q is shorter than shortestForm %d", form, secret, shortestForm(secret))
			}
		}
		var s Secrets
		s.Add(secret)
		encs := redacttest.Encodings(secret)
		e := encs[int(pick)%len(encs)]
		leaksIn(t, s.String(before+e.Text+after), secret)
		enc := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}[pick%4]
		leaksIn(t, s.String("blob "+enc.EncodeToString([]byte(before+secret+after))+" end"), secret)
	})
}

func TestSecretsContains(t *testing.T) {
	var s Secrets
	if s.Contains("anything") {
		t.Error("an empty set contains a secret")
	}
	secret := redacttest.Canaries[0]
	s.Add(secret)
	for _, e := range redacttest.Encodings(secret) {
		if !s.Contains("x=" + e.Text + "&y") {
			t.Errorf("Contains misses the %s form", e.Name)
		}
	}
	if s.Contains("Canary&Amp<Sec>") {
		t.Error("Contains matched a part of the secret")
	}
}

// TestBodyJSONOfEncodedSecret: a JSON body whose strings hold a secret in
// another encoding (HTML-escaped, base64, url-encoded) is redacted before
// it is re-encoded: Go's encoder would turn &amp; into \u0026amp;, a form
// of no encoding.
func TestBodyJSONOfEncodedSecret(t *testing.T) {
	secret := redacttest.Canaries[0]
	var s Secrets
	s.Add(secret)
	for _, e := range redacttest.Encodings(secret) {
		body, _ := json.Marshal(map[string]any{"detail": "got " + e.Text, "list": []any{e.Text}})
		got := s.Body("application/json", body)
		leaksIn(t, got, secret)
		var decoded map[string]any
		if err := json.Unmarshal([]byte(got), &decoded); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		for _, v := range []string{decoded["detail"].(string), decoded["list"].([]any)[0].(string)} {
			leaksIn(t, v, secret)
		}
	}
}

// TestPlainFormsFastPath: for values of letters, digits and -_.~ the
// short path gives the same set of forms as computing every encoding.
func TestPlainFormsFastPath(t *testing.T) {
	for _, v := range []string{"abcd", "tok-01_AZ.az~09", "eyJhbGciOiJSUzI1NiJ9", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x"} {
		if !plain(v) {
			t.Fatalf("%q is plain", v)
		}
		fast, full := map[string]bool{}, map[string]bool{}
		for _, f := range forms(v) {
			fast[f] = true
		}
		for _, f := range allForms(v) {
			full[f] = true
		}
		if len(fast) != len(full) {
			t.Errorf("%q: %d forms on the short path, %d computed", v, len(fast), len(full))
		}
		for f := range full {
			if !fast[f] {
				t.Errorf("%q: the short path misses %q", v, f)
			}
		}
	}
	for _, v := range []string{"a b", "a+b", "a/b", "a&b", "ü", "a\\b", "a'b", "a=b"} {
		if plain(v) {
			t.Errorf("%q is not plain", v)
		}
	}
}

func TestSecretsLongest(t *testing.T) {
	var s Secrets
	if s.Longest() != 0 {
		t.Errorf("Longest of nothing = %d", s.Longest())
	}
	secret := redacttest.Canaries[1]
	s.Add(secret)
	want := 0
	for _, e := range redacttest.Encodings(secret) {
		want = max(want, len(e.Text))
	}
	if got := s.Longest(); got < want {
		t.Errorf("Longest = %d, shorter than the %d-byte longest encoding", got, want)
	}
}
