package baseline_test

import (
	"context"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
)

// TestDemoFlowsNoFalseWarnings: the demo's passing flows against its
// zitadel IdP and orders API (an authorization code login through the
// IdP's login pages with its redirects and session cookies, a refresh, a
// client credentials token and API calls) learn from 20 runs, then run 200
// times more without a warning: session ids, state, nonces, codes, jti
// and times vary on every run and are learned as varying.
func TestDemoFlowsNoFalseWarnings(t *testing.T) {
	t.Parallel()
	env, err := demo.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: demo.LookupEnv}}, demo.FlowsFile, env.Flows())
	if err != nil {
		t.Fatal(err)
	}
	r := flows.NewRunner()
	r.Secrets.LookupEnv = demo.LookupEnv
	for _, name := range []string{"user-login", "orders-api", "orders-requires-auth"} {
		var f *flows.Flow
		for _, g := range set.Flows {
			if g.Name == name {
				f = g
			}
		}
		if f == nil {
			t.Fatalf("no demo flow %s", name)
		}
		b := baseline.New(f.Name, f.Digest, 20)
		rules := baseline.RulesOf(f)
		rules.LatencyFactor = 0 // this shared machine's load is no property of the demo
		compared := 0
		for i := range 220 {
			res := r.Run(context.Background(), f)
			obs, ok := baseline.FromResult(res)
			if !ok {
				t.Fatalf("%s run %d did not pass: %v", name, i, res.Failure())
			}
			if ds := b.Observe(obs, rules); len(ds) > 0 {
				t.Fatalf("%s run %d: false warning %s", name, i, baseline.Finding(ds, obs.At).Summary)
			}
			if !b.Learning() {
				compared++
			}
		}
		v := b.View()
		t.Logf("%s: %d runs compared against %d normal features; varying: %v", name, compared, len(v.Normal), v.Varying)
		if len(v.Normal) < 5 {
			t.Errorf("%s: only %d features compared: %v", name, len(v.Normal), v.Normal)
		}
	}
}
