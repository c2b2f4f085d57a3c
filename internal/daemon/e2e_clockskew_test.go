package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/testenv"
)

// TestE2EClockSkewWarns: an IdP whose clock is 10 minutes behind, with
// nothing else wrong (its hour-long token is still valid), makes the flow
// warn with clock_skew the way other warnings do: a warning incident, state
// warning with the reason on the status API, and a "warn" run in the
// metrics. Before, the skew was only a finding and the flow passed silently.
func TestE2EClockSkewWarns(t *testing.T) {
	t.Parallel()
	idp := testenv.NodeOIDCProvider(t, nil, testenv.Faketime(t, "-10m")...)
	secret := filepath.Join(t.TempDir(), "cc-secret")
	if err := os.WriteFile(secret, []byte("cc-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := e2eStart(t, map[string]string{"skewed.yaml": fmt.Sprintf(`name: skewed
every: 2s
timeout: 20s
steps:
  - id: token
    kind: client_credentials
    issuer: %s
    client_id: cc-client
    client_secret: ${file:%s}
    client_auth: client_secret_basic
    resource: [https://api.example.test/]
    scopes: [api:read]
`, idp.Issuer, secret)}, e2eOptions{})

	var flow struct {
		Flow struct {
			State, Reason, Layer string
			Incident             *struct{ Kind string }
		}
	}
	// The run's state is recorded before the incident policy has opened its
	// incident: a warning state waits for its incident too.
	e2eWaitFor(t, 60*time.Second, "the flow's first run (and its incident when it warns)", func() bool {
		_, body := d.get("/api/v1/flows/skewed")
		flow.Flow.Incident = nil
		if json.Unmarshal([]byte(body), &flow) != nil {
			return false
		}
		switch flow.Flow.State {
		case "", "unknown":
			return false
		case "warning":
			return flow.Flow.Incident != nil
		}
		return true
	})
	if f := flow.Flow; f.State != "warning" || f.Reason != "clock_skew" || f.Incident == nil || f.Incident.Kind != "warning" {
		t.Errorf("status API: state %q, reason %q, incident %+v; want warning, clock_skew, a warning incident", f.State, f.Reason, f.Incident)
	}
	if st, ok := d.flowState("skewed"); !ok || !st.OK {
		t.Errorf("flow state %+v: want passing (a warning is not a failure)", st)
	}
	m := d.metrics()
	if v, ok := e2eMetric(m, "authwatch_flow_runs_total", `flow="skewed",reason="",result="warn"`); !ok || v < 1 {
		t.Errorf("authwatch_flow_runs_total{result=warn} = %v (found %v), want at least 1", v, ok)
	}
	if v, ok := e2eMetric(m, "authwatch_flow_runs_total", `flow="skewed",reason="",result="pass"`); ok {
		t.Errorf("authwatch_flow_runs_total{result=pass} = %v: a skewed run counted as a clean pass", v)
	}
}
