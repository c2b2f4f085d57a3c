package baseline_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/testenv"
)

// nginxLogin is a login front as nginx serves it: /login redirects to
// /app, which sets a session cookie (a new value every request). Files in
// its directory switch its behaviour at request time, as a changed
// configuration would: "newhop" sends /login through another host first
// (port1), "insecure" drops the cookie's Secure attribute.
const nginxLogin = `
server {
  listen 127.0.0.1:{{port0}};
  location = /login {
    if (-f {{dir}}/newhop) { return 302 http://127.0.0.1:{{port1}}/sso; }
    return 302 /app;
  }
  location = /app {
    if (-f {{dir}}/insecure) {
      add_header Set-Cookie "sid=$request_id; Path=/; HttpOnly; SameSite=Lax" always;
      return 200 "ok\n";
    }
    add_header Set-Cookie "sid=$request_id; Path=/; Secure; HttpOnly; SameSite=Lax" always;
    return 200 "ok\n";
  }
}
server {
  listen 127.0.0.1:{{port1}};
  location = /sso { return 302 http://127.0.0.1:{{port0}}/app; }
}
`

// TestNginxRedirectHopAndCookieAttribute: nginx adds a redirect hop
// through another host, then drops the session cookie's Secure: each is
// one baseline_changed warning naming the new host (and the longer chain)
// or the attributes before and after; the cookie's value, new on every
// run, is never news.
func TestNginxRedirectHopAndCookieAttribute(t *testing.T) {
	t.Parallel()
	ng := testenv.Nginx(t, nginxLogin)
	tests := []struct {
		name, file string
		want       []string
	}{
		{"a redirect hop through a new host", "newhop", []string{"requests now pass through " + ng.Addr(1), "redirects followed 1 → 2"}},
		{"the session cookie loses Secure", "insecure", []string{"cookie sid attributes Secure; HttpOnly; SameSite=Lax; Path=/ → HttpOnly; SameSite=Lax; Path=/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the switches are files of the one nginx.
			set, err := flows.LoadBytes(flows.LoadOptions{}, "login.yaml", []byte(`name: nginx-login
every: 1m
baseline: {learn: 5, latency: false}
steps:
  - id: login
    kind: http
    url: "`+ng.URL(0)+`/login"
    expect: {status: 200}
`))
			if err != nil {
				t.Fatal(err)
			}
			f := set.Flows[0]
			w := &watched{t: t, r: newRunner(), f: f, b: baseline.New(f.Name, f.Digest, 5), rules: baseline.RulesOf(f)}
			w.learn()
			for range 3 {
				if fs := w.run(); len(fs) != 0 {
					t.Fatalf("before the change: %v", fs)
				}
			}
			switchFile := filepath.Join(ng.Dir, tc.file)
			if err := os.WriteFile(switchFile, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Remove(switchFile) })
			for i := range 3 {
				fs := w.run()
				if len(fs) != 1 {
					t.Fatalf("run %d after the change: %d warnings %v, want 1", i, len(fs), fs)
				}
				got := phrasesOf(w.b)
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Errorf("drifts %q, want %q", got, tc.want)
				}
				if i == 0 {
					t.Logf("warning: %s", fs[0].Summary)
				}
			}
			w.b.Accept("carol", w.b.LastRun)
			if fs := w.run(); len(fs) != 0 {
				t.Errorf("after the accept: %v", fs)
			}
			if err := os.Remove(switchFile); err != nil {
				t.Fatal(err)
			}
		})
	}
}
