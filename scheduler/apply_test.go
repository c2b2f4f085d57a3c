package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

func TestApplyDiffsByNameAndDigest(t *testing.T) {
	r := newRig(t, 0)
	if a, rm, k := r.apply(every("a", time.Minute), every("b", time.Minute), every("c", time.Minute)); a != 3 || rm != 0 || k != 0 {
		t.Fatalf("first Apply: added %d removed %d kept %d", a, rm, k)
	}
	r.s.Start()
	r.advanceTo(t0.Add(time.Minute)) // each runs once
	for range 3 {
		recv(t, r.results)
	}
	for _, name := range []string{"a", "b", "c"} {
		r.idle(name)
	}
	nextA, jobA := r.next("a"), r.s.lookup("a")

	b2 := every("b", 2*time.Minute) // changed definition: new digest
	added, removed, kept := r.apply(every("a", time.Minute), b2, every("d", time.Minute))
	if added != 2 || removed != 2 || kept != 1 {
		t.Errorf("reload: added %d removed %d kept %d, want 2 2 1", added, removed, kept)
	}
	if got := r.next("a"); !got.Equal(nextA) || r.s.lookup("a") != jobA {
		t.Errorf("unchanged flow: next run %s (job %p), want %s (job %p)", got, r.s.lookup("a"), nextA, jobA)
	}
	if _, ok := r.s.NextRun("c"); ok {
		t.Error("removed flow c still scheduled")
	}
	now := r.clock.Now()
	if got, want := r.next("b"), firstRun("b", 2*time.Minute, now); !got.Equal(want) {
		t.Errorf("changed flow b: next run %s, want %s", got, want)
	}
	if got, want := r.next("d"), firstRun("d", time.Minute, now); !got.Equal(want) {
		t.Errorf("new flow d: next run %s, want %s", got, want)
	}
	st := r.s.Stats()
	if _, ok := st.Flows["c"]; ok || len(st.Flows) != 3 || st.Flows["b"].Runs != 1 || st.Flows["d"].Runs != 0 {
		t.Errorf("stats after reload: %+v", st.Flows)
	}

	// The changed flow runs its new definition at its new time.
	nextB := r.next("b")
	for {
		r.advanceTo(earliest(r.next("a"), r.next("d"), nextB))
		ev := recv(t, r.results)
		r.idle(ev.Flow.Name)
		if ev.Flow.Name == "b" {
			if ev.Flow != b2 || !ev.Planned.Equal(nextB) {
				t.Errorf("b ran %p at %s, want the new definition at %s", ev.Flow, ev.Planned, nextB)
			}
			break
		}
	}
}

func TestApplyRejectsABadSetWhole(t *testing.T) {
	r := newRig(t, 0)
	r.apply(every("a", time.Minute))
	r.s.Start()
	next := r.next("a")
	for _, tc := range []struct {
		name string
		fs   []*flows.Flow
	}{
		{"duplicate", []*flows.Flow{every("b", time.Minute), every("b", time.Hour)}},
		{"no schedule", []*flows.Flow{every("b", time.Minute), {Name: "x", Digest: "x"}}},
		{"bad cron", []*flows.Flow{every("b", time.Minute), cronFlow("x", "61 * * * *")}},
		{"both", []*flows.Flow{{Name: "x", Every: conf.Dur(time.Minute), Cron: "* * * * *"}}},
		{"no name", []*flows.Flow{every("", time.Minute)}},
		{"nil", []*flows.Flow{nil}},
	} {
		if _, _, _, err := r.s.Apply(tc.fs); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if st := r.s.Stats(); len(st.Flows) != 1 {
		t.Errorf("a rejected set changed the flows: %+v", st.Flows)
	}
	if got := r.next("a"); !got.Equal(next) {
		t.Errorf("a rejected set moved a's next run from %s to %s", next, got)
	}
}

func TestApplyWithoutDigestReplaces(t *testing.T) {
	r := newRig(t, 0)
	f := &flows.Flow{Name: "a", Every: conf.Dur(time.Minute)}
	r.apply(f)
	if added, removed, kept := r.apply(f); added != 1 || removed != 1 || kept != 0 {
		t.Errorf("added %d removed %d kept %d, want 1 1 0", added, removed, kept)
	}
}

func TestRemovedFlowFinishesItsRun(t *testing.T) {
	r := newRig(t, 0)
	r.gate = make(chan struct{})
	r.apply(every("a", time.Minute))
	r.s.Start()
	r.advanceTo(r.next("a"))
	recv(t, r.starts)
	if _, removed, _ := r.apply(); removed != 1 {
		t.Fatalf("removed %d", removed)
	}
	close(r.gate)
	if ev := recv(t, r.results); ev.Flow.Name != "a" || !ev.Result.OK {
		t.Errorf("result %+v", ev)
	}
	if st := r.s.Stats(); len(st.Flows) != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestApplyWhileRunning reloads repeatedly on the real clock while 50
// flows run every 10 ms; run it with -race.
func TestApplyWhileRunning(t *testing.T) {
	s, err := New(noop, Options{MaxConcurrent: 8})
	if err != nil {
		t.Fatal(err)
	}
	sets := [2][]*flows.Flow{}
	for v := range sets {
		for i := range 50 {
			f := every(fmt.Sprintf("flow-%d", i), 10*time.Millisecond)
			if i%2 == 0 {
				f.Digest = fmt.Sprintf("v%d", v)
			}
			sets[v] = append(sets[v], f)
		}
	}
	s.Start()
	for i := range 20 {
		if _, _, _, err := s.Apply(sets[i%2]); err != nil {
			t.Fatal(err)
		}
		_ = s.Stats()
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var runs uint64
	for _, fs := range s.Stats().Flows {
		runs += fs.Runs
	}
	if runs == 0 {
		t.Error("no runs")
	}
}

func earliest(ts ...time.Time) time.Time {
	e := ts[0]
	for _, t := range ts[1:] {
		if t.Before(e) {
			e = t
		}
	}
	return e
}

// TestInterval: the daemon's skip watch waits twice a flow's interval
// before it calls a flow quiet; a cron flow's interval is its shortest gap
// (0 would make a */5 flow flap between warning and all-clear).
func TestInterval(t *testing.T) {
	s, err := New(func(context.Context, *flows.Flow) *flows.Result { return nil }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flow *flows.Flow
		want time.Duration
	}{
		{&flows.Flow{Name: "every", Every: conf.Dur(90 * time.Second)}, 90 * time.Second},
		{&flows.Flow{Name: "cron", Cron: "*/5 * * * *"}, 5 * time.Minute},
		{&flows.Flow{Name: "weekdays", Cron: "0 9 * * 1-5"}, 24 * time.Hour},
		{&flows.Flow{Name: "adhoc"}, 0},
		{&flows.Flow{Name: "bad", Cron: "not cron"}, 0},
	} {
		if got := s.Interval(c.flow); got != c.want {
			t.Errorf("%s: Interval = %s, want %s", c.flow.Name, got, c.want)
		}
	}
}
