package daemon

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/version"
)

// TestE2EMetricsForDashboards: /metrics carries what dashboards and
// alerting rules join on: authwatch_build_info{version,revision,goversion}
// 1; authwatch_flow_info{flow, <the flow's labels>} 1; each flow's
// last-success time (the start of its last passing run) and failed runs
// in a row with the reason, both kept over a restart; the scheduler's
// health; and a certificate's expiry as a timestamp, equal to the server
// certificate's NotAfter, beside the seconds left.
func TestE2EMetricsForDashboards(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	flow := func(every string) string {
		return fmt.Sprintf("name: tls\nevery: %s\nlabels: {team: identity, severity: page}\nsteps:\n"+
			"  - id: call\n    kind: http\n    url: %s\n    ca_file: %s\n    expect: {status: 200}\n", every, srv.URL, ca)
	}
	down := func(every string) string {
		return fmt.Sprintf("name: down\nevery: %s\nsteps:\n  - id: call\n    kind: http\n    url: %s\n    ca_file: %s\n    expect: {status: 204}\n", every, srv.URL, ca)
	}
	d := e2eStart(t, map[string]string{"tls.yaml": flow("1s"), "down.yaml": down("1s")}, e2eOptions{})
	e2eWaitFor(t, 10*time.Second, "a passing run and two failed ones", func() bool {
		st, ok := d.flowState("tls")
		dst, _ := d.flowState("down")
		return ok && st.OK && dst.ConsecutiveFailures >= 2
	})
	// The prune at start measures the database against retention.max_size.
	e2eWaitFor(t, 10*time.Second, "the state database's size in /metrics", func() bool {
		v, ok := e2eMetric(d.metrics(), "authwatch_state_store_used_bytes", "")
		return ok && v > 0
	})
	m := d.metrics()
	if v, ok := e2eMetric(m, "authwatch_state_store_max_bytes", ""); !ok || v != config.DefaultMaxSize {
		t.Errorf("authwatch_state_store_max_bytes = %v (present %v), want the default retention.max_size %d", v, ok, config.DefaultMaxSize)
	}
	if v, ok := e2eMetric(m, "authwatch_run_failures_total", `reason="unexpected_status"`); !ok || v < 2 {
		t.Errorf("authwatch_run_failures_total{reason=unexpected_status} = %v (present %v), want >= 2", v, ok)
	}
	if v, ok := e2eMetric(m, "authwatch_flow_consecutive_failures", `flow="down",reason="unexpected_status"`); !ok || v < 2 {
		t.Errorf("authwatch_flow_consecutive_failures of the failing flow = %v (present %v), want >= 2 with its reason:\n%s",
			v, ok, grepLines(m, "authwatch_flow_consecutive_failures"))
	}
	if v, ok := e2eMetric(m, "authwatch_flow_consecutive_failures", `flow="tls",reason=""`); !ok || v != 0 {
		t.Errorf("authwatch_flow_consecutive_failures of the passing flow = %v (present %v), want 0", v, ok)
	}
	if v, ok := e2eMetric(m, "authwatch_scheduler_healthy", ""); !ok || v != 1 {
		t.Errorf("authwatch_scheduler_healthy = %v (present %v), want 1", v, ok)
	}
	b := version.Get()
	build := fmt.Sprintf(`goversion=%q,revision=%q,version=%q`, b.GoVersion, b.Revision, b.Version)
	if v, ok := e2eMetric(m, "authwatch_build_info", build); !ok || v != 1 {
		t.Errorf("authwatch_build_info{%s} = %v (present %v), want 1", build, v, ok)
	}
	if v, ok := e2eMetric(m, "authwatch_flow_info", `flow="tls",severity="page",team="identity"`); !ok || v != 1 {
		t.Errorf("authwatch_flow_info for tls = %v (present %v), want 1 with its labels:\n%s", v, ok, grepLines(m, "authwatch_flow_info"))
	}
	host := `host="` + strings.TrimPrefix(srv.URL, "https://") + `"`
	notAfter := srv.Certificate().NotAfter.Unix()
	if v, ok := e2eMetric(m, "authwatch_tls_cert_not_after_timestamp_seconds", host); !ok || v != float64(notAfter) {
		t.Errorf("authwatch_tls_cert_not_after_timestamp_seconds{%s} = %v (present %v), want the certificate's NotAfter %d", host, v, ok, notAfter)
	}
	if _, ok := e2eMetric(m, "authwatch_tls_cert_expiry_seconds", host); !ok {
		t.Errorf("authwatch_tls_cert_expiry_seconds{%s} is gone", host)
	}
	// The metric names the start of a passing run (the history, read
	// after the scrape, may hold newer ones). The metrics are set before
	// the run is recorded (a store that fails does not stop them) and the
	// record is committed up to the commit interval later, so the history
	// is read until it has caught up.
	v, ok := e2eMetric(m, "authwatch_flow_last_success_timestamp_seconds", `flow="tls"`)
	if !ok {
		t.Fatal("authwatch_flow_last_success_timestamp_seconds of the passing flow is missing")
	}
	e2eWaitFor(t, 10*time.Second, fmt.Sprintf("a passing run of tls started at authwatch_flow_last_success_timestamp_seconds %v", v), func() bool {
		return slices.ContainsFunc(d.runs("tls"), func(r store.Run) bool { return r.OK && float64(r.Start.UnixMilli())/1000 == v })
	})

	// A restart (the flow now runs hourly: no run comes during the test)
	// keeps the last success from the store.
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	e2eWrite(t, d.flowsDir, "tls.yaml", flow("1h"))
	e2eWrite(t, d.flowsDir, "down.yaml", down("1h"))
	again := e2eStart(t, nil, e2eOptions{stateDir: d.stateDir, flowsDir: d.flowsDir})
	stored := again.runs("tls")[0].Start // the first daemon's last run
	want := float64(stored.UnixMilli()) / 1000
	m = again.metrics()
	if v, ok := e2eMetric(m, "authwatch_flow_last_success_timestamp_seconds", `flow="tls"`); !ok || v != want {
		t.Errorf("after a restart: authwatch_flow_last_success_timestamp_seconds = %v (present %v), want the stored %v", v, ok, want)
	}
	streak, _ := again.flowState("down")
	if v, ok := e2eMetric(m, "authwatch_flow_consecutive_failures", `flow="down",reason="unexpected_status"`); !ok || v != float64(streak.ConsecutiveFailures) {
		t.Errorf("after a restart: authwatch_flow_consecutive_failures = %v (present %v), want the stored %d", v, ok, streak.ConsecutiveFailures)
	}
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
