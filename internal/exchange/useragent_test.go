package exchange

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAgentTransport: the agent goes on requests without a User-Agent of
// their own (an empty one, which tells Go to send none, is their own too),
// and the caller's request is left as it was.
func TestAgentTransport(t *testing.T) {
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Values("User-Agent") }))
	defer srv.Close()
	tr := AgentTransport{Agent: "authwatch/test", Base: srv.Client().Transport}
	for _, tc := range []struct {
		header http.Header
		want   []string
	}{
		{nil, []string{"authwatch/test"}},
		{http.Header{}, []string{"authwatch/test"}},
		{http.Header{"User-Agent": {"own/1"}}, []string{"own/1"}},
		{http.Header{"User-Agent": {""}}, nil},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = tc.header
		before := len(tc.header)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if agents := <-got; len(agents) != len(tc.want) || (len(agents) > 0 && agents[0] != tc.want[0]) {
			t.Errorf("header %v: server saw User-Agent %q, want %q", tc.header, agents, tc.want)
		}
		if len(req.Header) != before {
			t.Errorf("header %v: the caller's request was changed", tc.header)
		}
	}
}
