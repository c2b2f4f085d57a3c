package flows

import (
	"net/http"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/exchange"
	"github.com/authwatch/authwatch/internal/redact"
)

// ExchangeEvidence is one HTTP exchange, redacted for display and storage.
type ExchangeEvidence struct {
	Method          string              `json:"method"`
	URL             string              `json:"url"`
	RequestHeaders  map[string][]string `json:"request_headers,omitempty"`
	RequestBody     string              `json:"request_body,omitempty"`
	Status          int                 `json:"status,omitempty"`
	ResponseHeaders map[string][]string `json:"response_headers,omitempty"`
	Body            string              `json:"body,omitempty"`
	BodyTruncated   bool                `json:"body_truncated,omitempty"`
	Error           string              `json:"error,omitempty"`
	TimingsMS       map[string]float64  `json:"timings_ms,omitempty"`
	TLS             *exchange.TLSInfo   `json:"tls,omitempty"`
	RemoteAddr      string              `json:"remote_addr,omitempty"`
	RequestIDs      map[string]string   `json:"request_ids,omitempty"`
}

// evidenceBodyCap bounds a body shown in evidence: enough for an error
// document, small enough for a page or a chat message.
const evidenceBodyCap = 4 << 10

// requestIDHeaders are the response headers support desks ask for.
var requestIDHeaders = []string{
	"X-Request-Id", "X-Correlation-Id", "Traceparent", "Cf-Ray", "X-Amzn-Trace-Id",
	"X-Amzn-Requestid", "X-Ms-Request-Id", "Request-Id", "X-Okta-Request-Id", "X-B3-Traceid", "X-Cloud-Trace-Context",
}

func exchangeEvidence(ex *exchange.Exchange, secrets *redact.Secrets) ExchangeEvidence {
	ev := ExchangeEvidence{
		Method:         ex.Method,
		URL:            secrets.String(redact.URL(ex.URL.String())),
		RequestHeaders: secrets.Header(ex.RequestHeader),
		Status:         ex.Status,
		TLS:            ex.TLS,
		RemoteAddr:     ex.RemoteAddr,
		TimingsMS:      timingsMS(ex.Timings),
	}
	if len(ex.RequestBody) > 0 {
		ev.RequestBody = capText(secrets.Body(ex.RequestHeader.Get("Content-Type"), ex.RequestBody))
	}
	if ex.Err != nil {
		ev.Error = secrets.String(ex.Err.Error())
	}
	if ex.ResponseHeader != nil {
		ev.ResponseHeaders = secrets.Header(ex.ResponseHeader)
		ev.Body = capText(secrets.Body(ex.ResponseHeader.Get("Content-Type"), ex.Body))
		ev.BodyTruncated = ex.BodyTruncated || len(ev.Body) < len(ex.Body) && len(ex.Body) > evidenceBodyCap
		ev.RequestIDs = requestIDs(ex.ResponseHeader)
	}
	return ev
}

func requestIDs(h http.Header) map[string]string {
	var ids map[string]string
	for _, name := range requestIDHeaders {
		if v := h.Get(name); v != "" {
			if ids == nil {
				ids = map[string]string{}
			}
			ids[strings.ToLower(name)] = truncate(v, 200)
		}
	}
	return ids
}

func capText(s string) string {
	if len(s) <= evidenceBodyCap {
		return s
	}
	return s[:evidenceBodyCap] + "…"
}

func timingsMS(t exchange.Timings) map[string]float64 {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	out := map[string]float64{}
	add := func(name string, from, to time.Duration) {
		if to > 0 && to >= from {
			out[name] = ms(to - from)
		}
	}
	add("dns", t.DNSStart, t.DNSDone)
	add("connect", t.ConnectStart, t.ConnectDone)
	add("tls", t.TLSStart, t.TLSDone)
	add("first_byte", 0, t.FirstByte)
	add("total", 0, t.Done)
	return out
}
