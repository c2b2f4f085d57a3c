package dpopproof_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof/dpopprooftest"
)

const tokenURL = "http://127.0.0.1:8080/oauth/token"

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// handMade builds a compact JWS from raw header and claims, signed by key
// as ES256 (or not at all when key is nil): for the shapes go-jose will
// not produce.
func handMade(t *testing.T, header, claims any, key *ecdsa.PrivateKey) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	if key == nil {
		return input + "."
	}
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return input + "." + b64(sig)
}

func publicJWK(t *testing.T, k crypto.PublicKey) map[string]any {
	t.Helper()
	raw, err := (&jose.JSONWebKey{Key: k}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func wantRefused(t *testing.T, err error, contains string) {
	t.Helper()
	var e *dpopproof.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a *dpopproof.Error", err)
	}
	if !strings.Contains(e.Description, contains) {
		t.Errorf("refused with %q, want it to say %q", e.Description, contains)
	}
}

func TestParseAcceptsEachAlgorithm(t *testing.T) {
	ec := dpopprooftest.NewKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []*dpopprooftest.Key{ec, {Signer: rsaKey, Alg: jose.RS256}, {Signer: rsaKey, Alg: jose.PS256}, {Signer: edKey, Alg: jose.EdDSA}} {
		t.Run(string(k.Alg), func(t *testing.T) {
			p, err := dpopproof.Parse(k.Proof(t, http.MethodPost, tokenURL, ""))
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != k.JKT(t) || p.HTM != http.MethodPost || p.HTU != tokenURL || p.JTI == "" || p.IssuedAt == 0 {
				t.Errorf("parsed %+v", p)
			}
		})
	}
}

func TestParseRefusesBadProofs(t *testing.T) {
	k := dpopprooftest.NewKey(t)
	priv := k.Signer.(*ecdsa.PrivateKey)
	other := dpopprooftest.NewKey(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(edit func(map[string]any)) map[string]any {
		c := dpopprooftest.Claims(http.MethodPost, tokenURL, "", time.Now())
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := k.Proof(t, http.MethodPost, tokenURL, "")
	parts := strings.Split(good, ".")
	flipped := []byte(parts[2])
	flipped[3] ^= 'A' ^ 'B'
	if flipped[3] == parts[2][3] {
		flipped[3] = 'A'
	}
	privJWK, err := (&jose.JSONWebKey{Key: priv}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, proof, says string
	}{
		{"empty", "", "empty"},
		{"not a JWS", "hello", "not a compact JWS"},
		{"too large", strings.Repeat("a", dpopproof.MaxProofSize+1), "larger than"},
		{"typ JWT", k.Sign(t, "JWT", claims(nil)), `typ is "JWT"`},
		{"no typ", k.Sign(t, "", claims(nil)), `typ is ""`},
		{"alg none", handMade(t, map[string]any{"alg": "none", "typ": dpopproof.Type, "jwk": publicJWK(t, &priv.PublicKey)}, claims(nil), nil), "not a compact JWS"},
		{"alg HS256", handMade(t, map[string]any{"alg": "HS256", "typ": dpopproof.Type, "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}, claims(nil), priv), "not a compact JWS"},
		{"no jwk", handMade(t, map[string]any{"alg": "ES256", "typ": dpopproof.Type}, claims(nil), priv), "no jwk"},
		{"private jwk", handMade(t, map[string]any{"alg": "ES256", "typ": dpopproof.Type, "jwk": json.RawMessage(privJWK)}, claims(nil), priv), ""},
		{"signed by another key than jwk", handMade(t, map[string]any{"alg": "ES256", "typ": dpopproof.Type, "jwk": publicJWK(t, other.Signer.Public())}, claims(nil), priv), "signature does not verify"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(flipped), "signature does not verify"},
		{"RSA 1024", (&dpopprooftest.Key{Signer: small, Alg: jose.RS256}).Sign(t, dpopproof.Type, claims(nil)), "1024 bits"},
		{"no jti", k.Sign(t, dpopproof.Type, claims(func(c map[string]any) { delete(c, "jti") })), "no jti"},
		{"long jti", k.Sign(t, dpopproof.Type, claims(func(c map[string]any) { c["jti"] = strings.Repeat("j", 257) })), "jti is longer"},
		{"no htm", k.Sign(t, dpopproof.Type, claims(func(c map[string]any) { delete(c, "htm") })), "no htm"},
		{"no htu", k.Sign(t, dpopproof.Type, claims(func(c map[string]any) { delete(c, "htu") })), "no htu"},
		{"no iat", k.Sign(t, dpopproof.Type, claims(func(c map[string]any) { delete(c, "iat") })), "no iat"},
		{"iat a string", k.Sign(t, dpopproof.Type, claims(func(c map[string]any) { c["iat"] = "now" })), "numeric iat"},
		{"iat huge", k.Sign(t, dpopproof.Type, claims(func(c map[string]any) { c["iat"] = 1e300 })), "plausible"},
		{"claims an array", handMade(t, map[string]any{"alg": "ES256", "typ": dpopproof.Type, "jwk": publicJWK(t, &priv.PublicKey)}, []int{1}, priv), "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dpopproof.Parse(tc.proof)
			wantRefused(t, err, tc.says)
		})
	}
}

func TestFromHeader(t *testing.T) {
	h := http.Header{}
	if _, present, err := dpopproof.FromHeader(h); present || err != nil {
		t.Errorf("no header: present %v, err %v", present, err)
	}
	h.Add("DPoP", "a")
	if raw, present, err := dpopproof.FromHeader(h); raw != "a" || !present || err != nil {
		t.Errorf("one header: %q %v %v", raw, present, err)
	}
	h.Add("Dpop", "b")
	_, _, err := dpopproof.FromHeader(h)
	wantRefused(t, err, "more than one DPoP header")
}

func TestCheck(t *testing.T) {
	k := dpopprooftest.NewKey(t)
	now := time.Unix(1_800_000_000, 0)
	v := dpopproof.NewVerifier(dpopproof.Options{Now: func() time.Time { return now }})
	const token = "an-access-token"
	at := func(edit func(map[string]any), access string) string {
		c := dpopprooftest.Claims(http.MethodGet, "http://127.0.0.1:9000/orders", access, now)
		if edit != nil {
			edit(c)
		}
		return k.Sign(t, dpopproof.Type, c)
	}
	api := dpopproof.Request{Method: http.MethodGet, URL: "http://127.0.0.1:9000/orders", AccessToken: token}

	t.Run("accepted", func(t *testing.T) {
		for _, htu := range []string{"http://127.0.0.1:9000/orders", "HTTP://127.0.0.1:9000/orders?page=2#x"} {
			p, err := v.Check(at(func(c map[string]any) { c["htu"] = htu }, token), api)
			if err != nil || p.JKT != k.JKT(t) {
				t.Errorf("htu %s: %v", htu, err)
			}
		}
		p, err := v.Check(k.Sign(t, dpopproof.Type, dpopprooftest.Claims(http.MethodPost, "http://Example.COM:80", "", now)),
			dpopproof.Request{Method: http.MethodPost, URL: "http://example.com/"})
		if err != nil || p == nil {
			t.Errorf("default port and empty path: %v", err)
		}
	})

	replayed := at(nil, token)
	if _, err := v.Check(replayed, api); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, proof string
		req         dpopproof.Request
		says        string
	}{
		{"htm", at(func(c map[string]any) { c["htm"] = "POST" }, token), api, `htm "POST"`},
		{"htm case", at(func(c map[string]any) { c["htm"] = "get" }, token), api, `htm "get"`},
		{"htu path", at(func(c map[string]any) { c["htu"] = "http://127.0.0.1:9000/admin/export" }, token), api, "htu"},
		{"htu port", at(func(c map[string]any) { c["htu"] = "http://127.0.0.1:9001/orders" }, token), api, "htu"},
		{"htu scheme", at(func(c map[string]any) { c["htu"] = "https://127.0.0.1:9000/orders" }, token), api, "htu"},
		{"htu relative", at(func(c map[string]any) { c["htu"] = "/orders" }, token), api, "htu"},
		{"iat old", at(func(c map[string]any) { c["iat"] = now.Add(-2 * time.Minute).Unix() }, token), api, "more than 1m0s old"},
		{"iat future", at(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }, token), api, "in the future"},
		{"no ath", at(nil, ""), api, "no ath"},
		{"ath of another token", at(nil, "another-token"), api, "ath is not the hash"},
		{"replayed jti", replayed, api, "jti was used before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Check(tc.proof, tc.req)
			wantRefused(t, err, tc.says)
		})
	}

	t.Run("no ath needed at a token endpoint", func(t *testing.T) {
		p := k.Sign(t, dpopproof.Type, dpopprooftest.Claims(http.MethodPost, tokenURL, "", now))
		if _, err := v.Check(p, dpopproof.Request{Method: http.MethodPost, URL: tokenURL}); err != nil {
			t.Error(err)
		}
	})
}

// The replay cache holds at most MaxRemembered jtis: beyond that proofs
// are refused until the oldest age out, and a replay stays refused for as
// long as its proof could be accepted.
func TestReplayCacheIsBounded(t *testing.T) {
	k := dpopprooftest.NewKey(t)
	now := time.Unix(1_800_000_000, 0)
	v := dpopproof.NewVerifier(dpopproof.Options{Now: func() time.Time { return now }, MaxRemembered: 3})
	req := dpopproof.Request{Method: http.MethodPost, URL: tokenURL}
	proof := func() string {
		return k.Sign(t, dpopproof.Type, dpopprooftest.Claims(http.MethodPost, tokenURL, "", now))
	}
	first := proof()
	for i, p := range []string{first, proof(), proof()} {
		if _, err := v.Check(p, req); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
	}
	_, err := v.Check(proof(), req)
	wantRefused(t, err, "more than 3 proofs")

	// At the window's very end the jtis are still remembered.
	now = now.Add(dpopproof.DefaultMaxAge)
	_, err = v.Check(first, req)
	wantRefused(t, err, "jti was used before")
	now = now.Add(time.Second)
	if _, err := v.Check(proof(), req); err != nil {
		t.Errorf("after the window: %v", err)
	}
	// The first proof is too old now: refused for its age, not let through
	// because its jti was forgotten.
	_, err = v.Check(first, req)
	wantRefused(t, err, "old")
}

func FuzzParse(f *testing.F) {
	k := dpopprooftest.NewKey(f)
	good := k.Proof(f, http.MethodPost, tokenURL, "token")
	f.Add(good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := dpopproof.Parse(raw)
		if err != nil {
			var e *dpopproof.Error
			if !errors.As(err, &e) || p != nil {
				t.Fatalf("Parse error %T %v with proof %v", err, err, p)
			}
			return
		}
		if len(p.JKT) != 43 || p.JTI == "" || len(p.JTI) > dpopproof.MaxJTILength || p.HTM == "" || p.HTU == "" {
			t.Fatalf("accepted a proof without its essentials: %+v", p)
		}
	})
}

// TestAlgorithmNames: what discovery announces is what Parse accepts.
func TestAlgorithmNames(t *testing.T) {
	got := strings.Join(dpopproof.AlgorithmNames(), " ")
	if got != "ES256 ES384 ES512 RS256 PS256 EdDSA" {
		t.Errorf("AlgorithmNames = %s", got)
	}
}
