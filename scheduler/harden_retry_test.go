package scheduler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// TestLongRetryAfterIsCapped runs a real flow against a real server that
// answers 429 with a Retry-After of 7 days, as seconds and as an HTTP date
// far ahead: the flow is deferred for MaxDeferral (1 h), and the summary
// says the wait was capped. Before, a Retry-After of 7 days or more was
// thrown away as broken, and the throttled target was hit again at the
// next interval.
func TestLongRetryAfterIsCapped(t *testing.T) {
	for _, tc := range []struct{ name, header string }{
		{"604800 seconds", "604800"},
		{"a date a year ahead", t0.AddDate(1, 0, 0).Format(http.TimeFormat)},
		{"more seconds than int64", "99999999999999999999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.header)
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer srv.Close()
			set, err := flows.LoadBytes(flows.LoadOptions{}, "rl.yaml",
				[]byte("name: rl\nevery: 10s\nsteps:\n  - {id: api, kind: http, url: \""+srv.URL+"/api\"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			r := newRig(t, 0)
			runner := flows.NewRunner()
			runner.Now = r.clock.Now
			r.result = func(f *flows.Flow) *flows.Result { return runner.Run(context.Background(), f) }
			r.apply(set.Flows[0])
			r.s.Start()
			first := r.next("rl")
			r.advanceTo(first)
			ev := recv(t, r.results)
			f := ev.Result.Failure()
			if f == nil || f.Reason != flows.ReasonRateLimited || !strings.Contains(f.Summary, "capped at 1h0m0s") {
				t.Fatalf("failure = %+v, want rate_limited saying the wait was capped", f)
			}
			if !f.RetryAfter.Equal(first.Add(flows.MaxRetryAfter)) {
				t.Errorf("RetryAfter = %s, want now + 1h = %s", f.RetryAfter, first.Add(flows.MaxRetryAfter))
			}
			r.idle("rl")
			if got := r.s.Stats().Flows["rl"].DeferredUntil; !got.Equal(first.Add(MaxDeferral)) {
				t.Errorf("deferred until %s, want now + MaxDeferral = %s", got, first.Add(MaxDeferral))
			}
			r.advanceTo(first.Add(10e9))
			if sk := recv(t, r.skips); sk.why != SkipRetryAfter {
				t.Errorf("the next run was not skipped for Retry-After: %+v", sk)
			}
		})
	}
}
