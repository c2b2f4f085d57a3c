package buffered

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// picky refuses for good (store.ErrRefused) every run whose summary is
// poison, as PostgreSQL refuses a byte its text cannot hold, and every
// secret (no secret key).
type picky struct{ *breakable }

const poison = "poison"

var errPoison = fmt.Errorf("invalid byte sequence for encoding \"UTF8\" (SQLSTATE 22021): %w", store.ErrRefused)

func (p *picky) RecordRun(ctx context.Context, r store.Run) (store.FlowState, error) {
	if r.Summary == poison {
		return store.FlowState{}, errPoison
	}
	return p.breakable.RecordRun(ctx, r)
}

func (p *picky) RestoreRuns(ctx context.Context, runs []store.Run, states []store.FlowState) error {
	for _, r := range runs {
		if r.Summary == poison {
			return errPoison
		}
	}
	return p.breakable.RestoreRuns(ctx, runs, states)
}

func (p *picky) SaveSecret(context.Context, string, string) error {
	return fmt.Errorf("store: save secret: %w", store.ErrRefused)
}

// A write the backend refuses for good is the caller's error when the
// backend is healthy, and is dropped, with one log line, when Flush meets
// it: it never holds back what was kept after it, nor keeps the store
// failing.
func TestRefusedWritesDoNotBlock(t *testing.T) {
	ctx := context.Background()
	b := &picky{&breakable{Store: openSQLite(t)}}
	var logs strings.Builder
	s := New(ctx, b, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	bad := run("a", 0, false)
	bad.Summary = poison
	if _, err := s.RecordRun(ctx, bad); err == nil {
		t.Error("a refused run recorded with no error")
	}
	if err := s.SaveSecret(ctx, "rt", "v"); err == nil {
		t.Error("a refused secret saved with no error")
	}
	if h := s.Health(); !h.OK {
		t.Fatalf("a refusal made the store fail: %+v", h)
	}

	b.broken.Store(true)
	for i := 1; i <= 1200; i++ { // over two flush chunks; the poison in the second
		r := run("a", i, outcome(i))
		if i == 700 {
			r.OK, r.Summary = false, poison
		}
		if _, err := s.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.SaveSecret(ctx, "rt", "v2") // kept in memory while failing
	b.broken.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush with a refused run and secret held: %v", err)
	}
	if h := s.Health(); !h.OK || h.PendingRuns != 0 {
		t.Fatalf("health after flush: %+v", h)
	}
	got, _ := b.Store.Runs(ctx, "a", 0)
	if len(got) != 1199 {
		t.Errorf("%d runs stored, want 1199 (all but the refused one)", len(got))
	}
	if n := strings.Count(logs.String(), "refuses"); n != 2 {
		t.Errorf("%d log lines about refusals, want 2 (the run, the secret):\n%s", n, logs.String())
	}
}

// On a real PostgreSQL: a run quoting Latin-1 and NUL bytes is stored, and
// a rotated refresh token without a secret key is the caller's error, not
// an outage of the store.
func TestPostgresTextAndSecretsKeepTheStoreHealthy(t *testing.T) {
	ctx := context.Background()
	pg := testenv.Postgres(t)
	db, err := postgres.Open(ctx, pg.CreateDatabase(t, "buffered"), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(ctx, db, Options{})
	t.Cleanup(func() { _ = s.Close() })
	r := run("api", 1, false)
	r.Summary = "the API says: \"cl\xe9 inconnue\x00\""
	if _, err := s.RecordRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSecret(ctx, "rt", "v"); !errors.Is(err, postgres.ErrNoSecretKey) {
		t.Errorf("SaveSecret without a key: %v, want ErrNoSecretKey", err)
	}
	if _, err := s.RecordRun(ctx, run("api", 2, true)); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); !h.OK || h.PendingRuns != 0 {
		t.Fatalf("health: %+v", h)
	}
	if got, _ := db.Runs(ctx, "api", 0); len(got) != 2 {
		t.Errorf("%d runs in PostgreSQL, want 2", len(got))
	}
}
