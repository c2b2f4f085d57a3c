package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
	"github.com/authwatch/authwatch/notify"
)

// receiver is a notifier (a seam we own) that fails while down and records
// what it accepted.
type receiver struct {
	mu       sync.Mutex
	down     bool
	refuse   string // event id answered as a permanent refusal
	accepted []string
}

func (r *receiver) Notify(_ context.Context, ev notify.Event) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.down:
		return true, &notify.RetryAfterError{After: 10 * time.Millisecond, Err: errors.New("503 Service Unavailable")}
	case ev.ID == r.refuse:
		return false, errors.New("400 Bad Request")
	}
	r.accepted = append(r.accepted, ev.ID)
	return false, nil
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...)
}

func (r *receiver) setDown(v bool) {
	r.mu.Lock()
	r.down = v
	r.mu.Unlock()
}

func enqueue(t *testing.T, o store.Outbox, key string, ids ...string) {
	t.Helper()
	var items []store.OutboxItem
	for _, id := range ids {
		ev, _ := json.Marshal(notify.Event{ID: id, IncidentKey: key, Flow: "f"})
		items = append(items, store.OutboxItem{Notifier: "pd", IncidentKey: key, EventID: id, Event: ev, Created: time.Now(), NextAttempt: time.Now()})
	}
	if err := o.CommitIncident(t.Context(), "f", json.RawMessage(`{}`), items); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func start(t *testing.T, db string, r *receiver) (context.CancelFunc, *sqlite.Store, *Sender) {
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sender{Outbox: st, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	s.SetNotifiers(map[string]notify.Notifier{"pd": r})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	return func() { cancel(); <-done; st.Close() }, st, s
}

// TestOutageAndRestartLoseNothing: the receiver is down, the daemon
// restarts in between, the receiver comes back: every event arrives once,
// in order.
func TestOutageAndRestartLoseNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "a.db")
	r := &receiver{down: true}
	stop, st, s := start(t, db, r)
	enqueue(t, st, "k1", "open", "update", "resolve")
	s.Kick()
	waitFor(t, "a failed attempt", func() bool {
		b, _ := st.Backlog(t.Context())
		return b["pd"].Pending == 3
	})
	time.Sleep(50 * time.Millisecond) // several retries while down
	stop()

	stop, st, _ = start(t, db, r)
	defer stop()
	r.setDown(false)
	waitFor(t, "all three delivered", func() bool { return len(r.got()) == 3 })
	if g := r.got(); g[0] != "open" || g[1] != "update" || g[2] != "resolve" {
		t.Fatalf("order = %v", g)
	}
	// Marking delivered follows the receiver's answer: wait for it.
	waitFor(t, "an empty backlog", func() bool {
		b, _ := st.Backlog(t.Context())
		return b["pd"].Pending == 0
	})
}

// TestRefusalDoesNotBlockTheIncident: a permanent refusal is given up and
// the incident's next event goes.
func TestRefusalDoesNotBlockTheIncident(t *testing.T) {
	r := &receiver{refuse: "bad"}
	stop, st, s := start(t, filepath.Join(t.TempDir(), "a.db"), r)
	defer stop()
	enqueue(t, st, "k1", "bad", "good")
	s.Kick()
	waitFor(t, "the good event", func() bool { return len(r.got()) == 1 })
	waitFor(t, "one dead letter and nothing pending", func() bool {
		b, _ := st.Backlog(t.Context())
		return b["pd"].Dead == 1 && b["pd"].Pending == 0
	})
	if r.got()[0] != "good" {
		t.Fatalf("accepted %v", r.got())
	}
}

func TestBackoffCapped(t *testing.T) {
	s := &Sender{BaseBackoff: time.Second, MaxBackoff: time.Minute}
	for attempts := 1; attempts < 70; attempts++ {
		if d := s.backoff(attempts); d <= 0 || d > time.Minute {
			t.Fatalf("backoff(%d) = %s", attempts, d)
		}
	}
}
