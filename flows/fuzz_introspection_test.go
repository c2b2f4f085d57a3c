package flows

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseIntrospection feeds hostile introspection answers (RFC 7662
// §2.2) to the parser: it never panics, accepts only one JSON object with
// a boolean active, and its errors never quote the body (which may hold
// what a token carried).
func FuzzParseIntrospection(f *testing.F) {
	for _, s := range []string{
		`{"active":true,"scope":"api:read api:write","client_id":"c","aud":["https://api"],"exp":1700000000,"iat":1699996400,"cnf":{"jkt":"x"}}`,
		`{"active":false}`, `{"active":"true"}`, `{}`, `[]`, `null`, `{"active":true}{"active":false}`, `{"active":true,"exp":1e400}`,
		`{"active":true,"exp":"1700000000","aud":"x","scope":7}`, `{"active":true,"exp":-99999999999999}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := parseIntrospection(body)
		if err != nil {
			if len(body) > 3 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("the error quotes the body: %v", err)
			}
			return
		}
		if in.token == nil || in.token.Claims == nil {
			t.Fatal("an answer without its members")
		}
		m := decodeWithNumbers(t, body)
		if m["active"] != in.active {
			t.Fatalf("active %v, the body says %v", in.active, m["active"])
		}
	})
}

// FuzzParseUserinfo is FuzzParseIntrospection for plain userinfo answers
// (OIDC Core §5.3.2): one JSON object with a string sub.
func FuzzParseUserinfo(f *testing.F) {
	for _, s := range []string{
		`{"sub":"alice","email":"alice@example.test","email_verified":true,"address":{"country":"x"}}`,
		`{"sub":7}`, `{"sub":""}`, `{}`, `"sub"`, `{"sub":"a"}x`, `{"sub":"a","exp":1e400,"aud":[1,"x"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := parseUserinfo(body)
		if err != nil {
			if len(body) > 3 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("the error quotes the body: %v", err)
			}
			return
		}
		if info.Subject == "" {
			t.Fatal("accepted an answer without sub")
		}
		if m := decodeWithNumbers(t, body); m["sub"] != info.Subject {
			t.Fatalf("sub %q does not come from the body %q", info.Subject, body)
		}
	})
}

// decodeWithNumbers is encoding/json's reading of an accepted body, numbers
// kept as text (1e400 is a JSON number, too large for a float64).
func decodeWithNumbers(t *testing.T, body []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("accepted what encoding/json refuses (%v): %q", err, body)
	}
	return m
}
