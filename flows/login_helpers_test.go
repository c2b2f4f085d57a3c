package flows_test

// Helpers of the login tests against zitadel's OpenID Provider
// (login_zitadel_test.go): the demo IdP and zitadel's own example OP on
// 127.0.0.1, a recording reverse proxy that sees every secret a login puts on
// the wire, and a sink that receives the tokens a flow published.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/demo/idp"
)

// lzDeviceClientID and lzDeviceClientSecret are the device client
// registered at the example OP (storage.DeviceClient: Basic auth, device
// grant only).
const (
	lzDeviceClientID     = "device-client"
	lzDeviceClientSecret = "canary-device-client-secret-5e21"
)

// lzStartDemoIdP starts one node of the demo IdP (internal/demo/idp). Two
// nodes share nothing: not their keys, not their auth requests or codes.
func lzStartDemoIdP(t *testing.T) *idp.IdP {
	t.Helper()
	p, err := idp.Start(t.Context(), idp.Options{})
	if err != nil {
		t.Fatalf("idp.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("idp Close: %v", err)
		}
	})
	return p
}

// lzStartExampleOP serves zitadel's example OP (exampleop.SetupServer with
// the example storage, users id1 "test-user@127.0.0.1" and id2, password
// "verysecure") on 127.0.0.1 with one device client. It returns the issuer.
func lzStartExampleOP(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1 already
	issuer := "http://" + srv.Listener.Addr().String()
	clients := map[string]*storage.Client{ // not RegisterClients: it mutates a package global
		lzDeviceClientID: storage.DeviceClient(lzDeviceClientID, lzDeviceClientSecret),
	}
	store := storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)
	// A nil logger: SetupServer would otherwise replace slog's default
	// logger for the whole test binary.
	srv.Config.Handler = exampleop.SetupServer(issuer, store, nil, false)
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// lzRecorder is a reverse proxy to an IdP that keeps every parameter value
// that passed through it: query strings, form bodies, Basic credentials,
// and the string values of JSON answers (tokens). They are the secrets a
// login puts on the wire: state, nonce, code challenge, password, code,
// verifier, client secret, tokens.
type lzRecorder struct {
	URL string

	mu     sync.Mutex
	values map[string][]string // parameter or JSON member name → values
}

func lzStartRecorder(t *testing.T, target string) *lzRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &lzRecorder{values: map[string][]string{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok {
					rec.add(k, s)
				}
			}
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.URL.Query() {
			rec.add(k, vs...)
		}
		if user, pass, ok := r.BasicAuth(); ok {
			rec.add("basic_user", user)
			rec.add("basic_password", pass)
			rec.add("authorization", strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "))
		}
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if form, err := url.ParseQuery(string(body)); err == nil {
				for k, vs := range form {
					rec.add(k, vs...)
				}
			}
		}
		r.Host = u.Host // the IdP builds absolute URLs from its issuer anyway
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

func (r *lzRecorder) add(name string, vs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range vs {
		if v != "" && !slices.Contains(r.values[name], v) {
			r.values[name] = append(r.values[name], v)
		}
	}
}

// seen returns the values recorded under name.
func (r *lzRecorder) seen(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.values[name])
}

// secrets returns every recorded value of the names that carry secrets.
func (r *lzRecorder) secrets(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, r.seen(n)...)
	}
	return out
}

// lzSink receives the tokens a flow published, from an http step that posts
// them (form-encoded) to it: proof that the step published them, and their
// values for the secret checks.
type lzSink struct {
	URL string

	mu   sync.Mutex
	form url.Values
}

func lzStartSink(t *testing.T) *lzSink {
	t.Helper()
	s := &lzSink{form: url.Values{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for k, vs := range r.PostForm {
			s.form[k] = append(s.form[k], vs...)
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// values returns every value posted under name.
func (s *lzSink) values(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.form[name])
}

// lzIsJWT reports whether v looks like a compact JWS with a JSON header.
func lzIsJWT(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	return err == nil && json.Valid(h)
}

// lzChromium is Debian's Chromium, needed by the browser-mode tests.
const lzChromium = "/usr/bin/chromium"

// lzNeedChromium skips the test without Chromium, except under CI=true
// where a missing browser is a failure (as internal/statuspage's browser
// test does).
func lzNeedChromium(t *testing.T) *browser.Pool {
	t.Helper()
	if _, err := os.Stat(lzChromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("no Chromium at %s: %v", lzChromium, err)
	}
	return browser.NewPool(browser.PoolOptions{ExecPath: lzChromium, Max: 2})
}
