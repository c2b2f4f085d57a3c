package storetest

import (
	"context"
	"testing"

	"github.com/authwatch/authwatch/internal/store"
)

// testLocationRoundTrip: a run's location comes back with the run and in
// the state it leads to; a run without one (a single daemon) has "".
func testLocationRoundTrip(t *testing.T, open func() Backend) {
	ctx := context.Background()
	s := open()
	single := record(t, s, pass("single", 0, 10))
	if single.Location != "" {
		t.Errorf("state of a run without location: Location = %q", single.Location)
	}
	r := fail("located", 0)
	r.Location = "eu-west"
	if st := record(t, s, r); st.Location != "eu-west" || st.Flow != "located" {
		t.Errorf("RecordRun state = %q in %q, want located in eu-west", st.Flow, st.Location)
	}
	got := runs(t, s, "located")
	if len(got) != 1 || got[0].Location != "eu-west" {
		t.Fatalf("Runs = %+v, want one run from eu-west", got)
	}
	states, err := s.FlowStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byFlow := map[string]store.FlowState{}
	for _, st := range states {
		byFlow[st.Flow] = st
	}
	if byFlow["located"].Location != "eu-west" || byFlow["single"].Location != "" {
		t.Errorf("FlowStates locations = %q and %q, want eu-west and \"\"", byFlow["located"].Location, byFlow["single"].Location)
	}
}

// testStatesPerLocation: a store that keeps states per location
// (store.LocationStates) counts each location's streak on its own, and
// returns one state per flow and location.
func testStatesPerLocation(t *testing.T, open func() Backend) {
	ctx := context.Background()
	s := open()
	ls, ok := any(s).(store.LocationStates)
	if !ok {
		t.Skip("one state per flow: the store serves a single daemon")
	}
	at := func(r store.Run, loc string) store.Run { r.Location = loc; return r }
	record(t, s, at(fail("f", 0), "eu-west"))
	record(t, s, at(pass("f", 1, 10), "us-east"))
	eu := record(t, s, at(fail("f", 60), "eu-west"))
	us := record(t, s, at(pass("f", 61, 10), "us-east"))
	if eu.OK || eu.ConsecutiveFailures != 2 || eu.Runs != 2 || eu.Location != "eu-west" {
		t.Errorf("eu-west state = %+v, want 2 failures of 2 runs", eu)
	}
	if !us.OK || us.ConsecutivePasses != 2 || us.Runs != 2 || us.Location != "us-east" {
		t.Errorf("us-east state = %+v, want 2 passes of 2 runs", us)
	}
	got, err := ls.LocationStates(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Location != "eu-west" || got[1].Location != "us-east" || got[0].OK || !got[1].OK {
		t.Fatalf("LocationStates = %+v, want eu-west failing then us-east passing", got)
	}
	all, err := s.FlowStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Location != "eu-west" || all[1].Location != "us-east" {
		t.Errorf("FlowStates = %+v, want f in eu-west then in us-east", all)
	}
	if err := s.ForgetFlows(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ls.LocationStates(ctx, "f"); err != nil || len(got) != 0 {
		t.Errorf("after ForgetFlows: LocationStates = %+v, %v; want none", got, err)
	}
}
