package statuspage

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/store"
)

// withLifetime copies a real run with its access tokens' lifetime set.
func withLifetime(r *flows.Result, at time.Time, lifetime time.Duration) *flows.Result {
	c := *r
	c.Start = at
	c.Steps = append([]flows.StepResult(nil), r.Steps...)
	for i := range c.Steps {
		if sh := c.Steps[i].Shape; sh != nil {
			s := *sh
			s.Tokens = append([]flows.TokenShape(nil), sh.Tokens...)
			for j := range s.Tokens {
				s.Tokens[j].Lifetime = lifetime
			}
			c.Steps[i].Shape = &s
		}
	}
	return &c
}

// TestFlowPageAndAPIShowTheBaseline: the flow page shows what is normal,
// what changed (before, after, since when) and who accepted; the API
// returns the same; a flow without a baseline has none on its page and a
// 404 in the API.
func TestFlowPageAndAPIShowTheBaseline(t *testing.T) {
	f := getFixture(t)
	st, _ := f.newStore(t, 0, 0)
	const name = "orders-api"
	res := f.results[name]
	b := baseline.New(name, "d", 2)
	at := res.Start.Add(-time.Hour)
	for i, lifetime := range []time.Duration{time.Hour, time.Hour, 5 * time.Minute} {
		obs, ok := baseline.FromResult(withLifetime(res, at.Add(time.Duration(i)*time.Minute), lifetime))
		if !ok {
			t.Fatalf("the fixture's %s run has no shape: %s", name, outcome(res))
		}
		b.Observe(obs, baseline.Rules{})
	}
	if len(b.Drifts) == 0 {
		t.Fatalf("no drift from a lifetime change; the run's tokens: %+v", res.Steps)
	}
	data, _ := json.Marshal(b)
	ctx := context.Background()
	if err := st.SaveBaseline(ctx, store.Baseline{Flow: name, Data: data, Updated: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcceptBaseline(ctx, store.BaselineAccept{Flow: name, By: "alice", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h := New(st, Options{Flows: f.infos})

	resp, page := get(t, h, "/flows/"+name)
	for _, want := range []string{`<section class="card" id="baseline">`, "Learned from 2 passing runs", "access token lifetime 3600 s → 300 s",
		"<td>3600 s</td><td>300 s</td>", "authwatch baseline accept " + name, "accepted by alice", "access_token.alg</th><td>RS256"} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("flow page (%d) lacks %q", resp.StatusCode, want)
		}
	}
	resp, body := get(t, h, "/api/v1/flows/"+name+"/baseline")
	got := decode[BaselineJSON](t, body)
	if resp.StatusCode != http.StatusOK || got.Learning || len(got.Changed) == 0 || got.Changed[0].Before != "3600 s" || got.Changed[0].After != "300 s" ||
		len(got.Pending) != 1 || got.Pending[0].By != "alice" || len(got.Normal) == 0 {
		t.Errorf("API %d: %s", resp.StatusCode, body)
	}
	assertNoSecrets(t, "baseline API", body, f.secrets())
	assertNoSecrets(t, "flow page", page, f.secrets())

	other := f.infos()[0].Name
	if other == name {
		other = f.infos()[1].Name
	}
	if _, page := get(t, h, "/flows/"+other); strings.Contains(page, `id="baseline"`) {
		t.Errorf("flow %s without a baseline shows one", other)
	}
	if resp, _ := get(t, h, "/api/v1/flows/"+other+"/baseline"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("API of a flow without a baseline: %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, h, "/api/v1/flows/no-such-flow/baseline"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("API of an unknown flow: %d, want 404", resp.StatusCode)
	}
}
