package baseline

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// fullRun is a run of two steps whose shapes fill every field of
// flows.Shape, so that mutating each field in turn reaches everything the
// features are built from.
func fullRun() *flows.Result {
	api := &flows.Shape{
		Tokens: []flows.TokenShape{{Kind: "id_token", Alg: "ES256", Typ: "JWT", Kid: "k2", Lifetime: 5 * time.Minute,
			ClaimTypes: map[string]string{"sub": "string", "nonce": "string", "amr": "array"},
			Claims:     map[string]string{"sub": "u1", "nonce": "n1"}, Audience: []string{"client"}}},
		Endpoints: []flows.EndpointShape{{Endpoint: "GET api.example/orders", Status: 200,
			Headers: map[string]string{"cache-control": "", "access-control-allow-origin": "*"}}},
		Hosts: []string{"api.example", "cdn.example"}, Redirects: 1,
		Cookies: []flows.CookieShape{{Name: "lb", Attributes: "Secure; Path=/"}},
	}
	r := result(t0, 50*time.Millisecond, tokenStep(1))
	r.Steps = append(r.Steps, flows.StepResult{ID: "api", Kind: "http", Status: flows.StepPassed, Duration: 20 * time.Millisecond, Shape: api},
		flows.StepResult{ID: "pause", Kind: flows.KindWait, Status: flows.StepPassed})
	return r
}

// canonical is a run's features in an order that does not depend on map
// iteration.
func canonical(t *testing.T, r *flows.Result) []Feature {
	t.Helper()
	obs, ok := FromResult(r)
	if !ok {
		t.Fatal("FromResult: not ok")
	}
	return slices.SortedFunc(slices.Values(obs.Features), func(a, b Feature) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Value, b.Value), slices.Compare(a.Elems, b.Elems))
	})
}

// TestDigestCoversEveryFeature mutates every value of a full run's shapes,
// one at a time (strings, numbers, each element of a list and of a map,
// elements added and removed): whenever the run's features change, its
// digest must change too, else ObserveRun would take a changed run for the
// previous one and miss the drift. A field added to flows.Shape is mutated
// here without the test changing; a value left out of the digest (say the
// token lifetime) fails it.
func TestDigestCoversEveryFeature(t *testing.T) {
	base := fullRun()
	d0, ok := digestRun(base)
	if !ok {
		t.Fatal("no digest of a run with shapes")
	}
	if d, _ := digestRun(fullRun()); d != d0 {
		t.Fatal("the same run has two digests")
	}
	f0 := canonical(t, base)
	featureChanges := 0
	for i := 0; ; i++ {
		r := fullRun()
		path, done := mutate(reflect.ValueOf(&r.Steps).Elem(), "steps", i)
		if done {
			break
		}
		d, _ := digestRun(r)
		if changed := !reflect.DeepEqual(canonical(t, r), f0); changed {
			featureChanges++
			if d == d0 {
				t.Errorf("%s: the features changed but the digest did not", path)
			}
		}
	}
	if featureChanges < 50 {
		t.Errorf("only %d mutations changed the features: the walk misses fields", featureChanges)
	}

	// What differs on every run by design must not defeat the digest.
	r := fullRun()
	r.Steps[0].Shape.Tokens[0].Claims["jti"] = "another"
	r.Steps[1].Shape.Tokens[0].Claims["nonce"] = "another"
	r.Steps[0].Duration *= 3
	r.Start = r.Start.Add(time.Hour)
	if d, _ := digestRun(r); d != d0 {
		t.Error("per-run claim values, durations or times changed the digest")
	}
}

// mutate makes the n-th change of the walk below v (counting from 0) and
// returns its path; done is true when the walk has fewer changes.
func mutate(v reflect.Value, path string, n int) (string, bool) {
	count := 0
	var found string
	var walk func(v reflect.Value, path string) bool
	hit := func(path string) bool {
		if count == n {
			found = path
			return true
		}
		count++
		return false
	}
	walk = func(v reflect.Value, path string) bool {
		switch v.Kind() {
		case reflect.Pointer:
			return !v.IsNil() && walk(v.Elem(), path)
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() && walk(v.Field(i), path+"."+v.Type().Field(i).Name) {
					return true
				}
			}
		case reflect.String:
			if hit(path) {
				v.SetString(v.String() + "x")
				return true
			}
		case reflect.Int, reflect.Int64:
			if hit(path) {
				v.SetInt(v.Int()*2 + 1)
				return true
			}
		case reflect.Bool:
			if hit(path) {
				v.SetBool(!v.Bool())
				return true
			}
		case reflect.Slice:
			for i := range v.Len() {
				if walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i)) {
					return true
				}
			}
			if v.Len() > 0 && hit(path+" last removed") {
				v.Set(v.Slice(0, v.Len()-1))
				return true
			}
			if v.Type().Elem().Kind() == reflect.String && hit(path+" one added") {
				v.Set(reflect.Append(v, reflect.ValueOf("added").Convert(v.Type().Elem())))
				return true
			}
		case reflect.Map:
			keys := v.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for _, k := range keys {
				if hit(fmt.Sprintf("%s[%s] value", path, k)) {
					v.SetMapIndex(k, reflect.ValueOf(v.MapIndex(k).String()+"x"))
					return true
				}
				if hit(fmt.Sprintf("%s[%s] removed", path, k)) {
					v.SetMapIndex(k, reflect.Value{})
					return true
				}
			}
			if hit(path + " one added") {
				v.SetMapIndex(reflect.ValueOf("added"), reflect.ValueOf("string"))
				return true
			}
		}
		return false
	}
	if walk(v, path) {
		return found, false
	}
	return "", true
}

// stableStep is tokenStep without what changes the digest on every run of
// the test's IdP (a cookie named by the run, a claim that cycles): only
// the per-run claims differ from run to run, as with most IdPs' tokens.
func stableStep(n int) *flows.Shape {
	s := tokenStep(n)
	s.Cookies = s.Cookies[:1]
	s.Tokens[0].Claims["sid2"] = "s1"
	return s
}

// TestObserveRunSeesAChangeAfterManyIdenticalRuns: after learning, 50 runs
// shaped alike are compared through the digest (their features are not
// built), and the run whose token lifetime then changes still drifts, the
// next one keeps its since, and the run back to normal is clean. Latency
// drifts too while the shapes stay the same.
func TestObserveRunSeesAChangeAfterManyIdenticalRuns(t *testing.T) {
	rules := Rules{LatencyFactor: 2, LatencyWindow: 3, LatencyMinIncrease: 100 * time.Millisecond}
	b := New("f", "d", 5)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	run := func(i int, d time.Duration, shape *flows.Shape) []Drift {
		t.Helper()
		ds, ok := b.ObserveRun(result(at(i), d, shape), rules)
		if !ok {
			t.Fatalf("run %d not observed", i)
		}
		return ds
	}
	for i := range 5 {
		run(i, 50*time.Millisecond, stableStep(i))
	}
	for i := 5; i < 55; i++ {
		if ds := run(i, 50*time.Millisecond, stableStep(i)); ds != nil {
			t.Fatalf("run %d drifted: %q", i, phrases(ds))
		}
	}
	if b.memo.hits != 49 {
		t.Fatalf("%d of 50 identical runs took the digest path, want 49 (all but the first)", b.memo.hits)
	}

	changed := func(n int) *flows.Shape { s := stableStep(n); s.Tokens[0].Lifetime = 5 * time.Minute; return s }
	want := []string{"access token lifetime 3600 s → 300 s"}
	if got := phrases(run(55, 50*time.Millisecond, changed(55))); !slices.Equal(got, want) {
		t.Fatalf("the changed lifetime: %q, want %q", got, want)
	}
	if got := phrases(run(56, 50*time.Millisecond, changed(56))); !slices.Equal(got, want) || !b.Drifts[0].Since.Equal(at(55)) {
		t.Fatalf("the next run: %q since %v, want %q since %v", got, b.Drifts[0].Since, want, at(55))
	}
	if b.memo.hits != 1 {
		t.Errorf("the second changed run did not take the digest path (hits %d)", b.memo.hits)
	}
	if ds := run(57, 50*time.Millisecond, stableStep(57)); ds != nil {
		t.Fatalf("back to normal: %q", phrases(ds))
	}

	var ds []Drift
	for i := 58; i < 61; i++ {
		ds = run(i, 400*time.Millisecond, stableStep(i))
	}
	if got := phrases(ds); len(got) != 1 || !strings.HasPrefix(got[0], "p95 latency 50 ms → 400 ms") {
		t.Errorf("slow runs on the digest path: %q", got)
	}
}

// TestObserveRunMatchesObserve runs one sequence of runs through two
// baselines, one by ObserveRun and one by Observe (which builds every
// run's features): lifetimes, scopes, cookies and latencies change and
// change back, the rules change, changes are accepted. Both must report
// the same drifts, since the same times, after every run.
func TestObserveRunMatchesObserve(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 15))
	byDigest, byFeatures := New("f", "d", 5), New("f", "d", 5)
	latency := Rules{LatencyFactor: 2, LatencyWindow: 3, LatencyMinIncrease: 10 * time.Millisecond}
	changes := []func(*flows.Shape){
		func(*flows.Shape) {},
		func(s *flows.Shape) { s.Tokens[0].Lifetime = 5 * time.Minute },
		func(s *flows.Shape) { s.Tokens[0].Scopes = s.Tokens[0].Scopes[:2] },
		func(s *flows.Shape) { s.Cookies[0].Attributes = "Path=/" },
		func(s *flows.Shape) { s.Endpoints[0].Headers["cache-control"] = "" },
		func(s *flows.Shape) { s.Tokens[0].Claims["iss"] = "https://other" },
	}
	hits, accepts, parkedRuns := 0, 0, 0
	change, left := 0, 5 // the change of the runs, for how many more runs
	for i := range 400 {
		if left == 0 { // runs come in stretches shaped alike
			change, left = rng.IntN(len(changes)), 1+rng.IntN(6)
		}
		left--
		shape := stableStep(i)
		if i >= 5 {
			changes[change](shape)
		}
		rules := latency
		if i > 200 {
			rules = Rules{Ignore: []string{"*.lifetime"}}
		}
		d := time.Duration(20+rng.IntN(3)*40) * time.Millisecond
		at := t0.Add(time.Duration(i) * time.Minute)
		before, wasParked := byDigest.memo.hits, byDigest.Parked()
		got, _ := byDigest.ObserveRun(result(at, d, shape), rules)
		if byDigest.memo.hits > before {
			hits++
		}
		if wasParked {
			parkedRuns++
		}
		want := byFeatures.Observe(observe(t, result(at, d, shape)), rules)
		if !reflect.DeepEqual(sortedDrifts(got), sortedDrifts(want)) {
			t.Fatalf("run %d:\n by digest   %+v\n by features %+v", i, got, want)
		}
		if len(want) > 0 && rng.IntN(4) == 0 {
			byDigest.Accept("ops", at)
			byFeatures.Accept("ops", at)
			accepts++
		}
	}
	if hits < 100 || accepts < 5 || parkedRuns < 20 {
		t.Errorf("only %d runs took the digest path, %d accepts, %d runs met a parked baseline", hits, accepts, parkedRuns)
	}
}

func sortedDrifts(ds []Drift) []Drift {
	return slices.SortedFunc(slices.Values(ds), func(a, b Drift) int { return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.After, b.After)) })
}

// TestObserveRunAllocates nothing for a run like the previous one.
func TestObserveRunAllocates(t *testing.T) {
	b := New("f", "d", 1)
	r := result(t0, 50*time.Millisecond, stableStep(1))
	rules := Rules{LatencyFactor: 2, LatencyWindow: 3}
	for range parkAfterHits + 2 { // learned, compared, then parked
		b.ObserveRun(r, rules)
	}
	if !b.Parked() {
		t.Fatal("not parked")
	}
	if n := testing.AllocsPerRun(100, func() { b.ObserveRun(r, rules) }); n != 0 {
		t.Errorf("a run like the previous one: %.0f allocations, want 0", n)
	}
}

// BenchmarkCompareRun is what comparing a passing run with a learned
// baseline costs: by its features (FromResult and Observe, as the daemon
// did every run) and by ObserveRun, whose runs shaped like the previous
// one take the digest path.
func BenchmarkCompareRun(b *testing.B) {
	rules := Rules{LatencyFactor: 2, LatencyWindow: 20, LatencyMinIncrease: 100 * time.Millisecond}
	r := result(t0, 50*time.Millisecond, stableStep(1))
	b.Run("features", func(b *testing.B) {
		bl := New("f", "d", 1)
		b.ReportAllocs()
		for b.Loop() {
			obs, _ := FromResult(r)
			bl.Observe(obs, rules)
		}
	})
	b.Run("digest", func(b *testing.B) {
		bl := New("f", "d", 1)
		b.ReportAllocs()
		for b.Loop() {
			bl.ObserveRun(r, rules)
		}
	})
}
