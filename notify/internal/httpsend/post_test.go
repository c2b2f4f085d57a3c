package httpsend

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/version"
	"github.com/authwatch/authwatch/notify/notifytest"
)

func TestRetryAfter(t *testing.T) {
	now := notifytest.Now
	tests := []struct {
		name  string
		value string
		want  time.Duration
		ok    bool
	}{
		{"empty", "", 0, false},
		{"seconds", "120", 2 * time.Minute, true},
		{"zero", "0", 0, true},
		{"spaces", " 5 ", 5 * time.Second, true},
		{"negative", "-5", 0, false},
		{"a day", "86400", 24 * time.Hour, true},
		{"over a day", "86401", 0, false},
		{"huge", "99999999999999999999", 0, false},
		{"date", now.Add(time.Hour).Format(http.TimeFormat), time.Hour, true},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"date too far", now.Add(48 * time.Hour).Format(http.TimeFormat), 0, false},
		{"garbage", "soon", 0, false},
		{"fraction", "1.5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RetryAfter(tt.value, now)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestShowURL(t *testing.T) {
	tests := map[string]string{
		"https://hooks.slack.com/services/T0/B0/" + notifytest.WebhookToken: "https://hooks.slack.com/…",
		"https://h.example:8443":                             "https://h.example:8443",
		"https://h.example/":                                 "https://h.example",
		"https://h.example?sig=" + notifytest.SigToken:       "https://h.example/…",
		"https://user:" + notifytest.APIKey + "@h.example/x": "https://h.example/…",
		"not a url " + notifytest.WebhookToken:               "(url not shown)",
		"https://h.example/%zz" + notifytest.WebhookToken:    "(url not shown)",
	}
	for in, want := range tests {
		if got := ShowURL(in); got != want {
			t.Errorf("ShowURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url       string
		allowHTTP bool
		want      string // "" = valid
	}{
		{"https://hooks.example.com/x", false, ""},
		{"http://127.0.0.1:80/x", true, ""},
		{"http://[::1]:80/x", true, ""},
		{"http://localhost/x", true, ""},
		{"http://127.0.0.1/x", false, "must use https"},
		{"http://10.0.0.1/x", true, "only to localhost"},
		{"http://127.0.0.1.example.com/x", true, "only to localhost"},
		{"https:///x", false, "absolute"},
		{"mailto:x@example.com", false, "absolute"},
		{"https://u:p@h.example/x", false, "user name"},
		{"https://h.example/\x7f", false, "not a valid URL"},
	}
	for _, tt := range tests {
		err := CheckURL(tt.url, tt.allowHTTP)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want nil", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckURL(%q) = %v, want %q", tt.url, err, tt.want)
		}
	}
}

// TestExcerptCutSecret: a secret cut by the read limit leaves no part of
// itself in the error.
func TestExcerptCutSecret(t *testing.T) {
	url := "https://h.example/hooks/" + notifytest.WebhookToken
	sec, longest := scrubber(Request{URL: url, Secrets: URLSecrets(url)})
	body := strings.Repeat(" ", readLimit-10) + notifytest.WebhookToken
	got := excerpt(strings.NewReader(body), sec, longest)
	if strings.Contains(got, notifytest.WebhookToken[:10]) {
		t.Errorf("excerpt %q holds part of the secret", got)
	}
	got = excerpt(strings.NewReader("error: "+url+" is gone\n\tbye"), sec, longest)
	if strings.Contains(got, notifytest.WebhookToken) || !strings.HasPrefix(got, "error: [redacted sha256:") || !strings.HasSuffix(got, "is gone bye") {
		t.Errorf("excerpt %q", got)
	}
	long := excerpt(strings.NewReader(strings.Repeat("é", 1000)), sec, longest)
	if n := len([]rune(long)); n != maxExcerpt {
		t.Errorf("excerpt of %d runes, want %d", n, maxExcerpt)
	}
}

// TestPostNamesAuthwatch: a delivery says it is authwatch and which
// version ("authwatch/1.2.0 (+https://github.com/authwatch/authwatch)"),
// unless the notifier sets its own User-Agent.
func TestPostNamesAuthwatch(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	client := notifytest.Client(t)
	for _, tc := range []struct{ set, want string }{
		{"", version.UserAgent()},
		{"custom/1", "custom/1"},
	} {
		hdr := http.Header{}
		if tc.set != "" {
			hdr.Set("User-Agent", tc.set)
		}
		if _, err := Post(t.Context(), client, notifytest.Now, Request{URL: rcv.URL + "/hook", Header: hdr, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if got := rcv.Last(t).Header.Get("User-Agent"); got != tc.want {
			t.Errorf("User-Agent %q, want %q", got, tc.want)
		}
	}
}
