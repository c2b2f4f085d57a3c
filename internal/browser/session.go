package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// ErrClosed is returned by the methods of a session that was closed, or
// whose context ended.
var ErrClosed = errors.New("browser session closed")

// DefaultFindWait is how long Fill and Click wait for their selector when
// SessionOptions.FindWait is 0.
const DefaultFindWait = 5 * time.Second

// reapLimit bounds how long Close waits for the processes of a browser to
// go away.
const reapLimit = 5 * time.Second

// SessionOptions configures one browser session.
type SessionOptions struct {
	// StopAt is a URL, an OAuth redirect_uri, where the flow ends. Any
	// request to it, a navigation or a redirect, is intercepted and never
	// sent; its full URL, with the code, state or error query, is what
	// [Session.Stopped] returns. URLs are compared on scheme, host, port and
	// path; the query and the fragment are ignored. Empty means no stop.
	StopAt string
	// CACerts are PEM certificates the browser trusts as CAs, besides its
	// own roots (a flow's ca_file). They need NSS's certutil: see
	// [ErrNoCertutil].
	CACerts []byte
	// InsecureSkipVerify starts the browser with --ignore-certificate-errors.
	// It MUST NOT be set unless the flow opted out of TLS verification.
	InsecureSkipVerify bool
	// UserAgent replaces the browser's User-Agent when not empty.
	UserAgent string
	// FindWait is how long Fill and Click wait for their selector to match;
	// 0 means DefaultFindWait.
	FindWait time.Duration
	// Logger receives chromedp's own messages, at debug level, with every
	// filled value redacted. Nil means none.
	Logger *slog.Logger
}

// Session is one browser process with one tab. Its methods are for one
// goroutine at a time, except Close, Stopped and Hops, which any goroutine
// may call at any time. Every method returns ErrClosed once the session has
// ended.
type Session struct {
	// tab is chromedp's handle of the browser tab. It is not a request
	// context: every method takes its own ctx, which bounds that call only.
	tab      context.Context
	findWait time.Duration
	stop     *stopURL
	dir      string // the profile directory
	release  func() // frees the pool's slot

	cancelTab   context.CancelFunc
	cancelAlloc context.CancelFunc
	wg          sync.WaitGroup
	net         tracker

	mu      sync.Mutex
	unwatch func() bool // stops the watch on Open's context
	pgid    int         // the browser's process group, once started
	secrets []string    // the values filled in, scrubbed from errors and logs
	stopped string      // the intercepted StopAt URL
	hits    int         // how many requests StopAt intercepted

	closeOnce sync.Once
}

// start makes the profile directory, starts the browser and its tab, and
// arms the interception of StopAt. On failure nothing of it is left and
// release has been called.
func start(ctx context.Context, path, tempDir string, o SessionOptions, stop *stopURL, release func()) (*Session, error) {
	dir, err := os.MkdirTemp(tempDir, profilePrefix)
	if err != nil {
		release()
		return nil, err
	}
	s := &Session{findWait: o.FindWait, stop: stop, dir: dir, release: release}
	if s.findWait <= 0 {
		s.findWait = DefaultFindWait
	}
	s.net.init(time.Now)
	var env []string
	if len(o.CACerts) > 0 {
		home, err := trustHome(ctx, dir, o.CACerts)
		if err != nil {
			_ = os.RemoveAll(dir)
			release()
			return nil, err
		}
		env = append(env, "HOME="+home)
	}
	logf := s.logf(o.Logger)
	// The browser's contexts descend from Background, not from ctx: the
	// session ends through shutdown only, which ctx's end calls.
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(allocatorOptions(path, dir, o), chromedp.Env(env...))...)
	tab, cancelTab := chromedp.NewContext(alloc,
		chromedp.WithListener(s.net.event),
		chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	s.tab, s.cancelTab, s.cancelAlloc = tab, cancelTab, cancelAlloc
	unwatch := context.AfterFunc(ctx, s.shutdown)
	s.mu.Lock()
	s.unwatch = unwatch
	s.mu.Unlock()

	if err := s.boot(); err != nil {
		s.shutdown()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	return s, nil
}

// boot starts the browser, records its process group and enables the
// interception of StopAt.
func (s *Session) boot() error {
	if err := chromedp.Do(s.tab); err != nil { // the first Do starts the browser
		return err
	}
	if c := chromedp.FromContext(s.tab); c != nil && c.Browser != nil {
		if p := c.Browser.Process(); p != nil {
			s.mu.Lock()
			s.pgid = p.Pid // the leader of its own group: see isolate
			s.mu.Unlock()
		}
	}
	if s.stop == nil {
		return nil
	}
	paused := chromedp.Events(s.tab, fetch.RequestPaused) // subscribed from here on
	s.wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			s.paused(&ev)
		}
	})
	_, err := chromedp.Call(s.tab, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: s.stop.pattern()}},
	})
	return err
}

// allocatorOptions are the browser's flags: a quiet headless browser that
// talks to nothing but the pages it is sent to.
func allocatorOptions(path, dir string, o SessionOptions) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.ModifyCmdFunc(isolate),
		chromedp.Flag("headless", "new"),
		// Chromium's sandbox cannot run as root; as any other user it stays on.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	if o.InsecureSkipVerify {
		opts = append(opts, chromedp.IgnoreCertErrors)
	}
	if o.UserAgent != "" {
		opts = append(opts, chromedp.UserAgent(o.UserAgent))
	}
	return opts
}

// logf sends chromedp's messages to l at debug level, scrubbed.
func (s *Session) logf(l *slog.Logger) func(string, ...any) {
	if l == nil {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) {
		l.Debug(s.scrub(fmt.Sprintf(format, args...)), "source", "chromedp")
	}
}

// Close kills the browser's whole process group, waits until no process of
// it is left, removes the profile directory and frees the pool's slot. It is
// safe to call more than once and from any goroutine; later calls return
// nil at once, or wait for the first one to finish.
func (s *Session) Close() error {
	s.mu.Lock()
	unwatch := s.unwatch
	s.mu.Unlock()
	if unwatch != nil {
		unwatch()
	}
	var err error
	s.closeOnce.Do(func() { err = s.teardown() })
	return err
}

// shutdown is Close for the end of Open's context.
func (s *Session) shutdown() { _ = s.Close() }

func (s *Session) teardown() error {
	s.mu.Lock()
	pgid := s.pgid
	s.mu.Unlock()
	reap(pgid, s.dir, 0) // kill first: a graceful close can hang
	s.cancelTab()
	s.cancelAlloc() // waits until chromedp reaped the browser
	reap(pgid, s.dir, reapLimit)
	s.wg.Wait()
	err := removeAll(s.dir)
	s.release()
	if left := processes(pgid, s.dir); len(left) > 0 {
		return errors.Join(err, fmt.Errorf("browser processes %v still running after close", left))
	}
	return err
}

// removeAll removes dir, again for a short while if a dying helper still
// writes in it.
func removeAll(dir string) error {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("removing the browser profile: %w", err)
}

// PID is the browser's process id, which is also its process group id; 0
// before it started or where unknown.
func (s *Session) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pgid
}

// Memory is the memory the browser uses: the proportional set size (PSS)
// of its processes, summed, so that the pages they share count once, in
// bytes. 0 where unknown.
func (s *Session) Memory() int64 {
	var sum int64
	for _, pid := range processes(s.PID(), "") {
		sum += memBytes(pid, "Pss")
	}
	return sum
}

// ProfileDir is the browser's temporary profile directory, removed on Close.
func (s *Session) ProfileDir() string { return s.dir }

// remember adds a filled value to the ones scrubbed from errors and logs.
func (s *Session) remember(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, v)
}

// scrub replaces every filled value in msg.
func (s *Session) scrub(msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.secrets {
		msg = strings.ReplaceAll(msg, v, "[redacted]")
	}
	return msg
}

// call runs f under a context that ends when ctx ends or the session ends,
// and turns its error into one that names what was done and carries no
// filled value.
func (s *Session) call(ctx context.Context, what string, f func(c context.Context) error) error {
	if s.tab.Err() != nil {
		return fmt.Errorf("%s: %w", what, ErrClosed)
	}
	c, cancel := context.WithCancelCause(s.tab)
	defer cancel(nil)
	if d, ok := ctx.Deadline(); ok {
		var cancelD context.CancelFunc
		c, cancelD = context.WithDeadline(c, d)
		defer cancelD()
	}
	defer context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })()
	err := f(c)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	case s.tab.Err() != nil:
		return fmt.Errorf("%s: %w", what, ErrClosed)
	}
	return s.wrap(what, err)
}

// wrap adds what to err, keeping err's chain unless it holds a filled
// value.
func (s *Session) wrap(what string, err error) error {
	if msg := err.Error(); s.scrub(msg) != msg {
		return fmt.Errorf("%s: %s", what, s.scrub(msg))
	}
	return fmt.Errorf("%s: %w", what, err)
}
