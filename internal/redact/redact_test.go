package redact

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/internal/redact/redacttest"
)

var markerPattern = regexp.MustCompile(`^\[redacted sha256:[0-9a-f]{12}\]$`)

func TestFingerprint(t *testing.T) {
	tests := []struct {
		name   string
		secret string
	}{
		{name: "empty", secret: ""},
		{name: "short", secret: "abc"},
		{name: "jwt-like", secret: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"},
		{name: "long", secret: strings.Repeat("x", 10000)},
		{name: "unicode", secret: "pässwörd-🔑"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := Fingerprint(tt.secret)
			if fp != Fingerprint(tt.secret) {
				t.Fatal("not stable")
			}
			sum := sha256.Sum256([]byte(tt.secret))
			if want := "sha256:" + hex.EncodeToString(sum[:])[:12]; fp != want {
				t.Errorf("Fingerprint = %q, want %q (a SHA-256 prefix)", fp, want)
			}
			if len(fp) != len("sha256:")+12 {
				t.Errorf("Fingerprint %q is not short", fp)
			}
			if len(tt.secret) >= 4 && strings.Contains(fp, tt.secret) {
				t.Errorf("Fingerprint %q shows the secret", fp)
			}
			if prev, dup := seen[fp]; dup {
				t.Errorf("%q and %q share fingerprint %s", prev, tt.secret, fp)
			}
			seen[fp] = tt.secret
			if m := Marker(tt.secret); !markerPattern.MatchString(m) || !strings.Contains(m, fp) {
				t.Errorf("Marker = %q", m)
			}
		})
	}
}

func TestSecretsAdd(t *testing.T) {
	var s Secrets // the zero value is ready
	s.Add("", "abc", "abcd", "abcd", "longer-secret")
	if s.Len() != 2 {
		t.Errorf("Len() = %d, want 2 (empty, short and duplicate values ignored)", s.Len())
	}
	if got := s.String("abc abcd"); got != "abc "+Marker("abcd") {
		t.Errorf("String = %q", got)
	}
	var nilSecrets *Secrets
	if got := nilSecrets.String("text abcd"); got != "text abcd" {
		t.Errorf("nil Secrets changed text: %q", got)
	}
}

func TestSecretsString(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		text    string
		want    string
	}{
		{name: "nothing registered", text: "hello", want: "hello"},
		{name: "not present", secrets: []string{"s3cret"}, text: "hello", want: "hello"},
		{name: "anywhere in text", secrets: []string{"s3cret"}, text: `error: client "x" sent s3cret; retry s3cret`, want: `error: client "x" sent ` + Marker("s3cret") + "; retry " + Marker("s3cret")},
		{name: "inside a word and a URL", secrets: []string{"tok123"}, text: "https://x/?access_token=tok123&a=btok123c", want: "https://x/?access_token=" + Marker("tok123") + "&a=b" + Marker("tok123") + "c"},
		{
			name: "longest first, whatever the order of Add", secrets: []string{"pass", "password-1234", "password"},
			text: "password-1234 password pass",
			want: Marker("password-1234") + " " + Marker("password") + " " + Marker("pass"),
		},
		{
			name: "a secret inside another is replaced whole", secrets: []string{"abcd", "xxabcdxx"},
			text: "xxabcdxx", want: Marker("xxabcdxx"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Secrets
			s.Add(tt.secrets...)
			if got := s.String(tt.text); got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

// TestSecretsStringMarkerNotRescanned: String replaces secrets one after
// another over the whole text, so a short secret that happens to occur in
// an earlier marker ("[redacted sha256:<hex>]": hex digits, "redacted",
// "sha256") corrupts that marker.
func TestSecretsStringMarkerNotRescanned(t *testing.T) {
	long := "client-secret-value-0001"
	short := Fingerprint(long)[len("sha256:"):][:4] // 4 hex digits of the long one's marker
	for _, tt := range []struct{ name, short string }{{"hex digits", short}, {"marker word", "redacted"}} {
		t.Run(tt.name, func(t *testing.T) {
			var s Secrets
			s.Add(long, tt.short)
			got := s.String("a " + long + " b")
			if want := "a " + Marker(long) + " b"; got != want {
				t.Errorf("String\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestSecretsConcurrent(t *testing.T) {
	var s Secrets
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); s.Add(strings.Repeat("k", 4+i)) }()
		go func() { defer wg.Done(); _ = s.String("kkkkkkkkkkkk") }()
	}
	wg.Wait()
	if got := s.String("kkkkkkkkkkk"); got != Marker("kkkkkkkkkkk") {
		t.Errorf("String = %q", got)
	}
}

func TestHeader(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
	var s Secrets
	s.Add("registered-secret")
	in := http.Header{
		"Authorization":       {"Bearer " + tok},
		"Proxy-Authorization": {"Basic dXNlcjpwYXNz"},
		"Cookie":              {"session=abc123; theme=dark;csrf=xyz"},
		"Set-Cookie":          {"sid=s3cr3t-sid; Path=/; Secure; HttpOnly; SameSite=Lax", "flag=1"},
		"X-Api-Key":           {"key-12345"},
		"Content-Type":        {"application/json"},
		"X-Debug":             {"upstream said registered-secret"},
		"authorization":       {"token-without-scheme"}, // non-canonical key, as a map literal may hold
	}
	out := s.Header(in)
	want := map[string][]string{
		"Authorization":       {"Bearer " + Marker(tok)},
		"Proxy-Authorization": {"Basic " + Marker("dXNlcjpwYXNz")},
		"Cookie":              {"session=" + Marker("abc123") + "; theme=" + Marker("dark") + "; csrf=" + Marker("xyz")},
		"Set-Cookie":          {"sid=" + Marker("s3cr3t-sid") + "; Path=/; Secure; HttpOnly; SameSite=Lax", "flag=" + Marker("1")},
		"X-Api-Key":           {Marker("key-12345")},
		"Content-Type":        {"application/json"},
		"X-Debug":             {"upstream said " + Marker("registered-secret")},
		"authorization":       {Marker("token-without-scheme")},
	}
	for name, w := range want {
		got := out[name]
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", name, got, w)
		}
	}
	if len(out) != len(want) {
		t.Errorf("Header has %d names, want %d", len(out), len(want))
	}
	if in.Get("Authorization") != "Bearer "+tok {
		t.Error("Header modified its argument")
	}
}

func TestSensitiveKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"access_token", true}, {"refresh_token", true}, {"id_token", true}, {"Access_Token", true},
		{"client_secret", true}, {"password", true}, {"new_passwd", true}, {"client_assertion", true},
		{"api_key", true}, {"apiKey", true}, {"private_key", true}, {"otp", true}, {"session", true},
		{"code", true}, {"code_verifier", true}, {"device_code", true}, {"user_code", true},
		{"token_type", false}, {"expires_in", false}, {"refresh_token_expires_in", false}, {"issued_token_type", false},
		{"scope", false}, {"username", false}, {"grant_type", false}, {"error", false}, {"error_code", false},
		{"code_challenge_method", false}, {"client_id", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := SensitiveKey(tt.key); got != tt.want {
				t.Errorf("SensitiveKey(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestBody(t *testing.T) {
	var s Secrets
	s.Add("registered-secret")
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string // exact, for JSON compared as JSON
		hidden      []string
		kept        []string
	}{
		{
			name: "token response", contentType: "application/json; charset=utf-8",
			body: `{"access_token":"at-123","refresh_token":"rt-456","id_token":"it-789","token_type":"Bearer","expires_in":3600,"scope":"openid"}`,
			want: `{"access_token":"` + Marker("at-123") + `","refresh_token":"` + Marker("rt-456") + `","id_token":"` + Marker("it-789") + `","token_type":"Bearer","expires_in":3600,"scope":"openid"}`,
		},
		{
			name: "nested and in arrays", contentType: "application/json",
			body: `{"user":{"name":"alice","password":"hunter22","creds":[{"client_secret":"cs-1"},{"client_id":"app"}]}}`,
			want: `{"user":{"name":"alice","password":"` + Marker("hunter22") + `","creds":[{"client_secret":"` + Marker("cs-1") + `"},{"client_id":"app"}]}}`,
		},
		{
			name: "JSON without a content type", contentType: "",
			body: ` {"access_token":"at-123"} `,
			want: `{"access_token":"` + Marker("at-123") + `"}`,
		},
		{
			name: "problem+json", contentType: "application/problem+json",
			body: `{"detail":"bad registered-secret","client_secret":"cs-2"}`,
			want: `{"client_secret":"` + Marker("cs-2") + `","detail":"bad ` + Marker("registered-secret") + `"}`,
		},
		{
			name: "form", contentType: "application/x-www-form-urlencoded",
			body:   "grant_type=password&username=alice&password=hunter%2B22&client_id=app&client_secret=cs-3&scope=a+b",
			hidden: []string{"hunter", "cs-3"},
			kept:   []string{"grant_type=password", "username=alice", "client_id=app", "scope=a b", "password=" + Marker("hunter+22"), "client_secret=" + Marker("cs-3")},
		},
		{
			name: "text with a registered secret", contentType: "text/plain",
			body: "invalid client secret registered-secret for app", want: "invalid client secret " + Marker("registered-secret") + " for app",
		},
		{
			name: "broken JSON falls back to text", contentType: "application/json",
			body: `{"access_token":"registered-secret"`, want: `{"access_token":"` + Marker("registered-secret") + `"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Body(tt.contentType, []byte(tt.body))
			if tt.want != "" {
				if json.Valid([]byte(tt.want)) {
					var g, w any
					if err := json.Unmarshal([]byte(got), &g); err != nil {
						t.Fatalf("Body = %q, not JSON: %v", got, err)
					}
					json.Unmarshal([]byte(tt.want), &w)
					gj, _ := json.Marshal(g)
					wj, _ := json.Marshal(w)
					if string(gj) != string(wj) {
						t.Errorf("Body\n got %s\nwant %s", gj, wj)
					}
				} else if got != tt.want {
					t.Errorf("Body\n got %q\nwant %q", got, tt.want)
				}
			}
			for _, h := range tt.hidden {
				if strings.Contains(got, h) {
					t.Errorf("Body shows %q: %s", h, got)
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(got, k) {
					t.Errorf("Body lost %q: %s", k, got)
				}
			}
		})
	}
}

// TestBodyNonStringSecrets: sensitive JSON members are redacted only when
// their value is a string, so a numeric one-time code or PIN is shown.
func TestBodyNonStringSecrets(t *testing.T) {
	var s Secrets
	got := s.Body("application/json", []byte(`{"otp":123456,"user_code":987654,"password":31337}`))
	for _, leak := range []string{"123456", "987654", "31337"} {
		if strings.Contains(got, leak) {
			t.Errorf("Body shows %s: %s", leak, got)
		}
	}
}

// TestBodyEchoedAuthorization: echo endpoints (httpbin's /headers, many
// API gateways' debug routes) return the request's headers as JSON; a
// credential there is caught by name only if it was never registered.
func TestBodyEchoedAuthorization(t *testing.T) {
	var s Secrets
	got := s.Body("application/json", []byte(`{"headers":{"Authorization":"Bearer unregistered-token","Cookie":"sid=abc"}}`))
	for _, leak := range []string{"unregistered-token", "sid=abc"} {
		if strings.Contains(got, leak) {
			t.Errorf("Body shows %s: %s", leak, got)
		}
	}
}

// TestSecretsFormsMadeWhenRedacting: Add only registers; the forms of a
// secret are made at the first redaction after it (a passing run that
// redacts nothing makes none), and every reader sees every secret added
// before it: String, Contains, Longest and StringCut.
func TestSecretsFormsMadeWhenRedacting(t *testing.T) {
	const secret = "s3cret&value"
	var s Secrets
	s.Add(secret)
	if n := len(s.made); n != 0 {
		t.Fatalf("after Add, %d forms made before any redaction, want 0", n)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
	if got := s.String("x " + secret); strings.Contains(got, secret) {
		t.Errorf("String left the secret: %q", got)
	}
	if len(s.made) == 0 || len(s.pending) != 0 {
		t.Errorf("after String: %d secrets made, %d pending, want it made and none pending", len(s.made), len(s.pending))
	}
	for name, read := range map[string]func(s *Secrets) bool{
		"Contains":  func(s *Secrets) bool { return s.Contains("a " + url.QueryEscape(secret)) },
		"Longest":   func(s *Secrets) bool { return s.Longest() >= len(secret) },
		"StringCut": func(s *Secrets) bool { return !strings.Contains(s.StringCut("x "+secret[:6]+"…", "…"), secret[:6]) },
	} {
		var fresh Secrets
		fresh.Add(secret)
		if !read(&fresh) {
			t.Errorf("%s right after Add does not see the secret", name)
		}
	}
}

// TestShortestFormBound: no form of a secret is shorter than shortestForm
// says, for secrets of every length around shortFormLimit in every
// alphabet the canaries cover, so a text shorter than that cannot hold it.
func TestShortestFormBound(t *testing.T) {
	alphabets := append([]string{"abcdefghijklmnopqrstuvwxyz0123456789", "\xff\xfe\x00\x01", "é€𝄞"}, redacttest.Canaries...)
	for _, a := range alphabets {
		for n := 1; n <= 3*shortFormLimit; n++ {
			v := strings.Repeat(a, n/len(a)+1)[:n]
			for _, form := range forms(v) {
				if len(form) < shortestForm(v) {
					t.Errorf("form %q of %q (%d bytes) is shorter than shortestForm %d", form, v, len(v), shortestForm(v))
				}
			}
		}
	}
}

// TestSecretsFormsMadeForTextsTheyFit: a long secret's forms wait while
// only shorter texts are redacted (a run's new token against its endpoint
// names), and are made, and used, by the first text long enough to hold
// it; short secrets are made for any text.
func TestSecretsFormsMadeForTextsTheyFit(t *testing.T) {
	long := strings.Repeat("tok3n-", 20) // 120 bytes
	const short = "pw&1"
	var s Secrets
	s.Add(long, short)
	if got := s.String("GET host/" + short); strings.Contains(got, short) {
		t.Errorf("short secret left in %q", got)
	}
	if len(s.pending) != 1 || s.pending[0] != long {
		t.Fatalf("after a short text, pending = %q, want only the long secret", s.pending)
	}
	if s.Contains(strings.Repeat("x", len(long)-1)) {
		t.Errorf("Contains found a secret in a text too short for it")
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(long))
	if got := s.String("dump " + b64); strings.Contains(got, b64) || len(s.pending) != 0 {
		t.Errorf("a text long enough for the long secret: %q, %d pending", got, len(s.pending))
	}
	var fresh Secrets
	fresh.Add(long)
	if !fresh.Contains("a " + long) {
		t.Errorf("Contains of a text holding the long secret: false")
	}
}
