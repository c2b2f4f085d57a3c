package exchange

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

// Recorder is an http.RoundTripper that records every exchange it carries.
// One Recorder serves one step of one run.
type Recorder struct {
	Base          http.RoundTripper
	Now           func() time.Time
	VerifySkipped bool // the base transport does not verify TLS: say so in evidence
	// Agent, when set, goes in the User-Agent of every request that sets
	// none itself, as AgentTransport does; the record shows it.
	Agent string

	mu        sync.Mutex
	exchanges []*Exchange
}

// Exchanges returns what was recorded so far, in order.
func (r *Recorder) Exchanges() []*Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Exchange(nil), r.exchanges...)
}

// Last returns the most recent exchange, or nil.
func (r *Recorder) Last() *Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.exchanges) == 0 {
		return nil
	}
	return r.exchanges[len(r.exchanges)-1]
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := &Exchange{Start: r.now(), Method: req.Method, URL: req.URL}
	req, ex.RequestHeader = r.withAgent(req)
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			ex.RequestBody, _ = io.ReadAll(io.LimitReader(body, BodyCap))
			body.Close()
		}
	}
	r.mu.Lock()
	r.exchanges = append(r.exchanges, ex)
	r.mu.Unlock()

	// httptrace callbacks may run on other goroutines, even after
	// RoundTrip returned (a handshake the transport finishes in the
	// background): after finished they must not touch the exchange, which
	// is then read without this lock.
	var mu sync.Mutex
	finished := false
	mark := func(d *time.Duration) {
		mu.Lock()
		if !finished {
			*d = r.now().Sub(ex.Start)
		}
		mu.Unlock()
	}
	trace := &httptrace.ClientTrace{
		DNSStart:             func(httptrace.DNSStartInfo) { mark(&ex.Timings.DNSStart) },
		DNSDone:              func(httptrace.DNSDoneInfo) { mark(&ex.Timings.DNSDone) },
		ConnectStart:         func(string, string) { mark(&ex.Timings.ConnectStart) },
		ConnectDone:          func(string, string, error) { mark(&ex.Timings.ConnectDone) },
		TLSHandshakeStart:    func() { mark(&ex.Timings.TLSStart) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { mark(&ex.Timings.TLSDone) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { mark(&ex.Timings.WroteRequest) },
		GotFirstResponseByte: func() { mark(&ex.Timings.FirstByte) },
		GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			if finished {
				return
			}
			ex.Timings.ReusedConn = info.Reused
			if info.Conn != nil {
				ex.RemoteAddr = info.Conn.RemoteAddr().String()
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := r.Base.RoundTrip(req)
	mu.Lock()
	defer mu.Unlock()
	finished = true
	if err != nil {
		ex.Err = err
		ex.Timings.Done = r.now().Sub(ex.Start)
		return nil, err
	}
	// The answer's own header map, not a copy: nothing writes to an
	// answer's header once the transport has made it.
	ex.Status, ex.Proto, ex.ResponseHeader = resp.StatusCode, resp.Proto, resp.Header
	ex.TLS = tlsInfo(resp.TLS, r.VerifySkipped)
	resp.Body = &teeBody{rc: resp.Body, ex: ex, rec: r, mu: &mu}
	return resp, nil
}

// withAgent returns the request to send and a copy of its header, which
// the record keeps (the caller may change its own later): the request
// itself, or, when r sets the User-Agent, a request with that copy as its
// header (one copy for both).
func (r *Recorder) withAgent(req *http.Request) (*http.Request, http.Header) {
	h := req.Header.Clone()
	if _, own := req.Header["User-Agent"]; own || r.Agent == "" {
		return req, h
	}
	if h == nil {
		h = http.Header{}
	}
	h.Set("User-Agent", r.Agent)
	out := *req
	out.Header = h
	return &out, h
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// teeBody keeps the first BodyCap bytes of a response body while the
// consumer reads it, and notes when the body ended.
type teeBody struct {
	rc  io.ReadCloser
	ex  *Exchange
	rec *Recorder
	mu  *sync.Mutex
	buf bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ex.BodyRead += int64(n)
	if room := BodyCap - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(n, room)])
		t.ex.Body = t.buf.Bytes()
	}
	if n > 0 && t.buf.Len() >= BodyCap {
		t.ex.BodyTruncated = true
	}
	if err == io.EOF {
		t.ex.BodyComplete = true
		t.ex.Timings.Done = t.rec.now().Sub(t.ex.Start)
	} else if err != nil {
		t.ex.Err = err
	}
	return n, err
}

func (t *teeBody) Close() error {
	t.mu.Lock()
	if t.ex.Timings.Done == 0 {
		t.ex.Timings.Done = t.rec.now().Sub(t.ex.Start)
	}
	t.mu.Unlock()
	return t.rc.Close()
}
