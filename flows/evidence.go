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
	// Omitted counts the exchanges left out before this one (the middle
	// of a long redirect chain).
	Omitted int `json:"omitted_before,omitempty"`

	// Bytes of the bodies left out before the evidence was bounded: the
	// recorder keeps only the start of a body.
	bodyDropped, requestDropped int
}

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
		cut := len(ex.RequestBody) >= exchange.BodyCap
		ev.RequestBody, ev.requestDropped = redactedBody(secrets, ex.RequestHeader.Get("Content-Type"), ex.RequestBody, cut)
	}
	if ex.Err != nil {
		ev.Error = secrets.String(ex.Err.Error())
	}
	if ex.ResponseHeader != nil {
		ev.ResponseHeaders = secrets.Header(ex.ResponseHeader)
		ev.Body, ev.bodyDropped = redactedBody(secrets, ex.ResponseHeader.Get("Content-Type"), ex.Body, ex.BodyTruncated)
		ev.bodyDropped += int(max(ex.BodyRead-int64(len(ex.Body)), 0))
		ev.BodyTruncated = ex.BodyTruncated
		ev.RequestIDs = requestIDs(ex.ResponseHeader, secrets)
	}
	return ev
}

// secretMargin is how much of a body cut short by the recorder is not
// shown: a secret that the cut split (its start kept, its end not) is not
// recognised by redaction, so nothing redaction did not see whole is shown.
// Secrets longer than this are not protected at the cut.
const secretMargin = exchange.BodyCap / 2

// redactedBody redacts a body and, when the recorder cut it (cut), keeps
// only the part that no cut secret can reach: the redactions of the body
// and of the body without its last secretMargin bytes agree up to the
// start of the first secret that reaches past that point. It returns the
// text and how many bytes of the redacted text it left out.
func redactedBody(secrets *redact.Secrets, contentType string, raw []byte, cut bool) (string, int) {
	full := secrets.Body(contentType, raw)
	if !cut {
		return full, 0
	}
	short := secrets.Body(contentType, raw[:max(len(raw)-secretMargin, 0)])
	n := 0
	for n < len(full) && n < len(short) && full[n] == short[n] {
		n++
	}
	return full[:n], len(full) - n
}

func requestIDs(h http.Header, secrets *redact.Secrets) map[string]string {
	var ids map[string]string
	for _, name := range requestIDHeaders {
		if v := h.Get(name); v != "" {
			if ids == nil {
				ids = map[string]string{}
			}
			ids[strings.ToLower(name)] = exchange.Truncate(secrets.String(v), 200, 0)
		}
	}
	return ids
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
