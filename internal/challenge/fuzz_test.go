package challenge

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, respects its limits, keeps its
// output free of control characters, and that String renders each challenge
// so that parsing the rendering gives it back unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`Basic realm="x", Bearer realm="y", error="invalid_token"`,
		`Bearer realm="example", error="insufficient_scope", scope="a b"`,
		"Negotiate abc==", "Negotiate YII+/x=, NTLM",
		`Bearer realm="a \"b\", c\\d", error_description="x, y"`,
		" , Basic realm=x ,, ", "Bearer realm = \"x\" ,\tscope= \"a\"",
		`realm="x", Basic`, "@@@", `Bearer realm="abc`, "Basic \"x\"",
		"Bearer realm=\"a\x01b\"", "Bearer realm=\"\\", "Bearer a=\"b\"\nBasic c=d",
		"Digest realm=\"r\", qop=\"auth,auth-int\", nonce=\"n\", algorithm=SHA-256",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		values := strings.Split(in, "\n") // several header values per input
		chs, err := Parse(values)
		if len(chs) > MaxChallenges {
			t.Fatalf("%d challenges > MaxChallenges", len(chs))
		}
		if len(chs) > 0 || err != nil {
			checkRoundTrip(t, chs)
		}
		for _, c := range chs {
			checkChallenge(t, c)
		}
	})
}

func checkChallenge(t *testing.T, c Challenge) {
	t.Helper()
	if !isToken(c.Scheme) {
		t.Fatalf("scheme %q is not a token", c.Scheme)
	}
	if c.Token68 != "" && c.Params != nil {
		t.Fatalf("challenge has both token68 and params: %#v", c)
	}
	if len(c.Params) > MaxParams {
		t.Fatalf("%d params > MaxParams", len(c.Params))
	}
	for k, v := range c.Params {
		if !isToken(k) || asciiLower(k) != k {
			t.Fatalf("param name %q is not a lower-case token", k)
		}
		if c.Param(strings.ToUpper(k)) != v {
			t.Fatalf("Param(%q) does not find %q", strings.ToUpper(k), k)
		}
		for i := 0; i < len(v); i++ {
			if !isQuotable(v[i]) {
				t.Fatalf("param %q value %q holds control byte %#x", k, v, v[i])
			}
		}
	}
	if got, ok := Find([]Challenge{c}, strings.ToLower(c.Scheme)); !ok || got.Scheme != c.Scheme {
		t.Fatalf("Find(%q) failed", c.Scheme)
	}
}

// checkRoundTrip renders every challenge as its own header value and parses
// the result again: it must give the same challenges and no error.
func checkRoundTrip(t *testing.T, chs []Challenge) {
	t.Helper()
	rendered := make([]string, len(chs))
	total := 0
	for i, c := range chs {
		rendered[i] = c.String()
		total += len(rendered[i])
		if strings.ContainsAny(rendered[i], "\r\n") {
			t.Fatalf("String() = %q holds a line break", rendered[i])
		}
	}
	if total > MaxInput {
		return // rendering may grow a little (", " separators); the cap would cut it
	}
	again, err := Parse(rendered)
	if err != nil {
		t.Fatalf("re-parsing %q: %v", rendered, err)
	}
	if !reflect.DeepEqual(again, chs) && !(len(again) == 0 && len(chs) == 0) {
		t.Fatalf("round trip changed the challenges:\n got %#v\nwant %#v", again, chs)
	}
}
