package statuspage

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// latency7d is the latency (without waits) of run i of the 7-day store:
// it varies within each hour, so each hour's p95 is a value of its own.
func latency7d(i int) float64 { return 20 + float64(i%30)*3 + float64((i/30)%7)*11 }

// TestLatencyTrend7dFromRollups: with only 3 passing runs kept whole, a
// flow that ran every 2 minutes for 7 days (each run waiting 1 s on
// purpose; every 97th failing) has a latency trend that spans the 7 days:
// one point per hour from the roll-ups, with the p95 of the hour's runs
// (within the histogram's resolution, and without the waits), one point
// per whole record, and every failure a failed point of its own. Before,
// the trend held the whole records only.
func TestLatencyTrend7dFromRollups(t *testing.T) {
	now := time.Date(2026, 3, 9, 12, 30, 0, 0, time.UTC)
	first := now.Add(-7*24*time.Hour + 2*time.Minute)
	st, err := sqlite.Open(t.TempDir() + "/authwatch.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Prune(ctx, first, store.Retention{PassingRunsKept: 3}); err != nil {
		t.Fatal(err)
	}
	type run struct {
		start time.Time
		latMS float64
		ok    bool
	}
	var runs []run
	for i := 0; ; i++ {
		r := run{start: first.Add(time.Duration(i) * 2 * time.Minute), latMS: latency7d(i), ok: i%97 != 96}
		if r.start.After(now) {
			break
		}
		sr := store.Run{Flow: "f", Start: r.start, DurationMS: r.latMS + 1000, WaitedMS: 1000, OK: r.ok}
		if !r.ok {
			sr.Reason, sr.DurationMS = "invalid_token", 4000+1000
			r.latMS = 4000
		}
		if _, err := st.RecordRun(ctx, sr); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	h := New(st, Options{Now: func() time.Time { return now }})
	_, body := get(t, h, "/api/v1/flows/f")
	lat := decode[FlowDetailJSON](t, body).Trends.Latency

	// The true p95 and counts of each hour.
	type hour struct {
		lats []float64
		runs int
	}
	hours := map[int64]*hour{}
	for _, r := range runs {
		k := r.start.Unix() / 3600 * 3600
		if hours[k] == nil {
			hours[k] = &hour{}
		}
		hours[k].lats = append(hours[k].lats, r.latMS)
		hours[k].runs++
	}
	var hourPts, runPts int
	failed := map[time.Time]bool{}
	for i, p := range lat {
		if i > 0 && p.Time.Before(lat[i-1].Time) {
			t.Fatalf("points out of order at %d: %v after %v", i, p.Time, lat[i-1].Time)
		}
		if !p.Hour {
			runPts++
			if !p.OK {
				failed[p.Time] = true
			}
			continue
		}
		hourPts++
		hr := hours[p.Time.Unix()]
		if hr == nil || p.Time.Unix()%3600 != 0 {
			t.Fatalf("hour point at %v: no such hour of runs", p.Time)
		}
		if p.Runs != hr.runs || p.P50MS == nil {
			t.Errorf("hour %v: %d runs, p50 %v; want %d runs and a p50", p.Time, p.Runs, p.P50MS, hr.runs)
		}
		slices.Sort(hr.lats)
		want := hr.lats[int(math.Ceil(0.95*float64(len(hr.lats))))-1]
		// A bucket spans 2^(1/4); its geometric midpoint is within 2^(1/8) of any value in it.
		if math.Abs(math.Log2(p.MS/want)) > 1.0/8+1e-6 {
			t.Errorf("hour %v: p95 %v ms, true p95 %v ms (the waits excluded)", p.Time, p.MS, want)
		}
		if !p.OK {
			t.Errorf("hour %v: not ok, but its failures are points of their own", p.Time)
		}
	}
	if span := lat[len(lat)-1].Time.Sub(lat[0].Time); len(lat) == 0 || span < 7*24*time.Hour-2*time.Hour {
		t.Fatalf("the trend spans %v, want 7 days", span)
	}
	if hourPts < 7*24-1 || hourPts > 7*24+1 {
		t.Errorf("%d hour points, want one per hour of the 7 days (168)", hourPts)
	}
	for _, r := range runs {
		if !r.ok && !failed[r.start.UTC()] {
			t.Errorf("the failure at %v is not a failed point", r.start)
		}
	}
	if runPts < len(failed)+3 {
		t.Errorf("%d run points: want the failures, the runs after them and the 3 passing runs kept", runPts)
	}
}
