package jwtinspect

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParse checks that LooksLikeJWT, Parse, Kind and SafeClaims never
// panic; that Parse accepts only what LooksLikeJWT accepts; that the
// signature never comes back; that SafeClaims holds no secret-named member
// and stays bounded; and that Kind returns one of its three kinds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		mk(hdr, `{"iss":"i","aud":"c","azp":"c","nonce":"n","exp":1700000000}`),
		mk(`{"alg":"ES256","typ":"at+jwt"}`, `{"aud":["a","b"],"scope":"a b","scp":["c"],"roles":"r","client_id":"c"}`),
		mk(hdr, `{"exp":"1700000000.25","nbf":-1,"iat":1e309,"refresh_token":"x","u":{"password":"p"}}`),
		mk(hdr, `{"_claim_sources":{"s":{"jwt":"`+mk(hdr, `{}`)+`"}}}`),
		mk(hdr, strings.Repeat(`[`, 50)+strings.Repeat(`]`, 50)),
		"a.b.c.d.e", "eyJhbGciOiJub25lIn0.e30.", "..", "", "e30=.e30=.x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		looks := LooksLikeJWT(s)
		tok, err := Parse(s)
		if err != nil {
			return
		}
		if !looks {
			t.Fatalf("Parse accepted what LooksLikeJWT rejects")
		}
		checkSignatureDropped(t, s, tok)
		if k, ev := tok.Kind(); (k != KindAccess && k != KindID && k != KindUnknown) || ev == "" {
			t.Fatalf("Kind() = %q, %q", k, ev)
		}
		if tok.IsIDToken(tok.AuthorizedParty) && tok.Typ == "at+jwt" {
			t.Fatal("an at+jwt token classified as an ID token")
		}
		safe := tok.SafeClaims()
		checkSafe(t, safe, 0)
		if _, err := json.Marshal(safe); err != nil {
			t.Fatalf("SafeClaims is not JSON-encodable: %v", err)
		}
	})
}

// checkSignatureDropped parses the same token with another signature: if
// the signature is never kept, both parse to the same JSON.
func checkSignatureDropped(t *testing.T, s string, tok *Token) {
	t.Helper()
	s = strings.TrimSpace(s)
	other, err := Parse(s[:strings.LastIndexByte(s, '.')+1] + "OTHER")
	if err != nil {
		t.Fatalf("changing the signature made the token unparsable: %v", err)
	}
	a, errA := json.Marshal(tok)
	b, errB := json.Marshal(other)
	if errA != nil || errB != nil {
		t.Fatalf("Token is not JSON-encodable: %v, %v", errA, errB)
	}
	if string(a) != string(b) {
		t.Fatal("the decoded token depends on its signature")
	}
}

func checkSafe(t *testing.T, v any, d int) {
	t.Helper()
	if d > maxSafeDepth+2 {
		t.Fatalf("SafeClaims nested deeper than %d", maxSafeDepth)
	}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if isSecretName(k) {
				t.Fatalf("SafeClaims kept %q", k)
			}
			checkSafe(t, x, d+1)
		}
	case []any:
		for _, x := range v {
			checkSafe(t, x, d+1)
		}
	case string:
		if LooksLikeJWT(v) {
			t.Fatal("SafeClaims kept an embedded JWT")
		}
	}
}
