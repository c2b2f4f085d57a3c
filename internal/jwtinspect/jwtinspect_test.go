package jwtinspect

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mk builds an unsigned test token; the signature is a fixed marker that
// the tests check never comes back.
func mk(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + ".SIGNATUREMARKER"
}

const hdr = `{"alg":"RS256","kid":"k1","typ":"JWT"}`

func at(sec int64, nsec int64) *time.Time {
	t := time.Unix(sec, nsec).UTC()
	return &t
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "JWT", in: mk(hdr, `{"sub":"a"}`), want: true},
		{name: "unsecured JWT, empty signature", in: strings.TrimSuffix(mk(`{"alg":"none"}`, `{}`), "SIGNATUREMARKER"), want: true},
		{name: "surrounding whitespace", in: " " + mk(hdr, `{}`) + "\n", want: true},
		{name: "padded segments", in: "eyJhbGciOiJSUzI1NiJ9.e30=.sig", want: true},
		{name: "JWE has five parts", in: mk(`{"alg":"RSA-OAEP","enc":"A256GCM"}`, "x") + ".iv.tag", want: false},
		{name: "header without alg", in: mk(`{"typ":"JWT"}`, `{}`), want: false},
		{name: "alg not a string", in: mk(`{"alg":1}`, `{}`), want: false},
		{name: "header not an object", in: mk(`[1]`, `{}`), want: false},
		{name: "header not base64url", in: "a+b/.e30.sig", want: false},
		{name: "empty payload", in: base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "..sig", want: false},
		{name: "opaque token", in: "2YotnFZFEjr1zCsicMWpAA", want: false},
		{name: "dotted host name", in: "www.example.com", want: false},
		{name: "too long", in: mk(hdr, `{"x":"`+strings.Repeat("a", MaxToken)+`"}`), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LooksLikeJWT(tt.in); got != tt.want {
				t.Errorf("LooksLikeJWT() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Token // Header and Claims are not compared
	}{
		{
			name: "ID token",
			in:   mk(hdr, `{"iss":"https://idp","sub":"u1","aud":"client","azp":"client","nonce":"n","exp":1700000000,"iat":1699999999.5,"nbf":"1699999000"}`),
			want: Token{Alg: "RS256", Kid: "k1", Typ: "JWT", Issuer: "https://idp", Subject: "u1", Nonce: "n", AuthorizedParty: "client",
				Audience: []string{"client"}, ExpiresAt: at(1700000000, 0), IssuedAt: at(1699999999, 5e8), NotBefore: at(1699999000, 0)},
		},
		{
			name: "RFC 9068 access token",
			in:   mk(`{"alg":"ES256","typ":"at+jwt"}`, `{"aud":["api","other"],"client_id":"c","scope":"read write read","roles":["admin"]}`),
			want: Token{Alg: "ES256", Typ: "at+jwt", ClientID: "c", Audience: []string{"api", "other"}, Scopes: []string{"read", "write"}, Roles: []string{"admin"}},
		},
		{
			name: "Okta scp array and cid",
			in:   mk(hdr, `{"cid":"0oa1","scp":["openid","email"],"aud":"api://default"}`),
			want: Token{Alg: "RS256", Kid: "k1", Typ: "JWT", ClientID: "0oa1", Scopes: []string{"openid", "email"}, Audience: []string{"api://default"}},
		},
		{
			name: "Entra scp string, appid, merged with scope",
			in:   mk(hdr, `{"appid":"app","scp":"User.Read Mail.Send","scope":"User.Read","roles":"Reader"}`),
			want: Token{Alg: "RS256", Kid: "k1", Typ: "JWT", ClientID: "app", Scopes: []string{"User.Read", "Mail.Send"}, Roles: []string{"Reader"}},
		},
		{
			name: "wrong types ignored",
			in:   mk(`{"alg":"HS256","kid":7}`, `{"iss":1,"aud":[1,"a",null,""],"exp":"soon","nbf":1e300,"iat":"NaN","scope":["a b"],"nonce":{}}`),
			want: Token{Alg: "HS256", Audience: []string{"a"}, Scopes: []string{"a", "b"}},
		},
		{
			name: "negative date before the epoch",
			in:   mk(hdr, `{"iat":-1.5}`),
			want: Token{Alg: "RS256", Kid: "k1", Typ: "JWT", IssuedAt: at(-2, 5e8)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			g := *got
			g.Header, g.Claims = nil, nil
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Parse()\n got %+v\nwant %+v", g, tt.want)
			}
			if b, _ := json.Marshal(got); strings.Contains(string(b), "SIGNATUREMARKER") {
				t.Error("the signature was kept")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{name: "empty", in: "", want: ErrMalformed},
		{name: "opaque", in: "abc", want: ErrMalformed},
		{name: "four parts", in: "a.b.c.d", want: ErrMalformed},
		{name: "JWE", in: "a.b.c.d.e", want: ErrEncrypted},
		{name: "too long", in: strings.Repeat("a", MaxToken+1), want: ErrTooLong},
		{name: "bad header", in: "!!.e30.x", want: ErrMalformed},
		{name: "header without alg", in: mk(`{}`, `{}`), want: ErrMalformed},
		{name: "claims not object", in: mk(hdr, `"x"`), want: ErrMalformed},
		{name: "claims null", in: mk(hdr, `null`), want: ErrMalformed},
		{name: "trailing data", in: mk(hdr, `{}{}`), want: ErrMalformed},
		{name: "claims truncated", in: mk(hdr, `{"secretvalue":`), want: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse() error = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "secretvalue") {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		claims   string
		clientID string
		want     string
		evidence string // a substring
	}{
		{name: "at+jwt wins over nonce", header: `{"alg":"RS256","typ":"at+jwt"}`, claims: `{"nonce":"n"}`, want: KindAccess, evidence: "at+jwt"},
		{name: "application/at+jwt", header: `{"alg":"RS256","typ":"Application/AT+JWT"}`, claims: `{}`, want: KindAccess, evidence: "RFC 9068"},
		{name: "cognito id", header: hdr, claims: `{"token_use":"id","aud":"c"}`, want: KindID, evidence: "token_use"},
		{name: "cognito access", header: hdr, claims: `{"token_use":"access","client_id":"c"}`, want: KindAccess, evidence: "token_use"},
		{name: "nonce", header: hdr, claims: `{"nonce":"secret-nonce","aud":"c"}`, want: KindID, evidence: "nonce"},
		{name: "at_hash", header: hdr, claims: `{"at_hash":"x","aud":"c"}`, want: KindID, evidence: "at_hash"},
		{name: "keycloak ID", header: hdr, claims: `{"typ":"ID"}`, want: KindID, evidence: "Keycloak"},
		{name: "keycloak Bearer", header: hdr, claims: `{"typ":"Bearer","azp":"c","aud":"c"}`, want: KindAccess, evidence: "Keycloak"},
		{name: "scope", header: hdr, claims: `{"scope":"read","aud":"c","azp":"c"}`, want: KindAccess, evidence: "scope"},
		{name: "Entra own-API token has scp", header: hdr, claims: `{"scp":"x","aud":"c","azp":"c"}`, clientID: "c", want: KindAccess, evidence: "scp"},
		{name: "aud is client with auth_time", header: hdr, claims: `{"aud":"c","auth_time":1}`, clientID: "c", want: KindID, evidence: "client id alone"},
		{name: "aud is client with azp", header: hdr, claims: `{"aud":["c"],"azp":"c"}`, clientID: "c", want: KindID, evidence: "client id alone"},
		{name: "aud is azp without client id", header: hdr, claims: `{"aud":"c","azp":"c"}`, want: KindID, evidence: "azp"},
		{name: "aud is client alone, nothing else", header: hdr, claims: `{"aud":"c"}`, clientID: "c", want: KindUnknown, evidence: "own API"},
		{name: "aud has several", header: hdr, claims: `{"aud":["c","d"],"auth_time":1}`, clientID: "c", want: KindUnknown, evidence: "no claim"},
		{name: "empty", header: hdr, claims: `{}`, want: KindUnknown, evidence: "no claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(mk(tt.header, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			kind, ev := tok.KindFor(tt.clientID)
			if kind != tt.want || !strings.Contains(ev, tt.evidence) {
				t.Errorf("KindFor(%q) = %q, %q; want %q with %q", tt.clientID, kind, ev, tt.want, tt.evidence)
			}
			if strings.Contains(ev, "secret-nonce") {
				t.Errorf("evidence %q echoes a claim value", ev)
			}
			if got := tok.IsIDToken(tt.clientID); got != (tt.want == KindID) {
				t.Errorf("IsIDToken(%q) = %v", tt.clientID, got)
			}
			if tt.clientID == "" {
				if k2, ev2 := tok.Kind(); k2 != kind || ev2 != ev {
					t.Errorf("Kind() = %q, %q differs from KindFor(\"\")", k2, ev2)
				}
			}
		})
	}
}

func TestSafeClaims(t *testing.T) {
	inner := mk(hdr, `{"sub":"x"}`)
	jwe := "eyJhbGciOiJSU0EtT0FFUCJ9.aaaaaaaaaa.bbbbbbbbbb.cccccccccc.dddddddddd"
	tests := []struct {
		name   string
		claims string
		want   map[string]any
	}{
		{
			name:   "standard claims kept",
			claims: `{"iss":"i","sub":"s","aud":["a"],"exp":1,"nonce":"n","at_hash":"h","c_hash":"c","token_use":"id"}`,
			want: map[string]any{"iss": "i", "sub": "s", "aud": []any{"a"}, "exp": json.Number("1"), "nonce": "n",
				"at_hash": "h", "c_hash": "c", "token_use": "id"},
		},
		{
			name:   "secret names dropped at any depth",
			claims: `{"refresh_token":"r","Client_Secret":"s","user":{"password":"p","name":"n","list":[{"auth_code":"c","ok":1}]},"sub":"x"}`,
			want:   map[string]any{"user": map[string]any{"name": "n", "list": []any{map[string]any{"ok": json.Number("1")}}}, "sub": "x"},
		},
		{
			name:   "postal code kept",
			claims: `{"address":{"postal_code":"12345","country":"DE"}}`,
			want:   map[string]any{"address": map[string]any{"postal_code": "12345", "country": "DE"}},
		},
		{
			name:   "embedded JWT and JWE values redacted",
			claims: `{"_claim_sources":{"src1":{"endpoint":"https://graph","jwt":"` + inner + `"}},"x":["` + jwe + `"],"host":"a.b.c"}`,
			want: map[string]any{"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph", "jwt": "[redacted: embedded JWT]"}},
				"x": []any{"[redacted: embedded JWT]"}, "host": "a.b.c"},
		},
		{
			name:   "deep nesting cut",
			claims: strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40),
			want:   nil, // checked below by depth only
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(mk(hdr, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			got := tok.SafeClaims()
			if tt.want == nil {
				if d := depth(got); d > maxSafeDepth+1 {
					t.Errorf("depth %d > %d", d, maxSafeDepth+1)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SafeClaims()\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestSafeClaimsIsACopy(t *testing.T) {
	tok, _ := Parse(mk(hdr, `{"user":{"name":"n"}}`))
	tok.SafeClaims()["user"].(map[string]any)["name"] = "changed"
	if tok.Claims["user"].(map[string]any)["name"] != "n" {
		t.Error("SafeClaims shares maps with Claims")
	}
}

// depth returns the nesting depth of a decoded JSON value.
func depth(v any) int {
	switch v := v.(type) {
	case map[string]any:
		d := 0
		for _, x := range v {
			d = max(d, depth(x))
		}
		return d + 1
	case []any:
		d := 0
		for _, x := range v {
			d = max(d, depth(x))
		}
		return d + 1
	}
	return 0
}

// BenchmarkParse decodes an access token shaped like the per-run
// benchmark's (internal/daemon BenchmarkPassingRun): what every run with a
// JWT access token pays once.
func BenchmarkParse(b *testing.B) {
	tok := mk(`{"alg":"RS256","typ":"at+jwt","kid":"bench"}`,
		`{"iss":"http://127.0.0.1/","sub":"cc-client","aud":"https://api.example.test/","exp":1796688000,"iat":1796601600,"scope":"api:read","client_id":"cc-client","jti":"b3BhcXVlLWlk"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}
