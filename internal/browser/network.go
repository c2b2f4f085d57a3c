package browser

import (
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
)

// MaxHops is how many requests a session records for Hops.
const MaxHops = 100

// longPoll is how long a request may stay in flight before Settle stops
// waiting for it: a long poll or a stuck beacon must not hold a login step.
const longPoll = 10 * time.Second

// navStartWait is how long a requested navigation (a form submission, a
// script's location change) may take to start loading before Settle stops
// waiting for it: Chromium may cancel a requested navigation silently.
const navStartWait = 2 * time.Second

// Hop is one document, XHR or fetch request the page made. Its URL is
// recorded as sent, query included: redact before showing it.
type Hop struct {
	Method, URL string
	// Status is the HTTP status, 0 while unknown or when no response came.
	Status int
	// Location is the redirect target of a 3xx response.
	Location string
	// Type is the resource type: "Document", "XHR" or "Fetch".
	Type string
	// Error is the browser's network error, such as "net::ERR_ABORTED" for
	// the request to StopAt.
	Error string
}

// tracker follows the requests and the frame loads of a tab, from the
// events chromedp hands it in order on its read loop: it must stay fast and
// send no command.
type tracker struct {
	now func() time.Time

	mu       sync.Mutex
	hops     []Hop
	hopOf    map[network.RequestID]int       // the latest hop of each request
	inflight map[network.RequestID]time.Time // when each started
	loading  map[cdp.FrameID]struct{}
	// navRequested: frames whose renderer asked to navigate (a submitted
	// form) and have not started loading yet; Settle must not judge the
	// old page in between.
	navRequested map[cdp.FrameID]time.Time
	last         time.Time // the last start or end of a request or a frame load

	refused []RefusedCookie
}

// MaxRefused is how many refused cookies a session records.
const MaxRefused = 20

// RefusedCookie is a Set-Cookie the browser did not store, with
// Chromium's reasons ("InvalidDomain", "SameSiteNoneInsecure", ...).
// SetCookie is the header line with its value removed ("sid=…; Path=/"),
// Attributes the part after the value ("; Path=/"): never a secret.
type RefusedCookie struct {
	Name                  string
	SetCookie, Attributes string
	Reasons               []string
	// URL is the answer's URL as requested, query included: redact it.
	URL string
}

func (t *tracker) init(now func() time.Time) {
	t.now = now
	t.hopOf = map[network.RequestID]int{}
	t.inflight = map[network.RequestID]time.Time{}
	t.loading = map[cdp.FrameID]struct{}{}
	t.navRequested = map[cdp.FrameID]time.Time{}
	t.last = now()
}

// recorded reports whether requests of type typ become hops.
func recorded(typ network.ResourceType) bool {
	return typ == network.ResourceTypeDocument || typ == network.ResourceTypeXHR || typ == network.ResourceTypeFetch
}

// awaited reports whether Settle waits for requests of type typ.
func awaited(typ network.ResourceType) bool {
	switch typ {
	case network.ResourceTypeEventSource, network.ResourceTypeWebSocket, network.ResourceTypePing:
		return false
	}
	return true
}

// event is chromedp's listener for the tab.
func (t *tracker) event(ev any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		t.last = now
		if ev.RedirectResponse != nil {
			t.response(ev.RequestID, ev.RedirectResponse)
		}
		if awaited(ev.Type) {
			t.inflight[ev.RequestID] = now
		}
		if recorded(ev.Type) && ev.Request != nil && len(t.hops) < MaxHops {
			t.hops = append(t.hops, Hop{Method: ev.Request.Method, URL: ev.Request.URL + ev.Request.URLFragment, Type: string(ev.Type)})
			t.hopOf[ev.RequestID] = len(t.hops) - 1
		} else {
			delete(t.hopOf, ev.RequestID)
		}
	case *network.EventResponseReceived:
		t.response(ev.RequestID, ev.Response)
	case *network.EventResponseReceivedExtraInfo:
		t.refuse(ev)
	case *network.EventLoadingFinished:
		t.done(ev.RequestID, now)
	case *network.EventLoadingFailed:
		if i, ok := t.hopOf[ev.RequestID]; ok {
			t.hops[i].Error = ev.ErrorText
		}
		t.done(ev.RequestID, now)
	case *page.EventFrameRequestedNavigation:
		t.navRequested[ev.FrameID] = now
		t.last = now
	case *page.EventFrameStartedLoading:
		t.loading[ev.FrameID] = struct{}{}
		delete(t.navRequested, ev.FrameID)
		t.last = now
	case *page.EventFrameStoppedLoading:
		delete(t.loading, ev.FrameID)
		delete(t.navRequested, ev.FrameID)
		t.last = now
	case *page.EventFrameDetached:
		delete(t.loading, ev.FrameID)
		delete(t.navRequested, ev.FrameID)
	}
}

// response records the status and the redirect target of a request's hop.
func (t *tracker) response(id network.RequestID, r *network.Response) {
	i, ok := t.hopOf[id]
	if !ok || r == nil {
		return
	}
	t.hops[i].Status = int(r.Status)
	for k, v := range r.Headers {
		if s, ok := v.(string); ok && strings.EqualFold(k, "Location") {
			t.hops[i].Location = s
		}
	}
}

// refuse records the cookies an answer set that the browser refused.
func (t *tracker) refuse(ev *network.EventResponseReceivedExtraInfo) {
	u := ""
	if i, ok := t.hopOf[ev.RequestID]; ok {
		u = t.hops[i].URL
	}
	for _, b := range ev.BlockedCookies {
		if b == nil || len(t.refused) >= MaxRefused {
			continue
		}
		name, attrs := splitCookieLine(b.CookieLine)
		if b.Cookie != nil && b.Cookie.Name != "" {
			name = b.Cookie.Name
		}
		r := RefusedCookie{Name: name, SetCookie: name + "=…" + attrs, Attributes: attrs, URL: u}
		for _, reason := range b.BlockedReasons {
			r.Reasons = append(r.Reasons, string(reason))
		}
		t.refused = append(t.refused, r)
	}
}

// splitCookieLine splits "name=value; attrs" into the name and "; attrs".
func splitCookieLine(line string) (name, attrs string) {
	pair, attrs, _ := strings.Cut(line, ";")
	name, _, _ = strings.Cut(pair, "=")
	if attrs != "" {
		attrs = ";" + attrs
	}
	return strings.TrimSpace(name), attrs
}

// touch restarts the quiet period: an action that may start a navigation
// (a click, a form submission) counts as activity, so that Settle does not
// judge the page before the navigation's first request was sent.
func (t *tracker) touch() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = t.now()
}

func (t *tracker) done(id network.RequestID, now time.Time) {
	delete(t.inflight, id)
	t.last = now
}

// quietFor is how long no request and no frame load has been in flight, 0
// while one is. A request in flight for longer than longPoll no longer
// counts.
func (t *tracker) quietFor() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.loading) > 0 {
		return 0
	}
	for _, since := range t.navRequested {
		if now.Sub(since) < navStartWait {
			return 0
		}
	}
	for _, since := range t.inflight {
		if now.Sub(since) < longPoll {
			return 0
		}
	}
	return now.Sub(t.last)
}

// RefusedCookies returns the Set-Cookie lines the browser refused to
// store, with its reasons; at most MaxRefused.
func (s *Session) RefusedCookies() []RefusedCookie {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return append([]RefusedCookie(nil), s.net.refused...)
}

// Hops returns the document, XHR and fetch requests the page made, in the
// order they were sent; at most MaxHops.
func (s *Session) Hops() []Hop {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return append([]Hop(nil), s.net.hops...)
}
