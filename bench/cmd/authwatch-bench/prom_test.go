package main

import (
	"math"
	"testing"
)

func TestParseSample(t *testing.T) {
	for _, tc := range []struct {
		line   string
		name   string
		labels map[string]string
		value  float64
		ok     bool
	}{
		{`go_goroutines 43`, "go_goroutines", nil, 43, true},
		{`authwatch_flow_runs_total{flow="bench-cc-00000",reason="",result="pass"} 18`, "authwatch_flow_runs_total",
			map[string]string{"flow": "bench-cc-00000", "reason": "", "result": "pass"}, 18, true},
		{`x{a="q\"uo,te}",b="2"} 1.5e+03`, "x", map[string]string{"a": `q"uo,te}`, "b": "2"}, 1500, true},
		{`authwatch_scheduler_lateness_seconds_bucket{le="+Inf"} 36002`, "authwatch_scheduler_lateness_seconds_bucket",
			map[string]string{"le": "+Inf"}, 36002, true},
		{`# HELP go_goroutines Number of goroutines.`, "", nil, 0, false},
		{``, "", nil, 0, false},
		{`broken{a="1" 3`, "", nil, 0, false},
	} {
		got, ok := parseSample(tc.line)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.line, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if got.name != tc.name || got.value != tc.value || len(got.labels) != len(tc.labels) {
			t.Errorf("%q: got %+v", tc.line, got)
		}
		for k, v := range tc.labels {
			if got.labels[k] != v {
				t.Errorf("%q: label %s = %q, want %q", tc.line, k, got.labels[k], v)
			}
		}
	}
}

func TestQuantile(t *testing.T) {
	bs := []bucket{{0.001, 50}, {0.005, 90}, {0.01, 100}, {math.Inf(1), 100}}
	if v, over := quantile(0.5, bs); over || math.Abs(v-0.001) > 1e-12 {
		t.Errorf("p50 = %v (over %v), want 0.001", v, over)
	}
	if v, _ := quantile(0.25, bs); math.Abs(v-0.0005) > 1e-12 {
		t.Errorf("p25 = %v, want 0.0005 (interpolated in the first bucket from 0)", v)
	}
	if v, _ := quantile(0.7, bs); math.Abs(v-0.003) > 1e-12 {
		t.Errorf("p70 = %v, want 0.003", v)
	}
	if got := bucketOf(0.003, bs); got != "1 ms–5 ms" {
		t.Errorf("bucketOf = %q", got)
	}
	over := []bucket{{1, 10}, {5, 20}, {math.Inf(1), 100}}
	if v, o := quantile(0.99, over); !o || v != 5 {
		t.Errorf("p99 beyond the last bucket = %v, %v; want 5, true", v, o)
	}
	d := histDelta([]bucket{{1, 30}, {math.Inf(1), 40}}, []bucket{{1, 10}, {math.Inf(1), 15}})
	if d[0].count != 20 || d[1].count != 25 {
		t.Errorf("histDelta = %v", d)
	}
	if v, _ := quantile(0.5, []bucket{{1, 0}, {math.Inf(1), 0}}); !math.IsNaN(v) {
		t.Errorf("empty histogram: %v, want NaN", v)
	}
}

func TestKindOf(t *testing.T) {
	counts := map[flowKind]int{}
	for i := range 200 {
		counts[kindOf(i, 10)]++
	}
	if counts[kindBadSecret] != 10 || counts[kindAPI401] != 10 || counts[kindCC] != 100 || counts[kindPlain] != 80 {
		t.Errorf("kinds of 200 flows failing every 10th: %v", counts)
	}
	if kindOf(3, 0) != kindPlain || kindOf(4, 0) != kindCC {
		t.Error("without failures, even flows are token flows and odd ones plain")
	}
}
