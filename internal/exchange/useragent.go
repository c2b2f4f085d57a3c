package exchange

import "net/http"

// AgentTransport names the caller: it sets User-Agent to Agent on every
// request that sets none itself, so a target, and the WAF in front of it,
// can tell who calls. A request with its own User-Agent header keeps it.
type AgentTransport struct {
	Agent string
	Base  http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It leaves req as it was (the
// RoundTripper contract): the header goes on a copy.
func (t AgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, own := req.Header["User-Agent"]; own || t.Agent == "" {
		return t.base().RoundTrip(req)
	}
	out := *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	out.Header.Set("User-Agent", t.Agent)
	return t.base().RoundTrip(&out)
}

func (t AgentTransport) base() http.RoundTripper {
	if t.Base == nil {
		return http.DefaultTransport
	}
	return t.Base
}

// CloseIdleConnections closes the base transport's idle connections (what
// http.Client.CloseIdleConnections asks of its transport).
func (t AgentTransport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
