package daemon

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// TestE2EStatusLine: the service manager hears one status line
// (systemd's STATUS=), kept current: flows, failing flows, open incidents
// and whether the last reload was taken; it is sent when it changes, never
// twice in a row the same, not every second.
func TestE2EStatusLine(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	d := e2eStart(t, map[string]string{
		"up.yaml":   e2eHTTPFlow("up", "1s", srv.URL+"/up", 200),
		"down.yaml": e2eHTTPFlow("down", "1s", srv.URL+"/down", 200),
	}, e2eOptions{})
	const failing = "2 flows, 1 failing, 1 incident open; last reload ok"
	e2eWaitFor(t, 20*time.Second, "status "+failing, func() bool { return slices.Contains(d.notify.Statuses(), failing) })

	e2eWrite(t, d.flowsDir, "broken.yaml", e2eBrokenFiles[0].content)
	d.reload <- struct{}{}
	const rejected = "2 flows, 1 failing, 1 incident open; last reload rejected (the old flows run; see the log)"
	e2eWaitFor(t, 20*time.Second, "status "+rejected, func() bool { return slices.Contains(d.notify.Statuses(), rejected) })

	e2eWrite(t, d.flowsDir, "broken.yaml", "# fixed by emptying\n")
	e2eWrite(t, d.flowsDir, "down.yaml", e2eHTTPFlow("down", "1s", srv.URL+"/up", 200))
	d.reload <- struct{}{}
	const healed = "2 flows, 0 failing, 0 incidents open; last reload ok"
	e2eWaitFor(t, 20*time.Second, "status "+healed, func() bool { s := d.notify.Statuses(); return s[len(s)-1] == healed })

	statuses := d.notify.Statuses()
	for i := 1; i < len(statuses); i++ {
		if statuses[i] == statuses[i-1] {
			t.Errorf("status %q sent twice in a row (statuses: %q)", statuses[i], statuses)
		}
	}
	t.Logf("%d status lines: %q", len(statuses), statuses)
}

// TestStatusLine: the line's wording, including a state store that
// refuses writes.
func TestStatusLine(t *testing.T) {
	for _, c := range []struct {
		flows, failing, incidents int
		reloadOK, storeOK         bool
		want                      string
	}{
		{42, 3, 1, true, true, "42 flows, 3 failing, 1 incident open; last reload ok"},
		{1, 0, 0, true, true, "1 flow, 0 failing, 0 incidents open; last reload ok"},
		{0, 0, 0, true, true, "0 flows, 0 failing, 0 incidents open; last reload ok"},
		{2, 2, 3, false, false, "2 flows, 2 failing, 3 incidents open; last reload rejected (the old flows run; see the log); state store unwritable (results held in memory)"},
	} {
		if got := statusLine(c.flows, c.failing, c.incidents, c.reloadOK, c.storeOK); got != c.want {
			t.Errorf("statusLine(%d, %d, %d, %v, %v) = %q, want %q", c.flows, c.failing, c.incidents, c.reloadOK, c.storeOK, got, c.want)
		}
	}
}
