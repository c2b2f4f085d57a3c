package statuspage

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// TestWaitNotInLatency: a flow that waits 2 s on purpose shows latencies
// without the wait (sparkline, last latency, trend), while its runs keep
// their whole duration, with the waited part beside it.
func TestWaitNotInLatency(t *testing.T) {
	st, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for i, latency := range []float64{110, 95.5, 130} {
		r := store.Run{Flow: "token-expiry", Start: now.Add(time.Duration(i-3) * time.Minute), DurationMS: 2000 + latency,
			WaitedMS: 2000, OK: true, Steps: json.RawMessage(`[]`)}
		if _, err := st.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	h := New(st, Options{Now: func() time.Time { return now }})

	_, body := get(t, h, "/api/v1/flows")
	fl := decode[FlowsJSON](t, body).Flows
	if len(fl) != 1 || !slices.Equal(fl[0].LatencyMS, []float64{110, 95.5, 130}) || fl[0].LastDurationMS == nil || *fl[0].LastDurationMS != 130 {
		t.Fatalf("overview: %s", body)
	}
	_, body = get(t, h, "/api/v1/flows/token-expiry")
	var trend []float64
	for _, p := range decode[FlowDetailJSON](t, body).Trends.Latency {
		trend = append(trend, p.MS)
	}
	if !slices.Equal(trend, []float64{110, 95.5, 130}) {
		t.Errorf("latency trend %v, want the durations without the 2 s wait", trend)
	}
	_, body = get(t, h, "/api/v1/flows/token-expiry/runs")
	runs := decode[RunsJSON](t, body).Runs
	if len(runs) != 3 || runs[0].DurationMS != 2130 || runs[0].WaitedMS != 2000 {
		t.Errorf("runs keep their whole duration and the waited part: %s", body)
	}

	_, page := get(t, h, "/flows/token-expiry")
	for _, want := range []string{`<dt>last latency</dt><dd data-f="lat">130 ms</dd>`, `2.13 s (2.00 s of it waiting)`} {
		if !strings.Contains(page, want) {
			t.Errorf("flow page lacks %q", want)
		}
	}
	if _, page := get(t, h, "/"); !strings.Contains(page, `<span data-f="lat">130 ms</span>`) {
		t.Errorf("overview page does not show the latency without the wait (130 ms)")
	}

	// With one passing run kept whole (and the first, which started the
	// passing state), the hour's runs are a point of the roll-ups: its p95
	// and p50 are without the wait too.
	tiered, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	defer tiered.Close()
	if _, err := tiered.Prune(ctx, now.Add(-2*time.Hour), store.Retention{PassingRunsKept: 1}); err != nil {
		t.Fatal(err)
	}
	for i, latency := range []float64{110, 95.5, 130, 120} {
		r := store.Run{Flow: "token-expiry", Start: now.Add(-time.Hour + time.Duration(i)*10*time.Minute), DurationMS: 2000 + latency,
			WaitedMS: 2000, OK: true, Steps: json.RawMessage(`[]`)}
		if _, err := tiered.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	_, body = get(t, New(tiered, Options{Now: func() time.Time { return now }}), "/api/v1/flows/token-expiry")
	lat := decode[FlowDetailJSON](t, body).Trends.Latency
	if len(lat) != 3 || !lat[0].Hour || lat[0].Runs != 4 || lat[0].P50MS == nil || lat[1].MS != 110 || lat[2].MS != 120 || lat[2].Hour {
		t.Fatalf("latency trend with 1 passing run kept: %+v, want the hour's point and the runs kept whole (110 and 120 ms)", lat)
	}
	// Each within a histogram bucket (2^(1/8) either side) of 130 and 110 ms, far from 2 s.
	if p95, p50 := lat[0].MS, *lat[0].P50MS; math.Abs(math.Log2(p95/130)) > 0.126 || math.Abs(math.Log2(p50/110)) > 0.126 {
		t.Errorf("the hour's p95 %v ms and p50 %v ms, want about 130 and 110 ms (without the 2 s wait)", p95, p50)
	}
}

// TestWaitNotInLatencyRealRun records a real run of a flow with a wait
// step (against the demo IdP) the way the daemon does: its latency is its
// duration less the wait step's.
func TestWaitNotInLatencyRealRun(t *testing.T) {
	f := getFixture(t)
	opts := flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: demo.LookupEnv}}
	set, err := flows.LoadBytes(opts, "wait.yaml", []byte(`
flows:
  - name: token-then-wait
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "`+f.env.IdP.Issuer()+`"
        client_id: orders-client
        client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
        scopes: [orders.read]
      - id: pause
        kind: wait
        wait: 200ms
`))
	if err != nil {
		t.Fatal(err)
	}
	res := f.runner.Run(context.Background(), set.Flows[0])
	if !res.OK {
		t.Fatalf("run failed: %+v", res)
	}
	run := toRun(res)
	var pauseMS float64
	for _, s := range res.Steps {
		if s.Kind == flows.KindWait {
			pauseMS = float64(s.Duration.Microseconds()) / 1000
		}
	}
	if run.WaitedMS != pauseMS || run.WaitedMS < 200 || run.DurationMS < run.WaitedMS {
		t.Fatalf("run: duration %v ms, waited %v ms; the wait step took %v ms", run.DurationMS, run.WaitedMS, pauseMS)
	}
	st, rc := f.newStore(t, 0, 0)
	rc.record(t, res)
	h := New(st, Options{Now: func() time.Time { return res.Start.Add(time.Minute) }})
	_, body := get(t, h, "/api/v1/flows/token-then-wait")
	got := decode[FlowDetailJSON](t, body).Flow
	// Samples are kept as float32: equal to the millisecond's thousandth.
	if want := run.DurationMS - run.WaitedMS; got.LastDurationMS == nil || math.Abs(*got.LastDurationMS-want) > 0.001 {
		t.Errorf("last latency %s, want %v ms (duration %v ms less the %v ms waited)", durPtr(got.LastDurationMS), want, run.DurationMS, run.WaitedMS)
	}
}
