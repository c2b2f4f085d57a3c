package flows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo/api"
	"github.com/authwatch/authwatch/internal/testenv"
)

// waitExpiryFlow gets a token with a 2-second lifetime from the discovered
// token endpoint, waits past it and calls an API that validates it.
func waitExpiryFlow(name, issuer, apiURL, expect string) string {
	return `
name: ` + name + `
every: 1m
clock_skew: 1s
steps:
  - id: disco
    kind: discovery
    issuer: "` + issuer + `"
  - id: token
    kind: client_credentials
    token_url: ${steps.disco.token_endpoint}
    jwks_url: ${steps.disco.jwks_uri}
    client_id: cc-client
    client_secret: ${env:CC_SECRET}
    resource: ["` + itApiResource + `"]
  - id: pause
    kind: wait
    wait: 3s
  - id: api
    kind: http
    url: "` + apiURL + `/orders"
    auth: {bearer: "${steps.token.access_token}"}
` + expect
}

// TestWaitPastTokenLifetime: a real IdP issues 2-second access tokens; after
// a wait past that lifetime, a real API refuses the token, and the flow can
// either expect the 401 or report it as token_expired.
// proves: token_expired
func TestWaitPastTokenLifetime(t *testing.T) {
	testenv.Require(t, "node")
	t.Parallel()
	p := testenv.NodeOIDCProvider(t, map[string]string{"KEY_DIR": t.TempDir(), "ACCESS_TOKEN_TTL": "2"})
	a, err := api.Start(t.Context(), api.Options{Issuer: p.URL, Audience: itApiResource})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	r := itProviderRunner()

	t.Run("expected 401", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, waitExpiryFlow("wait-expect", p.URL, a.URL(), "    expect: {status: 401}\n"))
		itMustPass(t, res)
		pause := itStep(t, res, "pause")
		if pause.Kind != flows.KindWait || pause.IsLatency() || len(pause.Exchanges) != 0 {
			t.Errorf("wait step: kind %s, latency %v, %d exchanges; want wait, no latency, none", pause.Kind, pause.IsLatency(), len(pause.Exchanges))
		}
		if res.Waited() != pause.Duration || res.Waited() < 3*time.Second {
			t.Errorf("Waited() = %s, want the wait step's %s (at least 3s)", res.Waited(), pause.Duration)
		}
	})
	t.Run("token_expired", func(t *testing.T) {
		t.Parallel()
		res := itRunProvider(t, r, waitExpiryFlow("wait-expired", p.URL, a.URL(), ""))
		f := itMustFail(t, res, "api", flows.ReasonTokenExpired)
		itSummaryHas(t, f, "expired")
	})
}

// TestWaitRefusedBeyondTimeout: a wait that cannot end within the flow's
// timeout (its own or the daemon's default), or its step's, is refused at
// load, at the wait field.
func TestWaitRefusedBeyondTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		defaults   flows.Defaults
		want       string
	}{
		{"flow timeout", "timeout: 5s\nsteps:\n  - {id: a, kind: wait, wait: 2s}\n  - id: b\n    kind: wait\n    wait: 3s\n", flows.Defaults{},
			"w.yaml:8:11: steps[1].wait: the flow's waits add up to 5s here, not less than its timeout of 5s"},
		{"default timeout", "steps:\n  - id: a\n    kind: wait\n    wait: 30s\n", flows.Defaults{},
			"w.yaml:6:11: steps[0].wait: the flow's waits add up to 30s here, not less than its timeout of 30s"},
		{"daemon default", "steps:\n  - id: a\n    kind: wait\n    wait: 10s\n", flows.Defaults{Timeout: 10 * time.Second},
			"w.yaml:6:11: steps[0].wait: the flow's waits add up to 10s here, not less than its timeout of 10s"},
		{"step timeout", "steps:\n  - id: a\n    kind: wait\n    timeout: 2s\n    wait: 2s\n", flows.Defaults{},
			"w.yaml:7:11: steps[0].wait: 2s does not end within the step's timeout of 2s"},
		{"zero", "steps:\n  - id: a\n    kind: wait\n    wait: 0s\n", flows.Defaults{},
			"w.yaml:6:11: steps[0].wait: required: a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flows.LoadBytes(flows.LoadOptions{Defaults: tc.defaults}, "w.yaml", []byte("name: w\nevery: 1m\n"+tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
	if _, err := flows.LoadBytes(flows.LoadOptions{}, "w.yaml", []byte("name: w\nevery: 1m\ntimeout: 10s\nsteps:\n  - {id: a, kind: wait, wait: 9s}\n")); err != nil {
		t.Errorf("a wait within the timeout: %v", err)
	}
}

// TestWaitHonoursCancellation: a daemon stop ends a wait at once; the run
// is marked cancelled (it must not page).
func TestWaitHonoursCancellation(t *testing.T) {
	t.Parallel()
	r := flows.NewRunner()
	f := itLoadFlow(t, r, "name: w\nevery: 1m\ntimeout: 1h\nsteps:\n  - {id: a, kind: wait, wait: 50m}\n")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan *flows.Result)
	go func() { done <- r.Run(ctx, f) }()
	cancel()
	select {
	case res := <-done:
		if !res.Cancelled || res.OK {
			t.Errorf("cancelled=%v ok=%v, want a cancelled, failed run", res.Cancelled, res.OK)
		}
	case <-time.After(time.Minute):
		t.Fatal("the wait did not end on cancellation")
	}
}

// TestWaitLongerThanWhatIsLeft: a wait the run's remaining time cannot hold
// fails at once as timeout instead of sleeping into the deadline.
func TestWaitLongerThanWhatIsLeft(t *testing.T) {
	t.Parallel()
	r := flows.NewRunner()
	f := itLoadFlow(t, r, "name: w\nevery: 1m\ntimeout: 1h\nsteps:\n  - {id: a, kind: wait, wait: 50m}\n")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res := r.Run(ctx, f)
	fl := itMustFail(t, res, "a", flows.ReasonTimeout)
	itSummaryHas(t, fl, "the wait of 50m cannot end within the deadline")
}
