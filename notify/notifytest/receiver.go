package notifytest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Response is one scripted answer of a Receiver.
type Response struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Location, when set, is sent as the Location header (a redirect).
	Location string
	// Body is the response body ("ok" when Status and Body are both zero).
	Body string
	// Delay holds the answer back this long, or until the client gives up
	// (a per-attempt deadline), whichever comes first.
	Delay time.Duration
}

// Request is one request a Receiver got.
type Request struct {
	Method   string
	Path     string // decoded path
	RawQuery string
	Header   http.Header
	Body     []byte
	// URI is the request target as sent (escaped path and query).
	URI string
}

// JSON decodes the body into v, rejecting unknown trailing data.
func (r Request) JSON(v any) error {
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// Receiver is an HTTPS (or plain HTTP) server on 127.0.0.1 that records
// every request and answers with its script, in order; once the script is
// used up it answers 200 "ok". It is closed when the test ends.
type Receiver struct {
	// URL is the base URL: https://127.0.0.1:PORT (http:// for
	// NewHTTPReceiver), without a path.
	URL string

	t      testing.TB
	server *httptest.Server

	mu     sync.Mutex
	script []Response
	reqs   []Request
	check  func(Request) error
}

// NewReceiver starts an HTTPS receiver whose certificate Client trusts.
func NewReceiver(t testing.TB, script ...Response) *Receiver {
	t.Helper()
	r := &Receiver{t: t, script: script}
	r.server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.server.TLS = &tls.Config{Certificates: []tls.Certificate{certs(t).cert}, MinVersion: tls.VersionTLS12}
	r.server.StartTLS()
	return r.started(t)
}

// NewHTTPReceiver starts a plain-HTTP receiver (for kinds that allow http
// to loopback addresses).
func NewHTTPReceiver(t testing.TB, script ...Response) *Receiver {
	t.Helper()
	r := &Receiver{t: t, script: script}
	r.server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r.started(t)
}

func (r *Receiver) started(t testing.TB) *Receiver {
	if host, _, err := net.SplitHostPort(r.server.Listener.Addr().String()); err != nil || !net.ParseIP(host).IsLoopback() {
		r.server.Close()
		t.Fatalf("notifytest: receiver listens on %s, not on a loopback address", r.server.Listener.Addr())
	}
	r.URL = r.server.URL
	t.Cleanup(r.server.Close)
	return r
}

// SetScript replaces the answers still to be given.
func (r *Receiver) SetScript(script ...Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = script
}

// SetCheck installs a payload check run on every request: a kind's test
// validates the shape its real receiver requires (Slack's block limits, an
// Adaptive Card's schema). A problem fails the test, and the receiver
// answers 400 with it, as the real one would.
func (r *Receiver) SetCheck(check func(Request) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check = check
}

// Requests returns the requests received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Last returns the last request received; it fails the test if there was
// none.
func (r *Receiver) Last(t testing.TB) Request {
	t.Helper()
	reqs := r.Requests()
	if len(reqs) == 0 {
		t.Fatalf("notifytest: the receiver got no request")
	}
	return reqs[len(reqs)-1]
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	rec := Request{Method: req.Method, Path: req.URL.Path, RawQuery: req.URL.RawQuery,
		Header: req.Header.Clone(), Body: body, URI: req.RequestURI}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	check := r.check
	resp := Response{Body: "ok"}
	if len(r.script) > 0 {
		resp, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()

	if check != nil {
		if err := check(rec); err != nil {
			r.t.Errorf("notifytest: the receiver refused the payload: %v\nbody: %s", err, body)
			http.Error(w, "invalid_payload: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	if resp.Delay > 0 {
		select {
		case <-time.After(resp.Delay):
		case <-req.Context().Done():
			return
		}
	}
	if resp.RetryAfter != "" {
		w.Header().Set("Retry-After", resp.RetryAfter)
	}
	if resp.Location != "" {
		w.Header().Set("Location", resp.Location)
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, resp.Body)
}
