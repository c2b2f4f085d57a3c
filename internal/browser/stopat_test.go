package browser

import (
	"testing"

	"github.com/chromedp/cdproto/network"
)

func TestStopAtMatches(t *testing.T) {
	for _, tc := range []struct {
		name, stopAt, url string
		want              bool
	}{
		{"query ignored", "https://app.example/cb", "https://app.example/cb?code=abc&state=x", true},
		{"fragment ignored", "https://app.example/cb", "https://app.example/cb#code=abc", true},
		{"default port", "https://app.example:443/cb", "https://app.example/cb?code=1", true},
		{"host case", "https://APP.example/cb", "https://app.example/cb", true},
		{"empty path", "http://127.0.0.1:8080", "http://127.0.0.1:8080/?code=1", true},
		{"other path", "https://app.example/cb", "https://app.example/cb2", false},
		{"sub path", "https://app.example/cb", "https://app.example/cb/x", false},
		{"other scheme", "https://app.example/cb", "http://app.example/cb", false},
		{"other port", "http://127.0.0.1:8080/cb", "http://127.0.0.1:8081/cb", false},
		{"other host", "https://app.example/cb", "https://evil.example/cb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseStopAt(tc.stopAt)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.matches(tc.url); got != tc.want {
				t.Errorf("matches(%q) = %v, want %v", tc.url, got, tc.want)
			}
		})
	}
}

func TestStopAtPattern(t *testing.T) {
	for stopAt, want := range map[string]string{
		"https://app.example/cb?x=1":   "https://app.example/*",
		"http://127.0.0.1:9/callback":  "http://127.0.0.1:9/*",
		"https://[::1]:8443/cb":        "https://[::1]:8443/*",
		"https://[::1]/cb":             "https://[::1]/*",
		"http://App.Example:80/a*b?c=": "http://app.example/*",
	} {
		s, err := parseStopAt(stopAt)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.pattern(); got != want {
			t.Errorf("pattern of %q = %q, want %q", stopAt, got, want)
		}
	}
}

func TestStopAtInvalid(t *testing.T) {
	for _, raw := range []string{"/callback", "urn:x", "ftp://h/cb", "http://"} {
		if _, err := parseStopAt(raw); err == nil {
			t.Errorf("parseStopAt(%q): no error", raw)
		}
	}
	if s, err := parseStopAt(""); s != nil || err != nil {
		t.Errorf("parseStopAt(\"\") = %v, %v", s, err)
	}
}

func TestStoppedFormPostBody(t *testing.T) {
	r := &network.Request{Method: "POST", PostDataEntries: []*network.PostDataEntry{{Bytes: []byte("code=c-1&state=s%20")}, {Bytes: []byte("1")}}}
	if got := withFormBody("http://127.0.0.1/cb?iss=x", r); got != "http://127.0.0.1/cb?code=c-1&iss=x&state=s+1" {
		t.Errorf("form_post callback: %s", got)
	}
	if got := withFormBody("http://127.0.0.1/cb?code=a", &network.Request{Method: "GET"}); got != "http://127.0.0.1/cb?code=a" {
		t.Errorf("GET callback changed: %s", got)
	}
}
