package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNotFound is returned by Fill and Click when their selector matched no
// element within SessionOptions.FindWait.
var ErrNotFound = errors.New("no element matches the selector")

// ErrBadSelector is returned for a selector that is not valid CSS.
var ErrBadSelector = errors.New("invalid CSS selector")

// pollEvery is how often the waits look at the page again.
const pollEvery = 50 * time.Millisecond

// Navigate loads url in the tab and returns when the page has loaded, or
// when a request to StopAt was intercepted on the way. An HTTP error status
// is not an error: see Hops and Snapshot.
func (s *Session) Navigate(ctx context.Context, url string) error {
	hits := s.stopHits()
	err := s.call(ctx, "navigate", func(c context.Context) error {
		return chromedp.Do(c, chromedp.Navigate(url))
	})
	if err != nil && s.stopHits() > hits && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
		return nil // the navigation ended at StopAt, as meant
	}
	return err
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// visibleJS is a function that tells whether an element is rendered.
const visibleJS = `(el) => {
	if (!el.getClientRects().length) return false;
	const st = getComputedStyle(el);
	return st.visibility !== 'hidden' && st.display !== 'none';
}`

// matchJS is an expression that gives 2 when sel matches a visible
// element, 1 when it matches only hidden ones, 0 when none, -1 when sel is
// not valid CSS.
func matchJS(sel string) string {
	return `(() => {
	let els;
	try { els = document.querySelectorAll(` + jsString(sel) + `); } catch (e) { return -1; }
	if (!els.length) return 0;
	const visible = ` + visibleJS + `;
	for (const el of els) if (visible(el)) return 2;
	return 1;
})()`
}

// find waits up to wait for sel to match an element, a visible one if
// visible is set. It reports false when none matched in time; a page in the
// middle of a navigation is looked at again.
func (s *Session) find(ctx context.Context, sel string, visible bool, wait time.Duration) (bool, error) {
	want := 1
	if visible {
		want = 2
	}
	deadline := time.Now().Add(wait)
	for {
		n, err := evalBounded[int](ctx, s, matchJS(sel))
		switch {
		case err == nil && n < 0:
			return false, fmt.Errorf("%w: %q", ErrBadSelector, sel)
		case err == nil && n >= want:
			return true, nil
		case ctx.Err() != nil:
			return false, context.Cause(ctx)
		case s.tab.Err() != nil:
			return false, ErrClosed
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, context.Cause(ctx)
		case <-time.After(pollEvery):
		}
	}
}

// evalBounded evaluates expr in the page for at most a few seconds: during
// a navigation an evaluation can wait for the new document.
func evalBounded[T any](ctx context.Context, s *Session, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var v T
	err := s.call(ctx, "evaluate", func(c context.Context) error {
		var err error
		v, err = chromedp.Run(c, chromedp.Evaluate[T](expr))
		return err
	})
	return v, err
}

// Exists reports whether sel matches a visible element, waiting up to wait
// for one. Only an invalid selector, the end of ctx or of the session is an
// error.
func (s *Session) Exists(ctx context.Context, sel string, wait time.Duration) (bool, error) {
	ok, err := s.find(ctx, sel, true, wait)
	if err != nil {
		return false, fmt.Errorf("exists %q: %w", sel, err)
	}
	return ok, nil
}

// Click waits up to SessionOptions.FindWait for sel to match a visible
// element and clicks the first one with the mouse, at its center. It does
// not wait for what the click causes: see Settle.
func (s *Session) Click(ctx context.Context, sel string) error {
	what := fmt.Sprintf("click %q", sel)
	switch ok, err := s.find(ctx, sel, true, s.findWait); {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case !ok:
		return fmt.Errorf("%s: %w (waited %s for a visible one)", what, ErrNotFound, s.findWait)
	}
	ctx, cancel := context.WithTimeout(ctx, s.findWait)
	defer cancel()
	return s.call(ctx, what, func(c context.Context) error {
		return chromedp.Do(c, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	})
}

// MaxSettle is how long Settle waits for quiet on a loaded document: a
// page that polls its server without pause (a heartbeat, a status poll)
// is never quiet, and is read as it is after this long.
const MaxSettle = 5 * time.Second

// Settle waits until a request to StopAt was intercepted, or until no
// request and no frame load has been in flight for quiet and the document
// has loaded (readyState "complete"), or the document has loaded and
// MaxSettle has passed. A request in flight for longer than 10s, a long
// poll, is not waited for. It returns the context's error, with what was
// still going on, when ctx ends first.
//
// The quiet is counted from Settle's start at the earliest: right after a
// click, the page was quiet long before it, and the event that says the
// click asked for a navigation may still be on its way (on a loaded
// machine it came after a first look, and the old page was judged).
func (s *Session) Settle(ctx context.Context, quiet time.Duration) error {
	start := time.Now()
	for {
		if _, hit := s.Stopped(); hit {
			return nil
		}
		if q := min(s.net.quietFor(), time.Since(start)); q >= quiet || time.Since(start) >= MaxSettle {
			state, err := evalBounded[string](ctx, s, `document.readyState`)
			if err == nil && state == "complete" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("settle: page still busy: %w", context.Cause(ctx))
		case <-s.tab.Done():
			return fmt.Errorf("settle: %w", ErrClosed)
		case <-time.After(pollEvery):
		}
	}
}

// MaxHTML is the most of the document's HTML a Snapshot holds, in bytes.
const MaxHTML = 1 << 20

// Snapshot is what the tab shows.
type Snapshot struct {
	URL, Title string
	// HTML is document.documentElement.outerHTML, cut at MaxHTML bytes.
	HTML string
	// Truncated reports whether HTML was cut.
	Truncated bool
}

// Snapshot returns the tab's URL, title and HTML.
func (s *Session) Snapshot(ctx context.Context) (Snapshot, error) {
	type snap struct {
		URL   string `json:"url"`
		Title string `json:"title"`
		HTML  string `json:"html"`
		Len   int    `json:"len"`
	}
	expr := fmt.Sprintf(`(() => {
	const html = document.documentElement ? document.documentElement.outerHTML : '';
	return {url: String(location.href), title: String(document.title), html: html.slice(0, %d), len: html.length};
})()`, MaxHTML)
	var v snap
	err := s.call(ctx, "snapshot", func(c context.Context) error {
		var err error
		v, err = chromedp.Run(c, chromedp.Evaluate[snap](expr))
		return err
	})
	if err != nil {
		return Snapshot{}, err
	}
	html, cut := truncateUTF8(v.HTML, MaxHTML)
	return Snapshot{URL: v.URL, Title: v.Title, HTML: html, Truncated: cut || v.Len > MaxHTML}, nil
}

// truncateUTF8 cuts s to at most n bytes, at a rune boundary.
func truncateUTF8(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n], true
}

// WaitText reports whether the page's visible text (document.body's
// innerText) holds text, waiting up to wait for it. Only the end of ctx or
// of the session is an error.
func (s *Session) WaitText(ctx context.Context, text string, wait time.Duration) (bool, error) {
	expr := `(() => !!document.body && document.body.innerText.includes(` + jsString(text) + `))()`
	deadline := time.Now().Add(wait)
	for {
		ok, err := evalBounded[bool](ctx, s, expr)
		switch {
		case err == nil && ok:
			return true, nil
		case ctx.Err() != nil:
			return false, fmt.Errorf("wait for text: %w", context.Cause(ctx))
		case s.tab.Err() != nil:
			return false, fmt.Errorf("wait for text: %w", ErrClosed)
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("wait for text: %w", context.Cause(ctx))
		case <-time.After(pollEvery):
		}
	}
}

// MaxElementText is the most of an element's text VisibleText returns, in
// bytes.
const MaxElementText = 1000

// VisibleText returns the text (innerText, white space collapsed, filled
// values redacted, cut at MaxElementText) of the first visible element sel
// matches, and whether there is one. It does not wait.
func (s *Session) VisibleText(ctx context.Context, sel string) (string, bool, error) {
	type found struct {
		Match int    `json:"match"`
		Text  string `json:"text"`
	}
	expr := `(() => {
	let els;
	try { els = document.querySelectorAll(` + jsString(sel) + `); } catch (e) { return {match: -1, text: ''}; }
	const visible = ` + visibleJS + `;
	for (const el of els) if (visible(el)) return {match: 1, text: (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim()};
	return {match: 0, text: ''};
})()`
	v, err := evalBounded[found](ctx, s, expr)
	switch {
	case err != nil:
		return "", false, fmt.Errorf("text of %q: %w", sel, err)
	case v.Match < 0:
		return "", false, fmt.Errorf("%w: %q", ErrBadSelector, sel)
	}
	text, _ := truncateUTF8(s.scrub(v.Text), MaxElementText)
	return text, v.Match > 0, nil
}
