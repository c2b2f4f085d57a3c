package sqlite

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

func TestOutboxOrderPerIncident(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	item := func(notifier, key, id string) store.OutboxItem {
		return store.OutboxItem{Notifier: notifier, IncidentKey: key, EventID: id, Event: json.RawMessage(`{"id":"` + id + `"}`), Created: t0, NextAttempt: t0}
	}
	if err := s.CommitIncident(ctx, "f", json.RawMessage(`{"open":true}`), []store.OutboxItem{
		item("pd", "k1", "open"), item("slack", "k1", "open"), item("pd", "k1", "update"), item("pd", "k2", "open"),
	}); err != nil {
		t.Fatal(err)
	}
	due, err := s.Due(ctx, t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := func(items []store.OutboxItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.Notifier+"/"+it.IncidentKey+"/"+it.EventID)
		}
		return out
	}
	if g := got(due); len(g) != 3 || g[0] != "pd/k1/open" || g[1] != "slack/k1/open" || g[2] != "pd/k2/open" {
		t.Fatalf("due = %v, want the head of each (notifier, incident)", g)
	}
	// A retry later holds back the incident's next event for that notifier.
	if err := s.Retry(ctx, due[0].ID, 1, t0.Add(time.Minute), "503"); err != nil {
		t.Fatal(err)
	}
	due, _ = s.Due(ctx, t0, 10)
	if g := got(due); len(g) != 2 || g[0] != "slack/k1/open" {
		t.Fatalf("after a retry: due = %v", g)
	}
	_ = s.Delivered(ctx, due[0].ID, t0)
	due, _ = s.Due(ctx, t0.Add(2*time.Minute), 10)
	if g := got(due); len(g) != 2 || g[0] != "pd/k1/open" {
		t.Fatalf("after the retry time: due = %v", g)
	}
	_ = s.Dead(ctx, due[0].ID, t0, "400")
	due, _ = s.Due(ctx, t0.Add(2*time.Minute), 10)
	if g := got(due); len(g) != 2 || g[0] != "pd/k1/update" {
		t.Fatalf("after giving up: due = %v", g)
	}
	b, err := s.Backlog(ctx)
	if err != nil || b["pd"].Pending != 2 || b["pd"].Dead != 1 || b["slack"].Pending != 0 {
		t.Fatalf("backlog = %+v, %v", b, err)
	}
	states, err := s.IncidentStates(ctx)
	if err != nil || string(states["f"]) != `{"open":true}` {
		t.Fatalf("states = %v, %v", states, err)
	}
	if n, err := s.PruneOutbox(ctx, t0.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the delivered and the dead item", n, err)
	}
}
