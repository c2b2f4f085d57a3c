package demo_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
)

// The demo's DPoP flow, run by authwatch's own runner against the demo IdP
// and API, passes on every run (a fresh DPoP key each time): the token is
// bound to the run's key, the API takes it with a proof and refuses it as
// Bearer and with another key's proof. No line of the client's private key
// shows in the result.
func TestDemoDPoPFlowPasses(t *testing.T) {
	env, err := demo.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	r := flows.NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: demo.LookupEnv}
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: r.Secrets}, demo.FlowsFile, env.Flows())
	if err != nil {
		t.Fatal(err)
	}
	var flow *flows.Flow
	for _, f := range set.Flows {
		if f.Name == "orders-api-dpop" {
			flow = f
		}
	}
	if flow == nil {
		t.Fatal("the demo has no orders-api-dpop flow")
	}
	key, err := idp.DPoPClientPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 3; run++ {
		res := r.Run(t.Context(), flow)
		out, _ := json.Marshal(res)
		if !res.OK {
			t.Fatalf("run %d failed: %s", run, out)
		}
		var notes []string
		for _, s := range res.Steps {
			if s.Status != flows.StepPassed {
				t.Errorf("run %d: step %s is %s", run, s.ID, s.Status)
			}
			if s.HTTPStatus != 200 {
				t.Errorf("run %d: step %s shows HTTP %d, want its own answer's 200", run, s.ID, s.HTTPStatus)
			}
			notes = append(notes, s.Notes...)
		}
		if !strings.Contains(strings.Join(notes, "\n"), "binding enforced") {
			t.Errorf("run %d: no note that the API enforced the binding: %q", run, notes)
		}
		for _, line := range strings.Split(key, "\n") {
			if line != "" && !strings.HasPrefix(line, "-----") && strings.Contains(string(out), line) {
				t.Fatalf("run %d: a line of the client's private key is in the result", run)
			}
		}
	}
}
