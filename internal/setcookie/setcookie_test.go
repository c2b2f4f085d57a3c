package setcookie

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func parse(t *testing.T, line string) *http.Cookie {
	t.Helper()
	c, err := http.ParseSetCookie(line)
	if err != nil {
		t.Fatalf("ParseSetCookie(%q): %v", line, err)
	}
	return c
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		target string // "" for a nil URL
		want   []string
	}{
		{name: "clean", line: "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax", target: "https://app.example/x"},
		{name: "SameSite=None without Secure", line: "sid=abc; SameSite=None", target: "https://app.example/",
			want: []string{"SameSite: SameSite=None without Secure: browsers reject the cookie"}},
		{name: "Secure over http", line: "sid=abc; Secure", target: "http://app.example/",
			want: []string{"Secure: Secure cookie set over http: browsers reject it (only localhost and loopback addresses are exempt)"}},
		{name: "Secure over http to localhost is fine", line: "sid=abc; Secure", target: "http://localhost:8080/"},
		{name: "Secure over http to 127.0.0.1 is fine", line: "sid=abc; Secure", target: "http://127.0.0.1/"},
		{name: "Secure over http to [::1] is fine", line: "sid=abc; Secure", target: "http://[::1]:80/"},
		{name: "Secure over http to app.localhost is fine", line: "sid=abc; Secure", target: "HTTP://App.Localhost/"},
		{name: "domain matches parent", line: "sid=abc; Domain=.Example.com", target: "https://www.example.com/"},
		{name: "domain equals host", line: "sid=abc; Domain=example.com", target: "https://EXAMPLE.com:8443/"},
		{name: "domain of another site", line: "sid=abc; Domain=other.example", target: "https://app.example/",
			want: []string{"Domain: Domain=other.example does not domain-match host app.example: browsers reject the cookie"}},
		{name: "domain suffix but not label boundary", line: "sid=abc; Domain=ample.com", target: "https://example.com/",
			want: []string{"Domain: Domain=ample.com does not domain-match host example.com: browsers reject the cookie"}},
		{name: "domain on IP host", line: "sid=abc; Domain=0.0.1", target: "https://10.0.0.1/",
			want: []string{"Domain: Domain=0.0.1 does not domain-match host 10.0.0.1: browsers reject the cookie"}},
		{name: "path prefix matches", line: "sid=abc; Path=/api", target: "https://a.example/api/v1"},
		{name: "path with slash matches", line: "sid=abc; Path=/api/", target: "https://a.example/api/v1"},
		{name: "path not a prefix", line: "sid=abc; Path=/api", target: "https://a.example/app",
			want: []string{"Path: Path=/api does not match request path /app: the cookie is stored but not sent to this URL"}},
		{name: "path prefix without boundary", line: "sid=abc; Path=/api", target: "https://a.example/apiv2",
			want: []string{"Path: Path=/api does not match request path /apiv2: the cookie is stored but not sent to this URL"}},
		{name: "empty target path is /", line: "sid=abc; Path=/api", target: "https://a.example",
			want: []string{"Path: Path=/api does not match request path /: the cookie is stored but not sent to this URL"}},
		{name: "relative path ignored", line: "sid=abc; Path=api", target: "",
			want: []string{"Path: Path=api does not start with /: browsers ignore it and use the default path"}},
		{name: "__Host- ok", line: "__Host-sid=abc; Path=/; Secure", target: "https://a.example/"},
		{name: "__Host- violations, case-insensitive", line: "__HOST-sid=abc; Domain=a.example; Path=/x", target: "https://a.example/x",
			want: []string{
				"Secure: __HOST- prefix requires Secure: browsers reject the cookie",
				"Domain: __HOST- prefix forbids Domain: browsers reject the cookie",
				"Path: __HOST- prefix requires Path=/: browsers reject the cookie",
			}},
		{name: "__Secure- without Secure", line: "__Secure-id=abc", target: "https://a.example/",
			want: []string{"Secure: __Secure- prefix requires Secure: browsers reject the cookie"}},
		{name: "__Secure- over http", line: "__Secure-id=abc; Secure", target: "http://a.example/",
			want: []string{"Secure: Secure cookie set over http: browsers reject it (only localhost and loopback addresses are exempt)"}},
		{name: "Max-Age=0 deletes", line: "sid=; Max-Age=0", target: "",
			want: []string{"Expires: Max-Age<=0: this Set-Cookie deletes the cookie"}},
		{name: "negative Max-Age deletes", line: "sid=x; Max-Age=-1", target: "",
			want: []string{"Expires: Max-Age<=0: this Set-Cookie deletes the cookie"}},
		{name: "Expires in the past deletes", line: "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", target: "",
			want: []string{"Expires: Expires=Thu, 01 Jan 1970 00:00:00 GMT is in the past: this Set-Cookie deletes the cookie"}},
		{name: "Max-Age wins over past Expires", line: "sid=x; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT", target: ""},
		{name: "Expires in the future", line: "sid=x; Expires=Wed, 01 Jan 2031 00:00:00 GMT", target: ""},
		{name: "no URL skips URL rules", line: "sid=x; Secure; Domain=other.example; Path=/a", target: ""},
		{name: "several problems in order", line: "sid=x; SameSite=None; Domain=b.example; Max-Age=0", target: "http://a.example/",
			want: []string{
				"SameSite: SameSite=None without Secure: browsers reject the cookie",
				"Domain: Domain=b.example does not domain-match host a.example: browsers reject the cookie",
				"Expires: Max-Age<=0: this Set-Cookie deletes the cookie",
			}},
		{name: "oversized cookie", line: "big=" + strings.Repeat("v", 4100), target: "",
			want: []string{"Value: name and value are 4103 bytes, over 4096: browsers ignore the cookie"}},
		{name: "oversized attributes", line: "a=b; Domain=" + strings.Repeat("d", 1025) + "; Path=/" + strings.Repeat("p", 1024), target: "https://x.example/",
			want: []string{"Domain: Domain is over 1024 bytes: browsers ignore the attribute", "Path: Path is over 1024 bytes: browsers ignore the attribute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var target *url.URL
			if tt.target != "" {
				var err error
				if target, err = url.Parse(tt.target); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, p := range CheckAt(parse(t, tt.line), target, now) {
				if p.Cookie == "" {
					t.Errorf("problem %+v names no cookie", p)
				}
				got = append(got, p.Attribute+": "+p.Detail)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckAt()\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCheckNil(t *testing.T) {
	if got := Check(nil, nil); got != nil {
		t.Errorf("Check(nil) = %v", got)
	}
	if got := Check(&http.Cookie{Name: "a", SameSite: http.SameSiteNoneMode}, nil); len(got) != 1 {
		t.Errorf("Check with time.Now and nil URL = %v", got)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{name: "spec example", line: "sid=0123456789abcdef0123456789abcdef; Path=/; Secure; HttpOnly; SameSite=Lax",
			want: "sid=<32 bytes>; Path=/; Secure; HttpOnly; SameSite=Lax"},
		{name: "all attributes", line: `id="quoted"; Domain=.a.example; Path=/x; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Max-Age=60; SameSite=Strict; Partitioned; Priority=High`,
			want: "id=<6 bytes>; Path=/x; Domain=.a.example; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Max-Age=60; SameSite=Strict; Partitioned"},
		{name: "deletion", line: "sid=; Max-Age=0; SameSite=None", want: "sid=<0 bytes>; Max-Age=0; SameSite=None"},
		{name: "bad Expires and SameSite", line: "sid=x; Expires=tomorrow; SameSite=sometimes", want: "sid=<1 bytes>; Expires=<unparsable>; SameSite=<invalid>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(parse(t, tt.line)); got != tt.want {
				t.Errorf("Describe() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDescribeHandBuilt(t *testing.T) {
	tests := []struct {
		name string
		in   *http.Cookie
		want string
	}{
		{name: "nil", in: nil, want: ""},
		{name: "control bytes and long path made safe", in: &http.Cookie{Name: "a\nb", Value: "secret", Path: "/" + strings.Repeat("p", 100)},
			want: "a?b=<6 bytes>; Path=/" + strings.Repeat("p", 63) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(tt.in); got != tt.want {
				t.Errorf("Describe() = %q, want %q", got, tt.want)
			}
		})
	}
}
