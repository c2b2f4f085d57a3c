package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

func testSecrets(t *testing.T, open func() Backend) {
	s := open()
	ctx := context.Background()
	if _, found, err := s.LoadSecret(ctx, "missing"); found || err != nil {
		t.Errorf("LoadSecret(missing) = %v, %v", found, err)
	}
	const canary = "rt-canary-3f1d"
	for _, v := range []string{"first-" + canary, canary, ""} {
		if err := s.SaveSecret(ctx, "flow/okta/refresh_token", v); err != nil {
			t.Fatal(err)
		}
		got, found, err := s.LoadSecret(ctx, "flow/okta/refresh_token")
		if err != nil || !found || got != v {
			t.Errorf("LoadSecret = %q, %v, %v; want %q", got, found, err, v)
		}
	}
	if err := s.SaveSecret(ctx, "", canary); err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("SaveSecret with an empty key: %v; want an error without the value", err)
	}
	if err := s.DeleteSecret(ctx, "flow/okta/refresh_token"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecret(ctx, "flow/okta/refresh_token"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	if _, found, _ := s.LoadSecret(ctx, "flow/okta/refresh_token"); found {
		t.Error("deleted secret still found")
	}
}

// Due hands out the oldest undelivered item per notifier and incident,
// so that an incident's events reach each receiver in order.
func testOutbox(t *testing.T, open func() Backend) {
	s := open()
	ctx := context.Background()
	item := func(notifier, key, id string) store.OutboxItem {
		return store.OutboxItem{Notifier: notifier, IncidentKey: key, EventID: id, Event: json.RawMessage(`{"id":"` + id + `"}`),
			Created: t0, NextAttempt: t0}
	}
	if err := s.CommitIncident(ctx, "f", json.RawMessage(`{"open":true}`), []store.OutboxItem{
		item("pager", "f#1", "open"), item("pager", "f#1", "update"), item("chat", "f#1", "open")}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitIncident(ctx, "g", json.RawMessage(`{"open":false}`), []store.OutboxItem{item("pager", "g#1", "open")}); err != nil {
		t.Fatal(err)
	}
	states, err := s.IncidentStates(ctx)
	if err != nil || string(states["f"]) != `{"open":true}` || string(states["g"]) != `{"open":false}` {
		t.Errorf("IncidentStates = %s, %v", states, err)
	}
	if err := s.CommitIncident(ctx, "g", json.RawMessage(`{"open":true}`), nil); err != nil {
		t.Fatal(err)
	}
	due := func(now time.Time) []string {
		t.Helper()
		items, err := s.Due(ctx, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, it.Notifier+"/"+it.IncidentKey+"/"+it.EventID)
		}
		return out
	}
	items, _ := s.Due(ctx, t0, 10)
	if got := due(t0); strings.Join(got, " ") != "pager/f#1/open chat/f#1/open pager/g#1/open" {
		t.Fatalf("Due = %v", got)
	}
	first := items[0]
	if first.ID == 0 || string(first.Event) != `{"id":"open"}` || !first.Created.Equal(t0) || first.Attempts != 0 {
		t.Errorf("item %+v", first)
	}
	if got := due(t0.Add(-time.Second)); len(got) != 0 {
		t.Errorf("Due before the next attempt: %v", got)
	}
	if err := s.Retry(ctx, first.ID, 1, t0.Add(time.Minute), "503 from the receiver"); err != nil {
		t.Fatal(err)
	}
	if got := due(t0); strings.Join(got, " ") != "chat/f#1/open pager/g#1/open" {
		t.Errorf("Due after a retry = %v: the incident's later event must wait", got)
	}
	if err := s.Delivered(ctx, first.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Dead(ctx, items[1].ID, t0.Add(time.Minute), "400 from the receiver"); err != nil {
		t.Fatal(err)
	}
	if got := due(t0.Add(time.Minute)); strings.Join(got, " ") != "pager/f#1/update pager/g#1/open" {
		t.Errorf("Due after delivery = %v", got)
	}
	backlog, err := s.Backlog(ctx)
	if err != nil || backlog["pager"].Pending != 2 || backlog["chat"].Dead != 1 || backlog["chat"].Pending != 0 || !backlog["pager"].Oldest.Equal(t0) {
		t.Errorf("Backlog = %+v, %v", backlog, err)
	}
	if n, err := s.PruneOutbox(ctx, t0.Add(2*time.Minute)); err != nil || n != 2 {
		t.Errorf("PruneOutbox = %d, %v; want the delivered and the dead item", n, err)
	}
}

// What was written is there after a restart, and run IDs are not given
// again after a prune.
func testReopen(t *testing.T, open func() Backend) {
	ctx := context.Background()
	s := open()
	for i := range 5 {
		record(t, s, sampleRun("f", i))
	}
	before := runs(t, s, "f")
	if err := s.SaveSecret(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitIncident(ctx, "f", json.RawMessage(`{}`), []store.OutboxItem{{Notifier: "n", IncidentKey: "f#1",
		EventID: "e", Event: json.RawMessage(`{}`), Created: t0, NextAttempt: t0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, at(10), store.Retention{MaxRunsPerFlow: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRun(ctx, sampleRun("f", 9)); err == nil {
		t.Error("RecordRun after Close succeeded")
	}
	s = open()
	st, found, err := s.FlowState(ctx, "f")
	if err != nil || !found || st.Runs != 5 || st.LastRunID != before[0].ID {
		t.Errorf("state after reopen: %+v, %v, %v", st, found, err)
	}
	if v, found, err := s.LoadSecret(ctx, "k"); err != nil || !found || v != "v" {
		t.Errorf("secret after reopen: %q, %v, %v", v, found, err)
	}
	if due, err := s.Due(ctx, t0, 10); err != nil || len(due) != 1 {
		t.Errorf("outbox after reopen: %v, %v", due, err)
	}
	record(t, s, sampleRun("f", 20))
	after := runs(t, s, "f")
	if len(after) != 2 || after[0].ID <= before[0].ID {
		t.Errorf("a run recorded after a prune and a reopen got ID %d; the highest before was %d", after[0].ID, before[0].ID)
	}
	totals, err := s.RollupTotals(ctx, store.TierHour, t0)
	if err != nil || totals["f"].Runs != 6 {
		t.Errorf("roll-ups after reopen count %d runs (%v), want 6", totals["f"].Runs, err)
	}
}
