package flows

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/exchange"
)

// FuzzServerTimeHeaders feeds hostile Date and Retry-After values to the
// parsers that turn them into clock offsets and retry times.
func FuzzServerTimeHeaders(f *testing.F) {
	for _, seed := range []string{"Sat, 28 Nov 2026 00:49:48 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"120", "-1", "99999999999999999999", "", "garbage", "Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(seed)
	}
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if at, _, ok := parseRetryAfter(v, now); ok && (at.IsZero() || at.After(now.Add(MaxRetryAfter))) {
			t.Fatalf("parseRetryAfter(%q) = %s, ok: zero or more than MaxRetryAfter ahead", v, at)
		}
		ex := &exchange.Exchange{Start: now, URL: &url.URL{Host: "h"}, ResponseHeader: http.Header{"Date": {v}}}
		if off, ok := clockOffset(ex); ok {
			_ = roundDur(absDur(off)).String()
		}
	})
}
