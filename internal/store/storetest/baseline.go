package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// A baseline is kept as given and replaced whole; accepts are kept in
// order, each with who and when, and read from after an ID; both survive a
// restart.
func testBaselines(t *testing.T, open func() Backend) {
	s := open()
	ctx := context.Background()
	if _, found, err := s.LoadBaseline(ctx, "okta"); found || err != nil {
		t.Fatalf("LoadBaseline(no baseline) = %v, %v", found, err)
	}
	at := time.Date(2026, 12, 7, 14, 2, 0, 123456789, time.UTC)
	for i, data := range []string{`{"runs":1}`, `{"runs":20,"drifts":[{"key":"token.access_token.lifetime"}]}`} {
		if err := s.SaveBaseline(ctx, store.Baseline{Flow: "okta", Data: json.RawMessage(data), Updated: at.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		got, found, err := s.LoadBaseline(ctx, "okta")
		if err != nil || !found || string(got.Data) != data || !got.Updated.Equal(at.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("LoadBaseline = %+v %s, %v, %v; want %s", got, got.Data, found, err, data)
		}
	}
	if err := s.SaveBaseline(ctx, store.Baseline{Data: json.RawMessage(`{}`), Updated: at}); err == nil {
		t.Error("SaveBaseline without a flow succeeded")
	}
	// Several at once: new ones inserted, an existing one replaced; one
	// without a flow refuses the whole batch.
	batch := []store.Baseline{
		{Flow: "okta", Data: json.RawMessage(`{"runs":21}`), Updated: at.Add(time.Hour)},
		{Flow: "batch-a", Data: json.RawMessage(`{"runs":2}`), Updated: at},
		{Flow: "batch-b", Data: json.RawMessage(`{"runs":3}`), Updated: at},
	}
	if err := s.SaveBaselines(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, want := range batch {
		got, found, err := s.LoadBaseline(ctx, want.Flow)
		if err != nil || !found || string(got.Data) != string(want.Data) || !got.Updated.Equal(want.Updated) {
			t.Errorf("after SaveBaselines, LoadBaseline(%s) = %s, %v, %v; want %s", want.Flow, got.Data, found, err, want.Data)
		}
	}
	if err := s.SaveBaselines(ctx, []store.Baseline{{Flow: "batch-c", Data: json.RawMessage(`{}`), Updated: at}, {Data: json.RawMessage(`{}`)}}); err == nil {
		t.Error("SaveBaselines with a baseline without a flow succeeded")
	}
	if _, found, _ := s.LoadBaseline(ctx, "batch-c"); found {
		t.Error("a refused SaveBaselines saved part of its batch")
	}
	if err := s.SaveBaselines(ctx, nil); err != nil {
		t.Errorf("SaveBaselines(nil) = %v", err)
	}
	if _, err := s.AcceptBaseline(ctx, store.BaselineAccept{Flow: "okta", At: at}); err == nil {
		t.Error("AcceptBaseline without who succeeded")
	}
	var ids []int64
	for i, by := range []string{"alice", "bob", "carol"} {
		flow := "okta"
		if i == 1 {
			flow = "auth0"
		}
		a, err := s.AcceptBaseline(ctx, store.BaselineAccept{Flow: flow, By: by, At: at.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 0 && a.ID <= ids[len(ids)-1] {
			t.Errorf("accept IDs do not grow: %d after %v", a.ID, ids)
		}
		ids = append(ids, a.ID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	got, err := s.BaselineAccepts(ctx, "okta", 0, 0)
	if err != nil || len(got) != 2 || got[0].By != "alice" || got[1].By != "carol" || !got[1].At.Equal(at.Add(2*time.Hour)) || got[0].Flow != "okta" {
		t.Fatalf("BaselineAccepts(okta) = %+v, %v", got, err)
	}
	if got, _ := s.BaselineAccepts(ctx, "okta", ids[0], 0); len(got) != 1 || got[0].ID != ids[2] {
		t.Errorf("BaselineAccepts after the first = %+v", got)
	}
	if got, _ := s.BaselineAccepts(ctx, "okta", 0, 1); len(got) != 1 || got[0].By != "alice" {
		t.Errorf("BaselineAccepts limit 1 = %+v", got)
	}
	if b, found, _ := s.LoadBaseline(ctx, "okta"); !found || len(b.Data) == 0 {
		t.Error("baseline lost over a restart")
	}
	if err := s.DeleteBaseline(ctx, "okta"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.LoadBaseline(ctx, "okta"); found {
		t.Error("deleted baseline still found")
	}
	if got, _ := s.BaselineAccepts(ctx, "okta", 0, 0); len(got) != 2 {
		t.Errorf("deleting the baseline dropped its accepts: %+v", got)
	}
}
