package exchange

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The recorder sets the agent on a request without a User-Agent and
// records the header as sent; the caller's request is left as it was, and
// what the caller does to it afterwards does not change the record.
func TestRecorderAgentAndHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Agent", r.UserAgent())
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ name, own, want string }{
		{"agent set", "", "authwatch/test"},
		{"own agent kept", "caller/1", "caller/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &Recorder{Base: srv.Client().Transport, Agent: "authwatch/test"}
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("X-Caller", "a")
			if tc.own != "" {
				req.Header.Set("User-Agent", tc.own)
			}
			resp, err := rec.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			req.Header.Set("X-Caller", "changed after")
			ex := rec.Last()
			if got := resp.Header.Get("X-Seen-Agent"); got != tc.want {
				t.Errorf("server saw User-Agent %q, want %q", got, tc.want)
			}
			if got := ex.RequestHeader.Get("User-Agent"); got != tc.want {
				t.Errorf("recorded User-Agent %q, want %q", got, tc.want)
			}
			if got := ex.RequestHeader.Get("X-Caller"); got != "a" {
				t.Errorf("recorded X-Caller %q, want the value sent", got)
			}
			if got := req.Header.Get("User-Agent"); got != tc.own {
				t.Errorf("the caller's request got User-Agent %q", got)
			}
			if got := ex.ResponseHeader.Get("X-Seen-Agent"); got != tc.want || !ex.BodyComplete {
				t.Errorf("recorded answer: X-Seen-Agent %q, body complete %v", got, ex.BodyComplete)
			}
		})
	}
}
