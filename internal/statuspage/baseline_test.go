package statuspage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

// post serves one POST form request.
func post(h http.Handler, path string, hdr ...string) *http.Response {
	req := httptest.NewRequest(http.MethodPost, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestAcceptButtonBehindAuth: the flow page's Accept button is offered
// only behind the page's authentication; it records the accept with the
// authenticated user, refuses a form posted from another site and
// unauthenticated requests, and without authentication there is neither
// button nor accept.
func TestAcceptButtonBehindAuth(t *testing.T) {
	f := getFixture(t)
	st, _ := f.newStore(t, 0, 0)
	const name = "orders-api"
	res := f.results[name]
	b := baseline.New(name, "d", 2)
	at := res.Start.Add(-time.Hour)
	for i, lifetime := range []time.Duration{time.Hour, time.Hour, 5 * time.Minute} {
		obs, _ := baseline.FromResult(withLifetime(res, at.Add(time.Duration(i)*time.Minute), lifetime))
		b.Observe(obs, baseline.Rules{})
	}
	data, _ := json.Marshal(b)
	ctx := context.Background()
	if err := st.SaveBaseline(ctx, store.Baseline{Flow: name, Data: data, Updated: at}); err != nil {
		t.Fatal(err)
	}
	open := New(st, Options{Flows: f.infos})
	if _, page := get(t, open, "/flows/"+name); strings.Contains(page, "Accept as normal") {
		t.Error("a page without authentication offers the Accept button")
	}
	if resp := post(open, "/flows/"+name+"/baseline/accept"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("accept without the page's authentication: %d, want 403", resp.StatusCode)
	}

	opts, _ := authOptions(t, true, false)
	opts.Flows = f.infos
	h := New(st, opts)
	auth := basicHeader(testUser, testPassword)
	if _, page := get(t, h, "/flows/"+name, "Authorization", auth); !strings.Contains(page, `<form method="post" action="/flows/`+name+`/baseline/accept"><button type="submit">Accept as normal</button></form>`) {
		t.Error("the authenticated page lacks the Accept button")
	}
	if resp := post(h, "/flows/"+name+"/baseline/accept"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("accept without credentials: %d, want 401", resp.StatusCode)
	}
	if resp := post(h, "/flows/"+name+"/baseline/accept", "Authorization", auth, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("accept posted from another site: %d, want 403", resp.StatusCode)
	}
	if got, _ := st.BaselineAccepts(ctx, name, 0, 0); len(got) != 0 {
		t.Fatalf("refused posts recorded accepts: %+v", got)
	}
	resp := post(h, "/flows/"+name+"/baseline/accept", "Authorization", auth, "Origin", "http://example.com", "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/flows/"+name+"#baseline" {
		t.Errorf("accept: %d to %q, want 303 to the flow's baseline", resp.StatusCode, resp.Header.Get("Location"))
	}
	got, _ := st.BaselineAccepts(ctx, name, 0, 0)
	if len(got) != 1 || got[0].By != "status page: "+testUser {
		t.Errorf("accepts %+v, want one by the page's user", got)
	}
	if _, page := get(t, h, "/flows/"+name, "Authorization", auth); !strings.Contains(page, "accepted by status page: "+testUser) {
		t.Error("the page does not show the pending accept")
	}
}
