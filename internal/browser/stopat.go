package browser

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// stopURL is a parsed SessionOptions.StopAt: what a request's URL is
// compared on.
type stopURL struct {
	scheme, host, port, path string
}

// parseStopAt parses raw; empty gives nil, no stop.
func parseStopAt(raw string) (*stopURL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("browser: StopAt: %w", err)
	}
	s := canonical(u)
	if (s.scheme != "http" && s.scheme != "https") || s.host == "" {
		return nil, fmt.Errorf("browser: StopAt %q: must be an absolute http or https URL", raw)
	}
	return s, nil
}

// canonical is u as the browser writes it: lower-case scheme and host, no
// default port, "/" for an empty path.
func canonical(u *url.URL) *stopURL {
	s := &stopURL{
		scheme: strings.ToLower(u.Scheme),
		host:   strings.ToLower(u.Hostname()),
		port:   u.Port(),
		path:   u.Path,
	}
	if (s.scheme == "http" && s.port == "80") || (s.scheme == "https" && s.port == "443") {
		s.port = ""
	}
	if s.path == "" {
		s.path = "/"
	}
	return s
}

// matches reports whether raw is the stop URL, whatever its query.
func (s *stopURL) matches(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return *canonical(u) == *s
}

// pattern is the Fetch domain's URL pattern for every URL of the stop
// URL's origin. It is wider than the stop URL, so that no spelling of the
// path escapes it; matches decides, and the other requests continue.
func (s *stopURL) pattern() string {
	host := s.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if s.port != "" {
		host = net.JoinHostPort(s.host, s.port)
	}
	return s.scheme + "://" + host + "/*"
}

// paused answers a request the Fetch domain paused: a request to the stop
// URL is recorded and failed as aborted, never sent; any other continues.
func (s *Session) paused(ev *fetch.EventRequestPaused) {
	if ev == nil {
		return
	}
	if ev.Request != nil && s.stop.matches(ev.Request.URL) {
		s.mu.Lock()
		if s.hits == 0 {
			s.stopped = withFormBody(ev.Request.URL+ev.Request.URLFragment, ev.Request)
		}
		s.hits++
		s.mu.Unlock()
		_, _ = chromedp.Call(s.tab, fetch.FailRequest, fetch.FailRequestParams{
			RequestID: ev.RequestID, ErrorReason: network.ErrorReasonAborted,
		})
		return
	}
	_, _ = chromedp.Call(s.tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
}

// withFormBody adds the fields of a form POST (response_mode=form_post) to
// the URL's query, where a redirect would have carried them.
func withFormBody(raw string, r *network.Request) string {
	if r.Method != "POST" || len(r.PostDataEntries) == 0 {
		return raw
	}
	var body []byte
	for _, e := range r.PostDataEntries {
		if e != nil {
			body = append(body, e.Bytes...)
		}
	}
	form, err := url.ParseQuery(string(body))
	u, uerr := url.Parse(raw)
	if err != nil || uerr != nil || len(form) == 0 {
		return raw
	}
	q := u.Query()
	for k, vs := range form {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Stopped returns the URL of the first request to StopAt, with its query
// (and the fields of a form POST to it, as query parameters), and whether
// there was one.
func (s *Session) Stopped() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped, s.hits > 0
}

// stopHits is how many requests StopAt intercepted so far.
func (s *Session) stopHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}
