package baseline

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

var t0 = time.Date(2026, 12, 7, 14, 2, 0, 0, time.UTC)

// tokenStep is a token step's shape as a typical IdP gives it; run n
// varies what varies by design (jti, nonce, sid, a session cookie's value
// is never in a shape at all).
func tokenStep(n int) *flows.Shape {
	return &flows.Shape{
		Tokens: []flows.TokenShape{{
			Kind: "access_token", Alg: "RS256", Typ: "at+jwt", Kid: "k1", Lifetime: time.Hour,
			ClaimTypes: map[string]string{"iss": "string", "aud": "string", "scope": "string", "jti": "string", "iat": "number", "exp": "number", "sid2": "string"},
			Claims:     map[string]string{"iss": "https://idp", "aud": "api", "scope": "openid orders.read orders.write", "jti": fmt.Sprint("j", n), "sid2": fmt.Sprint("s", n%3)},
			Scopes:     []string{"openid", "orders.read", "orders.write"}, Audience: []string{"api"},
		}},
		Hosts:     []string{"idp.example"},
		Endpoints: []flows.EndpointShape{{Endpoint: "POST idp.example/token", Status: 200, Headers: map[string]string{"cache-control": "no-store"}}},
		Cookies: []flows.CookieShape{
			{Name: "session", Attributes: "Secure; HttpOnly; SameSite=Lax; Path=/"},
			{Name: fmt.Sprint("_interaction_", n), Attributes: fmt.Sprintf("HttpOnly; Path=/i/%d", n)},
		},
		JWKS: []string{"k1 RS256"},
	}
}

func result(at time.Time, d time.Duration, shape *flows.Shape) *flows.Result {
	return &flows.Result{Flow: "f", Start: at, OK: true, Steps: []flows.StepResult{
		{ID: "token", Kind: "token", Status: flows.StepPassed, Duration: d, Shape: shape}}}
}

func observe(t *testing.T, r *flows.Result) Observation {
	t.Helper()
	obs, ok := FromResult(r)
	if !ok {
		t.Fatal("FromResult: not ok")
	}
	return obs
}

var noLatency = Rules{}

// learned returns a baseline that learned from learn runs of tokenStep.
func learned(t *testing.T, learn int) *Baseline {
	t.Helper()
	b := New("f", "d", learn)
	for i := range learn {
		if d := b.Observe(observe(t, result(t0.Add(time.Duration(i)*time.Minute), 50*time.Millisecond, tokenStep(i))), noLatency); d != nil {
			t.Fatalf("learning run %d drifted: %v", i, d)
		}
	}
	if b.Learning() {
		t.Fatal("still learning after learn runs")
	}
	return b
}

func phrases(ds []Drift) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Phrase)
	}
	return out
}

func TestCompareAfterLearning(t *testing.T) {
	tests := []struct {
		name   string
		change func(*flows.Shape)
		rules  Rules
		want   []string
	}{
		{"nothing changed but what varies by design", func(*flows.Shape) {}, noLatency, nil},
		{"access token lifetime", func(s *flows.Shape) { s.Tokens[0].Lifetime = 5 * time.Minute }, noLatency,
			[]string{"access token lifetime 3600 s → 300 s"}},
		{"scope no longer granted", func(s *flows.Shape) { s.Tokens[0].Scopes = []string{"openid", "orders.read"} }, noLatency,
			[]string{"scope orders.write no longer granted"}},
		{"scope now granted", func(s *flows.Shape) { s.Tokens[0].Scopes = append(s.Tokens[0].Scopes, "admin") }, noLatency,
			[]string{"scope admin now granted"}},
		{"aud from string to list", func(s *flows.Shape) { s.Tokens[0].ClaimTypes["aud"] = "array" }, noLatency,
			[]string{"access token claim aud type string → array"}},
		{"alg", func(s *flows.Shape) { s.Tokens[0].Alg = "PS256" }, noLatency, []string{"access token alg RS256 → PS256"}},
		{"a second JWKS key", func(s *flows.Shape) { s.JWKS = []string{"k1 RS256", "k2 PS256"} }, noLatency,
			[]string{"JWKS now serves key k2 PS256"}},
		{"a new redirect host", func(s *flows.Shape) { s.Hosts = append(s.Hosts, "login.example-new.com"); s.Redirects = 2 }, noLatency,
			[]string{"requests now pass through login.example-new.com", "redirects followed 0 → 2"}},
		{"session cookie loses Secure", func(s *flows.Shape) { s.Cookies[0].Attributes = "HttpOnly; SameSite=Lax; Path=/" }, noLatency,
			[]string{"cookie session attributes Secure; HttpOnly; SameSite=Lax; Path=/ → HttpOnly; SameSite=Lax; Path=/"}},
		{"session cookie gone; random cookie names are no news", func(s *flows.Shape) { s.Cookies = s.Cookies[1:] }, noLatency,
			[]string{"cookie session no longer set"}},
		{"Cache-Control dropped", func(s *flows.Shape) { s.Endpoints[0].Headers["cache-control"] = "" }, noLatency,
			[]string{"POST idp.example/token Cache-Control no-store → (none)"}},
		{"claim value changed", func(s *flows.Shape) { s.Tokens[0].Claims["iss"] = "https://other" }, noLatency,
			[]string{`access token claim iss "https://idp" → "https://other"`}},
		{"a varying claim's new value is no news", func(s *flows.Shape) { s.Tokens[0].Claims["sid2"] = "brand new" }, noLatency, nil},
		{"ignored", func(s *flows.Shape) { s.Tokens[0].Lifetime = 5 * time.Minute }, Rules{Ignore: []string{"*.lifetime"}}, nil},
		{"not watched", func(s *flows.Shape) { s.Tokens[0].Alg = "PS256"; s.Tokens[0].Lifetime = time.Minute },
			Rules{Watch: []string{"token.access_token.lifetime"}}, []string{"access token lifetime 3600 s → 60 s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := learned(t, 5)
			shape := tokenStep(99)
			tc.change(shape)
			got := phrases(b.Observe(observe(t, result(t0.Add(time.Hour), 50*time.Millisecond, shape)), tc.rules))
			if !slices.Equal(got, tc.want) {
				t.Errorf("drifts:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNoDriftOverManyRunsWithVaryingIDs(t *testing.T) {
	b := learned(t, 20)
	rules := Rules{LatencyFactor: 2, LatencyWindow: 20, LatencyMinIncrease: 100 * time.Millisecond}
	for i := range 500 {
		// Latency jitters; one run in fifty is slow.
		d := time.Duration(40+i%20) * time.Millisecond
		if i%50 == 0 {
			d = 2 * time.Second
		}
		if ds := b.Observe(observe(t, result(t0.Add(time.Duration(i)*time.Minute), d, tokenStep(100+i))), rules); ds != nil {
			t.Fatalf("run %d: false drift %q", i, phrases(ds))
		}
	}
}

func TestLatencyDrift(t *testing.T) {
	rules := Rules{LatencyFactor: 2, LatencyWindow: 5, LatencyMinIncrease: 100 * time.Millisecond}
	tests := []struct {
		name    string
		latency []time.Duration // after learning at 50ms
		drift   bool
	}{
		{"one slow run", []time.Duration{5 * time.Second, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}, false},
		{"a window not yet full", []time.Duration{time.Second, time.Second, time.Second, time.Second}, false},
		{"p95 doubled over the window", []time.Duration{300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}, true},
		{"doubled but below the minimum increase", []time.Duration{120 * time.Millisecond, 120 * time.Millisecond, 120 * time.Millisecond, 120 * time.Millisecond, 120 * time.Millisecond}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := learned(t, 5)
			var ds []Drift
			for i, d := range tc.latency {
				ds = b.Observe(observe(t, result(t0.Add(time.Duration(i)*time.Hour), d, tokenStep(i))), rules)
			}
			if got := len(ds) > 0; got != tc.drift {
				t.Fatalf("drift %v, want %v: %q", got, tc.drift, phrases(ds))
			}
			if tc.drift && ds[0].Phrase != "p95 latency 50 ms → 300 ms (last 5 runs)" {
				t.Errorf("phrase %q", ds[0].Phrase)
			}
		})
	}
}

func TestSinceIsTheFirstRunThatShowedIt(t *testing.T) {
	b := learned(t, 3)
	short := tokenStep(7)
	short.Tokens[0].Lifetime = 5 * time.Minute
	first, later := t0.Add(time.Hour), t0.Add(2*time.Hour)
	b.Observe(observe(t, result(first, time.Millisecond, short)), noLatency)
	ds := b.Observe(observe(t, result(later, time.Millisecond, short)), noLatency)
	if len(ds) != 1 || !ds[0].Since.Equal(first) {
		t.Fatalf("since %v, want %v (%+v)", ds[0].Since, first, ds)
	}
	// Another value is another change.
	shorter := tokenStep(8)
	shorter.Tokens[0].Lifetime = time.Minute
	ds = b.Observe(observe(t, result(later.Add(time.Hour), time.Millisecond, shorter)), noLatency)
	if !ds[0].Since.Equal(later.Add(time.Hour)) {
		t.Errorf("since %v after the value changed again", ds[0].Since)
	}
	// Back to normal: nothing left.
	if ds := b.Observe(observe(t, result(later.Add(2*time.Hour), time.Millisecond, tokenStep(9))), noLatency); ds != nil || b.Drifts != nil {
		t.Errorf("drifts after the run was normal again: %q", phrases(ds))
	}
}

func TestAcceptTakesTheChangeAsNormal(t *testing.T) {
	b := learned(t, 3)
	changed := func(n int) *flows.Shape {
		s := tokenStep(n)
		s.Tokens[0].Lifetime = 5 * time.Minute
		s.Tokens[0].Scopes = []string{"openid", "orders.read"}
		s.Cookies[0].Attributes = "HttpOnly; Path=/"
		return s
	}
	if ds := b.Observe(observe(t, result(t0.Add(time.Hour), time.Millisecond, changed(10))), noLatency); len(ds) != 3 {
		t.Fatalf("want 3 drifts, got %q", phrases(ds))
	}
	a := b.Accept("alice", t0.Add(2*time.Hour))
	if a.By != "alice" || len(a.Drifts) != 3 || len(b.Accepts) != 1 || b.Drifts != nil {
		t.Fatalf("accept %+v, baseline accepts %+v, drifts %v", a, b.Accepts, b.Drifts)
	}
	for i := range 10 {
		if ds := b.Observe(observe(t, result(t0.Add(3*time.Hour), time.Millisecond, changed(11+i))), noLatency); ds != nil {
			t.Fatalf("run %d after accept: %q", i, phrases(ds))
		}
	}
	// The old behaviour is now the change.
	ds := b.Observe(observe(t, result(t0.Add(4*time.Hour), time.Millisecond, tokenStep(50))), noLatency)
	if got := strings.Join(phrases(ds), "; "); !strings.Contains(got, "access token lifetime 300 s → 3600 s") || !strings.Contains(got, "scope orders.write now granted") {
		t.Errorf("after accept, the old behaviour: %q", got)
	}
}

func TestAcceptLatency(t *testing.T) {
	rules := Rules{LatencyFactor: 2, LatencyWindow: 5, LatencyMinIncrease: 10 * time.Millisecond}
	b := learned(t, 5)
	var ds []Drift
	for i := range 5 {
		ds = b.Observe(observe(t, result(t0.Add(time.Hour), 400*time.Millisecond, tokenStep(i))), rules)
	}
	if len(ds) != 1 {
		t.Fatalf("want a latency drift, got %q", phrases(ds))
	}
	b.Accept("bob", t0.Add(2*time.Hour))
	for i := range 20 {
		if ds := b.Observe(observe(t, result(t0.Add(3*time.Hour), 400*time.Millisecond, tokenStep(i))), rules); ds != nil {
			t.Fatalf("run %d after accept: %q", i, phrases(ds))
		}
	}
}

func TestFindingSummaryAndEvidence(t *testing.T) {
	now := t0.Add(3 * time.Hour)
	ds := []Drift{
		{Key: "token.access_token.lifetime", Step: "token", Layer: flows.LayerToken, Phrase: "access token lifetime 3600 s → 300 s", Before: "3600 s", After: "300 s", Since: t0},
		{Key: "token.access_token.scopes", Step: "token", Layer: flows.LayerToken, Phrase: "scope orders.write no longer granted", Before: "a, orders.write", After: "a", Since: t0.Add(-48 * time.Hour)},
		{Key: "a", Step: "x", Phrase: "p3"}, {Key: "b", Step: "x", Phrase: "p4"}, {Key: "c", Step: "x", Phrase: "p5"},
	}
	f := Finding(ds, now)
	want := "token: access token lifetime 3600 s → 300 s since 14:02 UTC; token: scope orders.write no longer granted since Dec 5 14:02 UTC; x: p3 since Jan 1 00:00 UTC; and 2 more changes (see the evidence)"
	if f.Reason != flows.ReasonBaselineChanged || f.Summary != want {
		t.Errorf("finding %s %q\nwant %q", f.Reason, f.Summary, want)
	}
	if !slices.Contains(f.Facts, flows.F("token.access_token.lifetime.before", "3600 s")) || !slices.Contains(f.Facts, flows.F("token.access_token.lifetime.after", "300 s")) {
		t.Errorf("facts lack before and after: %v", f.Facts)
	}
	r := result(now, time.Millisecond, tokenStep(1))
	Warn(r, ds, now)
	if r.Status() != flows.StepWarned || r.Warning().Reason != flows.ReasonBaselineChanged {
		t.Errorf("run after Warn: %s, %+v", r.Status(), r.Warning())
	}
}

func TestFromResultSkipsRunsThatDidNotPass(t *testing.T) {
	r := result(t0, time.Millisecond, tokenStep(1))
	r.OK = false
	if _, ok := FromResult(r); ok {
		t.Error("a failed run was observed")
	}
	r = result(t0, time.Millisecond, nil)
	if _, ok := FromResult(r); ok {
		t.Error("a run without shapes was observed")
	}
}

func TestRoundTripsThroughJSON(t *testing.T) {
	b := learned(t, 4)
	shape := tokenStep(5)
	shape.Tokens[0].Alg = "PS256"
	b.Observe(observe(t, result(t0.Add(time.Hour), time.Millisecond, shape)), noLatency)
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var back Baseline
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	got := phrases(back.Observe(observe(t, result(t0.Add(2*time.Hour), time.Millisecond, shape)), noLatency))
	if !slices.Equal(got, []string{"access token alg RS256 → PS256"}) || !back.Drifts[0].Since.Equal(t0.Add(time.Hour)) {
		t.Errorf("after a JSON round trip: %q since %v", got, back.Drifts[0].Since)
	}
}
