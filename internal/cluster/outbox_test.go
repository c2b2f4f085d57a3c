package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/delivery"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/webhook"
)

// Two nodes (two stores on one database, each with its own sender)
// deliver one outbox at once to one receiver: every page arrives once
// (duplicates 0, lost 0), and each incident's events in order, although
// the receiver refuses some first attempts (503: a retry gives the claim
// back, and either node may send it then).
func TestOutboxDeliveredOnceByTwoNodes(t *testing.T) {
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "outbox")
	const incidents, perIncident = 40, 5

	var mu sync.Mutex
	got := map[string]int{}      // event id → deliveries
	order := map[string][]int{}  // incident → event numbers as received
	refused := map[string]bool{} // event ids refused once
	done := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var payload webhook.Payload
		if err := json.Unmarshal(body, &payload); err != nil {
			t.Errorf("payload: %v", err)
		}
		p := payload.Event
		mu.Lock()
		defer mu.Unlock()
		var inc, n int
		_, _ = fmt.Sscanf(p.ID, "i%d-e%d", &inc, &n)
		if n%3 == 1 && !refused[p.ID] {
			refused[p.ID] = true
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got[p.ID]++
		order[p.IncidentKey] = append(order[p.IncidentKey], n)
		if len(got) == incidents*perIncident {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}))
	defer recv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stores []*postgres.Store
	for range 2 {
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	now := time.Now()
	for i := range incidents {
		var items []store.OutboxItem
		for n := range perIncident {
			ev := notify.Event{ID: fmt.Sprintf("i%d-e%d", i, n), IncidentKey: fmt.Sprintf("inc-%d", i), Type: notify.Updated, Severity: notify.SeverityCritical,
				Flow: fmt.Sprintf("f%d", i), Time: now}
			b, _ := json.Marshal(ev)
			items = append(items, store.OutboxItem{Notifier: "hook", IncidentKey: ev.IncidentKey, EventID: ev.ID, Event: b, Created: now, NextAttempt: now})
		}
		if err := stores[i%2].CommitIncident(ctx, fmt.Sprintf("f%d", i), json.RawMessage(`{}`), items); err != nil {
			t.Fatal(err)
		}
	}
	cfg := webhook.Config{URL: conf.NewTemplate(recv.URL), AllowHTTP: true}
	var wg sync.WaitGroup
	for _, s := range stores {
		n, err := cfg.New(notify.Deps{HTTP: recv.Client(), Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		sender := &delivery.Sender{Outbox: s, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
		sender.SetNotifiers(map[string]notify.Notifier{"hook": n})
		wg.Go(func() { sender.Run(ctx) })
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Error("not every page delivered within 60s")
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	dups, lost := 0, 0
	for i := range incidents {
		for n := range perIncident {
			switch c := got[fmt.Sprintf("i%d-e%d", i, n)]; {
			case c == 0:
				lost++
			case c > 1:
				dups += c - 1
			}
		}
		if o := order[fmt.Sprintf("inc-%d", i)]; fmt.Sprint(o) != "[0 1 2 3 4]" {
			t.Errorf("incident %d received in the order %v", i, o)
		}
	}
	t.Logf("%d pages, %d refused once: duplicates %d, lost %d", incidents*perIncident, len(refused), dups, lost)
	if dups != 0 || lost != 0 {
		t.Errorf("duplicates %d, lost %d; want 0 and 0", dups, lost)
	}
}

// A receiver that hangs on every page, more pages than workers, two
// nodes: a node claims only what its free workers start, so no claim
// expires while its item waits in the node's own queue, and no page is
// sent by both nodes (before, a node claimed 64 at once and the other
// node took the ones whose claims expired in its queue).
func TestOutboxHangingReceiverTwoNodes(t *testing.T) {
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "hanging")
	const pages, workers = 40, 2
	const hang, claim = 500 * time.Millisecond, 4 * time.Second // pages/workers*hang is well over claim

	var mu sync.Mutex
	got := map[string]int{}
	done := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var payload webhook.Payload
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &payload); err != nil {
			t.Errorf("payload: %v", err)
		}
		select { // the receiver is slow: it answers each page after hang
		case <-time.After(hang):
		case <-r.Context().Done():
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got[payload.Event.ID]++
		if len(got) == pages {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}))
	defer recv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stores []*postgres.Store
	for range 2 {
		s, err := postgres.Open(ctx, dsn, postgres.Options{OutboxClaim: claim})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	now := time.Now()
	var items []store.OutboxItem
	for i := range pages {
		ev := notify.Event{ID: fmt.Sprintf("p%d", i), IncidentKey: fmt.Sprintf("inc-%d", i), Type: notify.Opened, Severity: notify.SeverityCritical,
			Flow: "f", Time: now}
		b, _ := json.Marshal(ev)
		items = append(items, store.OutboxItem{Notifier: "hook", IncidentKey: ev.IncidentKey, EventID: ev.ID, Event: b, Created: now, NextAttempt: now})
	}
	if err := stores[0].CommitIncident(ctx, "f", json.RawMessage(`{}`), items); err != nil {
		t.Fatal(err)
	}
	cfg := webhook.Config{URL: conf.NewTemplate(recv.URL), AllowHTTP: true}
	var wg sync.WaitGroup
	for _, s := range stores {
		n, err := cfg.New(notify.Deps{HTTP: recv.Client(), Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		sender := &delivery.Sender{Outbox: s, Workers: workers, AttemptTimeout: time.Minute}
		sender.SetNotifiers(map[string]notify.Notifier{"hook": n})
		wg.Go(func() { sender.Run(ctx) })
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Error("not every page delivered within 120s")
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, c := range got {
		dups += c - 1
	}
	t.Logf("%d pages, %d workers per node, receiver answering after %v, claims of %v: received %d, duplicates %d", pages, workers, hang, claim, len(got), dups)
	if dups != 0 || len(got) != pages {
		t.Errorf("received %d of %d pages, duplicates %d; want all, duplicates 0", len(got), pages, dups)
	}
}
