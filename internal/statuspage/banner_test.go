package statuspage

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/buffered"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// refusingStore is a real SQLite store that refuses to record runs on
// demand, as a full disk refuses them (the binary's fault tests use a real
// immutable file; this seam lets the pages be checked without root).
type refusingStore struct {
	*sqlite.Store
	refuse atomic.Bool
}

func (r *refusingStore) RecordRun(ctx context.Context, run store.Run) (store.FlowState, error) {
	if r.refuse.Load() {
		return store.FlowState{}, errDiskFull
	}
	return r.Store.RecordRun(ctx, run)
}

var errDiskFull = &diskFull{}

type diskFull struct{}

func (*diskFull) Error() string { return "database or disk is full (13)" }

// TestStoreUnwritableBanner: while the state store refuses writes, every
// page (overview, a flow, incidents, a 404) shows the banner with the
// time the refusals began, and /api/v1/flows has state_store.writable
// false with that time and what memory holds; once the store takes writes
// again, the banner is gone and writable is true.
func TestStoreUnwritableBanner(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	backend := &refusingStore{Store: db}
	since := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	now := since
	st := buffered.New(context.Background(), backend, buffered.Options{Now: func() time.Time { return now }})
	t.Cleanup(func() { st.Close() })
	h := New(st, Options{Flows: func() []FlowInfo { return []FlowInfo{{Name: "login", Schedule: "every 1m"}} }})
	record := func() {
		if _, err := st.RecordRun(context.Background(), store.Run{Flow: "login", Start: now, OK: true, DurationMS: 3}); err != nil {
			t.Fatal(err)
		}
	}
	pages := []string{"/", "/flows/login", "/incidents", "/no-such-page"}
	const banner = `State store unwritable since <time datetime="2026-12-06T09:30:00Z">2026-12-06 09:30:00 UTC</time>:</strong> results and pages are held in memory; see <a href="/healthz">/healthz</a>`

	record()
	for _, p := range pages {
		if _, body := get(t, h, p); !strings.Contains(body, `id="store-banner" class="banner" role="alert" hidden>`) || strings.Contains(body, "State store unwritable") {
			t.Errorf("GET %s with a writable store: the banner is not hidden and empty", p)
		}
	}
	if _, body := get(t, h, "/api/v1/flows"); !decode[FlowsJSON](t, body).StateStore.Writable {
		t.Errorf("/api/v1/flows with a writable store: %s", body)
	}

	backend.refuse.Store(true)
	record()
	now = since.Add(time.Minute)
	record()
	for _, p := range pages {
		if _, body := get(t, h, p); !strings.Contains(body, banner) || strings.Contains(body, `role="alert" hidden`) {
			t.Errorf("GET %s while the store refuses writes: no banner", p)
		}
	}
	resp, body := get(t, h, "/api/v1/flows")
	got := decode[FlowsJSON](t, body).StateStore
	if resp.StatusCode != http.StatusOK || got.Writable || got.Since == nil || !got.Since.Equal(since) || got.RunsHeldInMemory != 2 || !strings.Contains(got.Error, "disk is full") {
		t.Errorf("/api/v1/flows state_store while the store refuses writes: %+v\n%s", got, body)
	}
	if !strings.Contains(body, `"state_store": {`) || !strings.Contains(body, `"unwritable_since": "2026-12-06T09:30:00Z"`) {
		t.Errorf("/api/v1/flows lacks the top-level state_store field:\n%s", body)
	}

	backend.refuse.Store(false)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, h, "/"); strings.Contains(body, "State store unwritable") {
		t.Errorf("the banner stays once the store takes writes again")
	}
	if _, body := get(t, h, "/api/v1/flows"); !decode[FlowsJSON](t, body).StateStore.Writable {
		t.Errorf("/api/v1/flows once the store takes writes again: %s", body)
	}
}
