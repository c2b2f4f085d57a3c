package baseline

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// TestParkedBaselineReadsTheSame: a baseline whose runs keep one shape is
// parked (its learned features packed), and it saves, shows and compares
// exactly as its twin that was never parked: the same JSON, the same view,
// the same drift when a run's shape changes, and an accept of it.
func TestParkedBaselineReadsTheSame(t *testing.T) {
	rules := Rules{LatencyFactor: 2, LatencyWindow: 3, LatencyMinIncrease: 10 * time.Millisecond}
	parked, twin := New("f", "d", 5), New("f", "d", 5)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	i := 0
	for ; i < 5+parkAfterHits+2; i++ {
		r := result(at(i), 50*time.Millisecond, stableStep(i))
		parked.ObserveRun(r, rules)
		twin.Observe(observe(t, r), rules)
	}
	if !parked.Parked() || parked.Scalars != nil || parked.Sets != nil {
		t.Fatalf("not parked after %d alike runs (parked %v)", parkAfterHits+2, parked.Parked())
	}
	full, err := json.Marshal(twin)
	if err != nil {
		t.Fatal(err)
	}
	packed, err := json.Marshal(parked)
	if err != nil {
		t.Fatal(err)
	}
	if string(full) != string(packed) {
		t.Fatalf("JSON differs:\n parked %s\n twin   %s", packed, full)
	}
	t.Logf("learned features: %d B as JSON, %d B packed", len(full), len(parked.parked))
	if !reflect.DeepEqual(parked.View(), twin.View()) {
		t.Errorf("views differ:\n parked %+v\n twin   %+v", parked.View(), twin.View())
	}
	if !parked.Parked() {
		t.Error("saving or showing unpacked the baseline")
	}
	var back Baseline
	if err := json.Unmarshal(packed, &back); err != nil || len(back.Scalars) == 0 {
		t.Fatalf("read back: %v, %d scalars", err, len(back.Scalars))
	}

	shape := stableStep(i)
	shape.Tokens[0].Lifetime = 5 * time.Minute
	r := result(at(i), 50*time.Millisecond, shape)
	got, _ := parked.ObserveRun(r, rules)
	want := twin.Observe(observe(t, r), rules)
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("changed run: parked %+v, twin %+v", got, want)
	}
	if !parked.Parked() {
		t.Error("a changed run after a settled shape left the features unpacked")
	}
	parked.Accept("ops", at(i))
	twin.Accept("ops", at(i))
	i++
	r = result(at(i), 50*time.Millisecond, shape)
	got, _ = parked.ObserveRun(r, rules)
	if want := twin.Observe(observe(t, r), rules); len(got) != 0 || len(want) != 0 {
		t.Errorf("after the accept: parked %+v, twin %+v", got, want)
	}
}

// TestLearnRunMatchesLearn: learning by ObserveRun (runs alike counted
// while the maps stay packed) learns exactly what learning every run's
// features does: the same JSON after every run, through stretches of
// alike runs, shapes that change and change back, cookies that come and
// go; then the same drifts once learned.
func TestLearnRunMatchesLearn(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 24))
	const learn = 40
	byDigest, byFeatures := New("f", "d", learn), New("f", "d", learn)
	rules := Rules{LatencyFactor: 2, LatencyWindow: 3, LatencyMinIncrease: 10 * time.Millisecond}
	changes := []func(*flows.Shape, int){
		func(*flows.Shape, int) {},
		func(s *flows.Shape, _ int) { s.Tokens[0].Scopes = s.Tokens[0].Scopes[:2] },
		func(s *flows.Shape, i int) {
			s.Cookies = append(s.Cookies, flows.CookieShape{Name: fmt.Sprint("c", i%3), Attributes: "Path=/"})
		},
		func(s *flows.Shape, _ int) { s.Tokens[0].Claims["tenant"] = "t2" },
	}
	parkedRuns := 0
	change, left := 0, 0
	for i := range learn + 60 {
		if left == 0 {
			change, left = rng.IntN(len(changes)), 1+rng.IntN(8)
		}
		left--
		shape := stableStep(i)
		if i < learn || change == 0 {
			changes[change](shape, i)
		}
		at := t0.Add(time.Duration(i) * time.Minute)
		d := time.Duration(20+rng.IntN(3)*10) * time.Millisecond
		got, _ := byDigest.ObserveRun(result(at, d, shape), rules)
		want := byFeatures.Observe(observe(t, result(at, d, shape)), rules)
		if !reflect.DeepEqual(sortedDrifts(got), sortedDrifts(want)) {
			t.Fatalf("run %d: drifts by digest %+v, by features %+v", i, got, want)
		}
		if byDigest.Parked() && byDigest.Learning() {
			parkedRuns++
		}
		a, err := json.Marshal(byDigest)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(byFeatures)
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Fatalf("run %d (learning %v): by digest\n%s\nby features\n%s", i, byFeatures.Learning(), a, b)
		}
	}
	if byDigest.Learning() || parkedRuns < 10 {
		t.Errorf("learning %v; %d learning runs met packed maps", byDigest.Learning(), parkedRuns)
	}
}
