package scheduler

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestJitterIsStable(t *testing.T) {
	// Pinned: a change moves every deployed flow's phase once.
	pins := []struct {
		name string
		span time.Duration
		want time.Duration
	}{
		{"okta-client-credentials", time.Minute, 46726139193},
		{"okta-client-credentials", time.Hour, 2803568351584},
		{"auth0-login", time.Minute, 45682413529},
	}
	for _, p := range pins {
		if got := jitter(p.name, p.span); got != p.want {
			t.Errorf("jitter(%q, %s) = %d, pinned %d", p.name, p.span, got, p.want)
		}
	}
	for i := range 1000 {
		name := fmt.Sprintf("flow-%d", i)
		a, b := jitter(name, time.Minute), jitter(name, time.Minute)
		if a != b || a < 0 || a >= time.Minute {
			t.Fatalf("jitter(%q): %s then %s", name, a, b)
		}
	}
	if jitter("x", 0) != 0 {
		t.Error("zero span must give zero jitter")
	}
}

func TestJitterSpreadsAThousandFlows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		span   time.Duration
		// maxPerSecond bounds the busiest second; 1000 flows hashed
		// uniformly into 60 one-second buckets give about 17 each, and the
		// busiest of 60 is rarely above 30.
		maxPerSecond int
	}{
		{"numbered", "flow-%d", time.Minute, 32},
		{"padded", "okta-prod-cc-%04d", time.Minute, 32},
		{"over ten minutes", "flow-%d", 10 * time.Minute, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buckets := make(map[time.Duration]int)
			for i := range 1000 {
				buckets[jitter(fmt.Sprintf(tc.format, i), tc.span)/time.Second]++
			}
			busiest := 0
			for _, n := range buckets {
				busiest = max(busiest, n)
			}
			if busiest > tc.maxPerSecond {
				t.Errorf("%d flows start in the same second (bound %d)", busiest, tc.maxPerSecond)
			}
			// Seconds hit by 1000 uniform draws: n(1 - e^(-1000/n)).
			n := tc.span.Seconds()
			if want := n * (1 - math.Exp(-1000/n)); float64(len(buckets)) < 0.9*want {
				t.Errorf("only %d of %.0f seconds used, expected about %.0f", len(buckets), n, want)
			}
			t.Logf("busiest second: %d flows; %d seconds used", busiest, len(buckets))
		})
	}
}

func TestFirstRunKeepsPhase(t *testing.T) {
	now := t0.Add(17 * time.Second)
	first := firstRun("flow-a", time.Minute, now)
	if first.Before(now) || !first.Before(now.Add(time.Minute)) {
		t.Fatalf("first run %s not within a minute of %s", first, now)
	}
	// Whenever the daemon starts, the flow keeps its second of the minute.
	for _, later := range []time.Duration{time.Second, 90 * time.Second, 37 * time.Hour} {
		f := firstRun("flow-a", time.Minute, now.Add(later))
		if d := f.Sub(first) % time.Minute; d != 0 {
			t.Errorf("started %s later: phase moved by %s", later, d)
		}
	}
}

func TestCronDelay(t *testing.T) {
	for _, tc := range []struct {
		expr string
		max  time.Duration
	}{
		{"* * * * *", 6 * time.Second},
		{"*/2 * * * *", 12 * time.Second},
		{"*/5 * * * *", 30 * time.Second},
		{"0 3 * * *", 30 * time.Second},
		{"0 9 * * 1-5", 30 * time.Second},
	} {
		spec, err := cron.ParseStandard(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		gap := minGap(spec)
		worst := time.Duration(0)
		for i := range 1000 {
			c := newCronSchedule(fmt.Sprintf("flow-%d", i), spec, gap)
			if c.delay < 0 || c.delay >= tc.max {
				t.Fatalf("%s: delay %s not in [0, %s)", tc.expr, c.delay, tc.max)
			}
			worst = max(worst, c.delay)
			if i == 0 {
				// The expression's first time at or after t0, shifted.
				m := spec.Next(t0.Add(-time.Second))
				want := m.Add(c.delay)
				if got := c.next(t0); !got.Equal(want) {
					t.Errorf("%s: next = %s, want %s", tc.expr, got, want)
				}
				// Between the expression's time and the shifted one, the
				// shifted one is still next.
				if got := c.next(m); c.delay > 0 && !got.Equal(want) {
					t.Errorf("%s: next from the unshifted time = %s, want %s", tc.expr, got, want)
				}
			}
		}
		if worst < tc.max*9/10 {
			t.Errorf("%s: delays reach only %s of %s", tc.expr, worst, tc.max)
		}
	}
}

func TestCronScheduleRejects(t *testing.T) {
	for _, expr := range []string{"* * *", "61 * * * *", "0 0 30 2 *"} {
		if _, err := parseCron(expr, t0); err == nil {
			t.Errorf("%q accepted", expr)
		}
	}
}

func TestPlanAt(t *testing.T) {
	p := &plan{sched: everySchedule{10 * time.Second}, last: t0.Add(-10 * time.Second)}
	for _, tc := range []struct {
		now, want time.Duration
	}{
		{0, 0},                                 // on time
		{3 * time.Second, 3 * time.Second},     // nothing new due (clock stepped back): now
		{10*time.Second + 5, 10 * time.Second}, // 5 ns late
		{45 * time.Second, 40 * time.Second},   // after skipped starts
	} {
		if got := p.at(t0.Add(tc.now)); !got.Equal(t0.Add(tc.want)) {
			t.Errorf("at(+%s) = +%s, want +%s", tc.now, got.Sub(t0), tc.want)
		}
	}
	spec, err := parseCron("*/5 * * * *", t0)
	if err != nil {
		t.Fatal(err)
	}
	c := newCronSchedule("x", spec, minGap(spec))
	cp := &plan{sched: c, last: t0}
	want := t0.Add(10*time.Minute + c.delay)
	if got := cp.at(want.Add(time.Second)); !got.Equal(want) {
		t.Errorf("cron at = %s, want %s", got, want)
	}
	if got := cp.at(want.Add(2 * time.Second)); !got.Equal(want.Add(2 * time.Second)) {
		t.Errorf("no new start due: got %s, want now", got)
	}
}
