package browser

// End-to-end in headless Chromium (Debian's chromium): a login page whose
// form only exists once its script ran, a redirect to the redirect_uri that
// is intercepted and never sent, an error page, cookies with their
// attributes, and the life of the browser processes.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authwatch/authwatch/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

const (
	testUser     = "alice"
	testPassword = "s3cret-Pa55word!"
)

// needChromium skips without Chromium, and fails in CI.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("no Chromium at %s: %v", chromiumPath, err)
	}
}

// loginPage builds its form with script. The script keeps the field values
// in its own state, updated from input events only, as a framework's
// controlled inputs do, and posts that state: a value set without an input
// event is lost. After a failed login the error text comes from an XHR.
const loginPage = `<!doctype html>
<html><head><title>Sign in</title></head>
<body><div id="app">Loading…</div>
<script>
const state = {username: '', password: ''};
function render() {
  const app = document.getElementById('app');
  app.textContent = '';
  const form = document.createElement('form');
  for (const [name, type] of [['username', 'text'], ['password', 'password']]) {
    const input = document.createElement('input');
    input.id = name; input.type = type;
    input.addEventListener('input', e => { state[name] = e.target.value; });
    form.appendChild(input);
  }
  const button = document.createElement('button');
  button.id = 'submit'; button.type = 'submit'; button.textContent = 'Sign in';
  form.appendChild(button);
  form.addEventListener('submit', e => {
    e.preventDefault();
    const post = document.createElement('form');
    post.method = 'POST'; post.action = '/session'; post.style.display = 'none';
    for (const [k, v] of Object.entries(state)) {
      const h = document.createElement('input');
      h.type = 'hidden'; h.name = k; h.value = v;
      post.appendChild(h);
    }
    document.body.appendChild(post);
    post.submit();
  });
  app.appendChild(form);
  if (location.search.includes('error=')) {
    setTimeout(() => fetch('/api/message').then(r => r.json()).then(m => {
      const p = document.createElement('p');
      p.id = 'error'; p.textContent = m.text;
      app.appendChild(p);
    }), 150);
  }
}
setTimeout(render, 100);
</script></body></html>`

// idp is a login server over TLS and a redirect_uri nothing must reach.
type idp struct {
	srv      *httptest.Server
	callback string       // the redirect_uri
	contacts atomic.Int64 // connections made to the redirect_uri
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &idp{callback: "http://" + ln.Addr().String() + "/callback"}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.contacts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, loginPage)
	})
	mux.HandleFunc("POST /session", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("username") != testUser || r.PostFormValue("password") != testPassword {
			http.Redirect(w, r, "/login?error=credentials", http.StatusSeeOther)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "session-1", Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteNoneMode, Expires: time.Now().Add(time.Hour)})
		http.Redirect(w, r, d.callback+"?code=abc&state=xyz", http.StatusFound)
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, d.callback+"?error=login_required&state=s1", http.StatusFound)
	})
	mux.HandleFunc("GET /api/message", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"text": "Invalid username or password."}`)
	})
	d.srv = httptest.NewUnstartedServer(mux)           // 127.0.0.1
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes TestCertificateVerified fails
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	return d
}

// open starts a session, closed at the end of the test.
func open(t *testing.T, p *Pool, o SessionOptions) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := p.Open(context.WithoutCancel(ctx), o) // the session outlives this ctx
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func testPool(t *testing.T, max int) *Pool {
	needChromium(t)
	return NewPool(PoolOptions{ExecPath: chromiumPath, Max: max, TempDir: t.TempDir()})
}

func stepCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*MaxSettle)
	t.Cleanup(cancel)
	return ctx
}

// login fills the form and submits it.
func login(t *testing.T, s *Session, base, password string) {
	t.Helper()
	ctx := stepCtx(t)
	if err := s.Navigate(ctx, base+"/login"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ sel, value string }{{"#username", testUser}, {"#password", password}} {
		if err := s.Fill(ctx, step.sel, step.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Click(ctx, "#submit"); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestLoginStopsAtRedirectURI(t *testing.T) {
	p := testPool(t, 2)
	d := newIdP(t)
	s := open(t, p, SessionOptions{StopAt: d.callback, InsecureSkipVerify: true, UserAgent: "authwatch-test"})

	login(t, s, d.srv.URL, testPassword)
	got, ok := s.Stopped()
	if want := d.callback + "?code=abc&state=xyz"; !ok || got != want {
		t.Fatalf("Stopped() = %q, %v; want %q", got, ok, want)
	}
	if n := d.contacts.Load(); n != 0 {
		t.Errorf("the redirect_uri was contacted %d times", n)
	}

	hops := s.Hops()
	var post *Hop
	for i := range hops {
		if hops[i].Method == "POST" {
			post = &hops[i]
		}
	}
	if post == nil || post.Status != http.StatusFound || post.Location != d.callback+"?code=abc&state=xyz" || post.Type != "Document" {
		t.Errorf("no POST hop redirecting to the callback in %+v", hops)
	}
	// The request to the callback is stopped when it is intercepted; the
	// event that records its failure comes after, on Chromium's schedule.
	lastHop := func() Hop { h := s.Hops(); return h[len(h)-1] }
	for deadline := time.Now().Add(10 * time.Second); lastHop().Error == "" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if last := lastHop(); last.URL != d.callback+"?code=abc&state=xyz" || last.Error == "" {
		t.Errorf("last hop %+v, want the aborted request to the callback", last)
	}

	cookies, err := s.Cookies(stepCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var sid *http.Cookie
	for _, c := range cookies {
		if c.Name == "sid" {
			sid = c
		}
	}
	if sid == nil {
		t.Fatalf("no sid cookie in %v", cookies)
	}
	if sid.Value != "session-1" || !sid.Secure || !sid.HttpOnly || sid.SameSite != http.SameSiteNoneMode ||
		sid.Domain != "127.0.0.1" || sid.Path != "/" || time.Until(sid.Expires) < 50*time.Minute {
		t.Errorf("sid cookie %#v", sid)
	}
}

func TestWrongPasswordShowsError(t *testing.T) {
	p := testPool(t, 2)
	d := newIdP(t)
	s := open(t, p, SessionOptions{StopAt: d.callback, InsecureSkipVerify: true, FindWait: 500 * time.Millisecond})

	login(t, s, d.srv.URL, "wrong-"+testPassword)
	if u, ok := s.Stopped(); ok {
		t.Fatalf("stopped at %q after a wrong password", u)
	}
	snap, err := s.Snapshot(stepCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(snap.HTML, "Invalid username or password.") || snap.Title != "Sign in" ||
		!strings.HasSuffix(snap.URL, "/login?error=credentials") {
		t.Errorf("snapshot %q %q:\n%s", snap.URL, snap.Title, snap.HTML)
	}

	// A selector that matches nothing: a quick error that holds no value.
	start := time.Now()
	err = s.Fill(stepCtx(t), "#otp", testPassword)
	if !errors.Is(err, ErrNotFound) || time.Since(start) > 3*time.Second {
		t.Errorf("Fill of a missing field: %v after %s", err, time.Since(start))
	}
	if err != nil && strings.Contains(err.Error(), testPassword) {
		t.Errorf("the error holds the value: %v", err)
	}
	if err := s.Click(stepCtx(t), "#nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Click on a missing element: %v", err)
	}
	if err := s.Fill(stepCtx(t), "##bad", "x"); !errors.Is(err, ErrBadSelector) {
		t.Errorf("Fill with a bad selector: %v", err)
	}
	if ok, err := s.Exists(stepCtx(t), "#error", time.Second); !ok || err != nil {
		t.Errorf("Exists(#error) = %v, %v", ok, err)
	}
	if ok, err := s.Exists(stepCtx(t), "form[method=POST]", 200*time.Millisecond); ok || err != nil {
		t.Errorf("Exists(hidden form) = %v, %v; want false", ok, err)
	}
}

func TestNavigateToStopAt(t *testing.T) {
	p := testPool(t, 2)
	d := newIdP(t)
	s := open(t, p, SessionOptions{StopAt: d.callback, InsecureSkipVerify: true})
	if err := s.Navigate(stepCtx(t), d.srv.URL+"/authorize"); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Stopped(); !ok || got != d.callback+"?error=login_required&state=s1" {
		t.Errorf("Stopped() = %q, %v", got, ok)
	}
	if n := d.contacts.Load(); n != 0 {
		t.Errorf("the redirect_uri was contacted %d times", n)
	}
}

func TestCertificateVerified(t *testing.T) {
	p := testPool(t, 2)
	d := newIdP(t)
	s := open(t, p, SessionOptions{})
	err := s.Navigate(stepCtx(t), d.srv.URL+"/login")
	var le *chromedp.LoadError
	if !errors.As(err, &le) || !strings.Contains(le.ErrorText, "CERT") {
		t.Errorf("Navigate to a self-signed server: %v", err)
	}
}

func TestPoolFullWaits(t *testing.T) {
	p := testPool(t, 1)
	s := open(t, p, SessionOptions{})

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	s2, err := p.Open(ctx, SessionOptions{})
	if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Open: %v, %v", s2, err)
	}

	// A free slot: Open goes on.
	done := make(chan error, 1)
	go func() {
		s3, err := p.Open(stepCtx(t), SessionOptions{})
		if err == nil {
			err = s3.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// groupProcesses lists the live processes of the process group pgid.
func groupProcesses(pgid int) []int { return processes(pgid, "") }

// waitGone waits for the group pgid to be empty and dir to be removed.
func waitGone(t *testing.T, pgid int, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := groupProcesses(pgid)
		_, statErr := os.Stat(dir)
		if len(left) == 0 && errors.Is(statErr, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of group %d left, profile dir: %v", left, pgid, statErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestContextEndKillsBrowser(t *testing.T) {
	p := testPool(t, 1)
	d := newIdP(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second) // room for a slow start
	defer cancel()
	s, err := p.Open(ctx, SessionOptions{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Navigate(ctx, d.srv.URL+"/login"); err != nil {
		t.Fatal(err)
	}
	pgid := s.PID()
	if n := len(groupProcesses(pgid)); n < 2 {
		t.Fatalf("%d processes in the browser's group %d, want the browser and its helpers", n, pgid)
	}
	<-ctx.Done()
	waitGone(t, pgid, s.ProfileDir())
	if err := s.Navigate(t.Context(), d.srv.URL+"/login"); !errors.Is(err, ErrClosed) {
		t.Errorf("Navigate after the context ended: %v", err)
	}
	// The slot is free again without Close.
	s2 := open(t, p, SessionOptions{})
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseTwice(t *testing.T) {
	p := testPool(t, 1)
	s := open(t, p, SessionOptions{})
	pgid := s.PID()
	if pgid == 0 || len(groupProcesses(pgid)) == 0 {
		t.Fatalf("no browser process (pid %d)", pgid)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left := groupProcesses(pgid); len(left) != 0 {
		t.Errorf("processes %v of group %d left right after Close", left, pgid)
	}
	if _, err := os.Stat(s.ProfileDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("profile dir after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Snapshot(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot after Close: %v", err)
	}
}

func TestSequentialSessionsLeaveNothing(t *testing.T) {
	p := testPool(t, 1)
	d := newIdP(t)
	s := open(t, p, SessionOptions{InsecureSkipVerify: true}) // warm up the packages' goroutines
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	d.srv.CloseClientConnections()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()

	var groups []int
	for i := range 5 {
		s := open(t, p, SessionOptions{StopAt: d.callback, InsecureSkipVerify: true})
		if err := s.Navigate(stepCtx(t), d.srv.URL+"/login"); err != nil {
			t.Fatal(i, err)
		}
		if err := s.Fill(stepCtx(t), "#username", testUser); err != nil {
			t.Fatal(i, err)
		}
		groups = append(groups, s.PID())
		if err := s.Close(); err != nil {
			t.Fatal(i, err)
		}
	}
	for _, g := range groups {
		if left := groupProcesses(g); len(left) > 0 {
			t.Errorf("processes %v of group %d left", left, g)
		}
	}
	if entries, _ := os.ReadDir(p.opts.TempDir); len(entries) > 0 {
		t.Errorf("%d profile dirs left in %s", len(entries), p.opts.TempDir)
	}
	d.srv.CloseClientConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before the sessions, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestNoBrowser(t *testing.T) {
	p := NewPool(PoolOptions{ExecPath: "/nonexistent/chromium"})
	_, err := p.Open(t.Context(), SessionOptions{})
	if !errors.Is(err, ErrNoBrowser) || !strings.Contains(err.Error(), `"chromium"`) {
		t.Errorf("Open without a browser: %v", err)
	}
}

// TestMeasure reports what a session costs.
func TestMeasure(t *testing.T) {
	p := testPool(t, 1)
	d := newIdP(t)
	const n = 3
	var total time.Duration
	var rssMain, rssSum, pss int64
	var procs int
	for range n {
		start := time.Now()
		s := open(t, p, SessionOptions{InsecureSkipVerify: true})
		if err := s.Navigate(stepCtx(t), d.srv.URL+"/login"); err != nil {
			t.Fatal(err)
		}
		rssMain, rssSum, pss, procs = memBytes(s.PID(), "Rss"), 0, s.Memory(), 0
		for _, pid := range groupProcesses(s.PID()) {
			rssSum += memBytes(pid, "Rss")
			procs++
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		total += time.Since(start)
	}
	t.Logf("Open+Navigate+Close: %s on average over %d", (total / n).Round(time.Millisecond), n)
	t.Logf("memory of one browser with a page (%d processes): RSS %d MiB main process, %d MiB summed; PSS %d MiB summed",
		procs, rssMain>>20, rssSum>>20, pss>>20)
}

func TestSnapshotEscapes(t *testing.T) {
	p := testPool(t, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<title>%s</title><p>%s</p>", html.EscapeString("a \"quoted\" </title>"), strings.Repeat("é", MaxHTML))
	}))
	defer srv.Close()
	s := open(t, p, SessionOptions{})
	if err := s.Navigate(stepCtx(t), srv.URL); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(stepCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Title != `a "quoted" </title>` || !snap.Truncated || len(snap.HTML) > MaxHTML || !strings.HasPrefix(snap.HTML, "<html>") {
		t.Errorf("snapshot title %q, truncated %v, %d bytes", snap.Title, snap.Truncated, len(snap.HTML))
	}
}

// TestOpenCanceledWhileStarting ends Open's context at points of the
// browser's start: Open fails with the context's error or succeeds, and
// nothing is left either way.
func TestOpenCanceledWhileStarting(t *testing.T) {
	p := testPool(t, 1)
	for _, d := range []time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
		200 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		s, err := p.Open(ctx, SessionOptions{StopAt: "http://127.0.0.1:9/cb"})
		switch {
		case err == nil:
			<-ctx.Done()
			waitGone(t, s.PID(), s.ProfileDir())
			if err := s.Close(); err != nil {
				t.Error(d, err)
			}
		case !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("Open with %s: %v", d, err)
		}
		cancel()
		deadline := time.Now().Add(10 * time.Second)
		for {
			entries, _ := os.ReadDir(p.opts.TempDir)
			if len(entries) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after Open with %s: %d profile dirs left", d, len(entries))
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The slot is free.
		s2 := open(t, p, SessionOptions{})
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A page that polls its server without pause is never quiet: Settle reads
// it after MaxSettle instead of waiting for the step's deadline.
func TestSettleOnPageThatNeverGoesQuiet(t *testing.T) {
	p := testPool(t, 2)
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/heartbeat" {
			polls.Add(1)
			fmt.Fprint(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Busy</title><p>Sign in</p>
<script>setInterval(() => fetch('/heartbeat'), 50)</script>`)
	}))
	t.Cleanup(srv.Close)
	s := open(t, p, SessionOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 3*MaxSettle)
	defer cancel()
	if err := s.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Settle(ctx, 400*time.Millisecond); err != nil {
		t.Fatalf("Settle on a polling page: %v (after %s, %d polls)", err, time.Since(start), polls.Load())
	}
	if polls.Load() < 10 {
		t.Errorf("only %d polls: the page was quiet, the test proves nothing", polls.Load())
	}
	snap, err := s.Snapshot(ctx)
	if err != nil || snap.Title != "Busy" {
		t.Errorf("snapshot after Settle: %+v %v", snap, err)
	}
}

// A flow's ca_file reaches the browser: a server whose certificate the
// test CA signed loads with CACerts, and not without; a certificate for
// another host still fails with the CA trusted.
func TestCACertsTrusted(t *testing.T) {
	p := testPool(t, 3)
	testenv.Require(t, "certutil")
	certs := testenv.Certs(t)
	ca, err := os.ReadFile(certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(cf testenv.CertFile) string {
		pair, err := tls.LoadX509KeyPair(cf.CertFile, cf.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<title>trusted</title>")
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	valid, wrongHost := serve(certs.Valid), serve(certs.WrongHost)

	s := open(t, p, SessionOptions{CACerts: ca})
	if err := s.Navigate(stepCtx(t), valid+"/"); err != nil {
		t.Fatalf("with the CA trusted: %v", err)
	}
	if snap, err := s.Snapshot(stepCtx(t)); err != nil || snap.Title != "trusted" {
		t.Errorf("page: %+v %v", snap, err)
	}
	var le *chromedp.LoadError
	if err := s.Navigate(stepCtx(t), wrongHost+"/"); !errors.As(err, &le) || !strings.Contains(le.ErrorText, "CERT") {
		t.Errorf("a certificate for another host, CA trusted: %v", err)
	}
	plain := open(t, p, SessionOptions{})
	if err := plain.Navigate(stepCtx(t), valid+"/"); !errors.As(err, &le) || !strings.Contains(le.ErrorText, "CERT") {
		t.Errorf("without the CA: %v", err)
	}
	if _, err := p.Open(stepCtx(t), SessionOptions{CACerts: []byte("not a certificate")}); !errors.Is(err, ErrBadCACerts) {
		t.Errorf("CACerts without a certificate: %v", err)
	}
}
